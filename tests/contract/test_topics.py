"""The v1 topic tree: builders and the parser agree, and nothing outside the tree parses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import topics
from contract.topics import Topic, TopicError, TopicKind, parse_topic

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}\Z")
event_types = st.from_regex(r"\A[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){1,3}\Z")
plain_kinds = [k for k in TopicKind if k is not TopicKind.EVENT]

BUILDERS = {
    TopicKind.STATUS: topics.status_topic,
    TopicKind.CMD: topics.cmd_topic,
    TopicKind.ACK: topics.ack_topic,
    TopicKind.CONFIG: topics.config_topic,
    TopicKind.RECEIPT: topics.receipt_topic,
}


def test_every_plain_kind_has_a_builder():
    assert set(BUILDERS) == set(plain_kinds)


@given(centre=ids, device=ids, event_type=event_types)
def test_event_topic_round_trip(centre: str, device: str, event_type: str):
    text = topics.event_topic(centre, device, event_type)
    parsed = parse_topic(text)
    assert parsed == Topic(centre, device, TopicKind.EVENT, event_type)
    assert str(parsed) == text


@given(centre=ids, device=ids, kind=st.sampled_from(plain_kinds))
def test_plain_topic_round_trip(centre: str, device: str, kind: TopicKind):
    text = BUILDERS[kind](centre, device)
    assert text == f"prtc/v1/{centre}/{device}/{kind.value}"
    parsed = parse_topic(text)
    assert parsed == Topic(centre, device, kind)
    assert str(parsed) == text


@given(centre=ids, device=ids)
def test_device_prefix_is_the_start_of_every_topic(centre: str, device: str):
    prefix = topics.device_prefix(centre, device)
    for build in BUILDERS.values():
        assert build(centre, device).startswith(prefix + "/")
    assert topics.event_topic(centre, device, "a.b").startswith(prefix + "/")


@given(
    centre=ids,
    device=ids,
    wildcard=st.sampled_from(["+", "#"]),
    position=st.integers(min_value=2, max_value=5),
)
def test_wildcards_are_rejected(centre: str, device: str, wildcard: str, position: int):
    parts = ["prtc", "v1", centre, device, "event", "a.b"]
    parts[position] = wildcard
    with pytest.raises(TopicError):
        parse_topic("/".join(parts))


@given(centre=ids, device=ids, kind=st.sampled_from(plain_kinds), extra=st.text(max_size=10))
def test_extra_levels_are_rejected(centre: str, device: str, kind: TopicKind, extra: str):
    with pytest.raises(TopicError):
        parse_topic(f"prtc/v1/{centre}/{device}/{kind.value}/{extra}")


@given(centre=ids, device=ids, extra=st.text(max_size=10))
def test_event_topic_needs_exactly_one_type_level(centre: str, device: str, extra: str):
    with pytest.raises(TopicError):
        parse_topic(f"prtc/v1/{centre}/{device}/event")
    with pytest.raises(TopicError):
        parse_topic(f"prtc/v1/{centre}/{device}/event/a.b/{extra}")


bad_ids = st.one_of(
    st.just(""),
    st.text(min_size=65, max_size=80, alphabet="abc"),
    st.builds(lambda s: "_" + s, ids),  # must start with a letter or digit
    st.builds(lambda s: "-" + s, ids),
    st.builds(lambda a, c: a + c, ids, st.sampled_from(list("/+# $%é:"))),
)


@given(bad=bad_ids, good=ids)
def test_bad_ids_are_rejected(bad: str, good: str):
    with pytest.raises(TopicError):
        topics.status_topic(bad, good)
    with pytest.raises(TopicError):
        topics.status_topic(good, bad)
    if "/" not in bad:  # a slash changes the level count, also rejected but differently
        with pytest.raises(TopicError):
            parse_topic(f"prtc/v1/{bad}/{good}/status")
        with pytest.raises(TopicError):
            parse_topic(f"prtc/v1/{good}/{bad}/status")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "prtc",
        "prtc/v1",
        "prtc/v1/c/d",
        "prtc/v2/c/d/status",
        "other/v1/c/d/status",
        "/prtc/v1/c/d/status",
        "prtc/v1/c/d/unknown",
        "prtc/v1/c/d/Status",
        "prtc/v1/c/d/event/Bad.Type",
        "prtc/v1/c/d/event/notdotted",
        "prtc/v1/c/d/status/",
        "$share/collectors/prtc/v1/c/d/status",
    ],
)
def test_non_tree_topics_are_rejected(text: str):
    with pytest.raises(TopicError):
        parse_topic(text)


@pytest.mark.parametrize(
    "text", ["prtc/v1/c/dev\n/status", "prtc/v1/c\n/d/status", "prtc/v1/c/d/event/a.b\n"]
)
def test_trailing_newline_in_a_level_is_rejected(text: str):
    with pytest.raises(TopicError):
        parse_topic(text)


def test_invalid_event_type_is_not_built():
    with pytest.raises(TopicError):
        topics.event_topic("c", "d", "a/b")
    with pytest.raises(TopicError):
        topics.event_topic("c", "d", "#")


def test_subscriptions_and_shared_form():
    assert topics.SUB_EVENTS == "prtc/v1/+/+/event/#"
    assert topics.SUB_ACKS == "prtc/v1/+/+/ack"
    assert topics.SUB_STATUS == "prtc/v1/+/+/status"
    assert topics.shared(topics.SUB_EVENTS) == "$share/collectors/prtc/v1/+/+/event/#"
    assert topics.shared(topics.SUB_ACKS, "g2") == "$share/g2/prtc/v1/+/+/ack"
