"""The pure entry decision: flags, reasons and outcomes."""

from __future__ import annotations

from datetime import date, datetime

from hypothesis import given
from hypothesis import strategies as st

from contract.idnumber import check_character
from contract.payloads.entrance import (
    EntranceRules,
    Person,
    WatchedPerson,
    WatchedRegion,
    person_hash,
)
from device_plugins.entrance.rules import evaluate, match_region

NOW = datetime(2026, 6, 1, 9, 30).astimezone()
KEY = "00112233445566778899aabbccddeeff"


def number(code: str = "420102", birth: str = "19900101", seq: str = "123") -> str:
    body = code + birth + seq
    return body + check_character(body)


def person(id_number: str | None = None, **extra: object) -> Person:
    return Person(document_type="resident", name="张三", id_number=id_number or number(), **extra)  # type: ignore[arg-type]


def codes(verdict: object) -> list[str]:
    return [f.code for f in verdict.flags]  # type: ignore[attr-defined]


def test_a_plain_visitor_with_a_normal_temperature_is_admitted() -> None:
    v = evaluate(person(), 36.5, EntranceRules(), NOW)
    assert v.outcome == "admitted" and v.flags == []
    assert v.origin is not None and v.origin.city == "武汉市" and v.origin.county == "江岸区"


def test_fever_is_at_or_above_the_threshold_and_refuses() -> None:
    rules = EntranceRules()  # 37.3 by default
    assert evaluate(person(), 37.2, rules, NOW).outcome == "admitted"
    at = evaluate(person(), 37.3, rules, NOW)
    assert at.outcome == "refused" and codes(at) == ["fever"]
    assert at.flags[0].reason == "体温异常：37.3 ℃（≥ 37.3 ℃）"
    assert (
        evaluate(person(), 37.0, EntranceRules(temperature_threshold_c=37.0), NOW).outcome
        == "refused"
    )


def test_a_missing_temperature_waits_for_the_operator_unless_not_required() -> None:
    v = evaluate(person(), None, EntranceRules(), NOW)
    assert v.outcome == "operator" and codes(v) == ["no_temperature"]
    assert (
        evaluate(person(), None, EntranceRules(require_temperature=False), NOW).outcome
        == "admitted"
    )


def test_watched_regions_match_the_longest_prefix_with_the_reason_shown() -> None:
    rules = EntranceRules(
        watched_regions=[
            WatchedRegion(prefix="42", level=2),
            WatchedRegion(prefix="4201", level=1, reason="疫情高风险"),
        ]
    )
    wuhan = evaluate(person(), 36.5, rules, NOW)
    assert codes(wuhan) == ["region_class1"]
    assert wuhan.flags[0].reason == "来自一类地区：湖北省武汉市（疫情高风险）"
    assert wuhan.outcome == "operator" and wuhan.flags[0].level == "warn"
    yichang = evaluate(person(number("420502")), 36.5, rules, NOW)
    assert codes(yichang) == ["region_class2"]
    assert yichang.flags[0].reason == "来自二类地区：湖北省"
    beijing = evaluate(person("11010519491231002X"), 36.5, rules, NOW)
    assert beijing.outcome == "admitted"


def test_region_action_block_refuses() -> None:
    rules = EntranceRules(
        watched_regions=[WatchedRegion(prefix="420102", level=1)], region_class1_action="block"
    )
    v = evaluate(person(), 36.5, rules, NOW)
    assert v.outcome == "refused"
    assert v.flags[0].reason == "来自一类地区：湖北省武汉市江岸区"


def test_watch_list_by_keyed_hash() -> None:
    me = number()
    entry = WatchedPerson(hash=person_hash(bytes.fromhex(KEY), me), reason="协查", action="warn")
    rules = EntranceRules(watchlist_key=KEY, watchlist=[entry])
    v = evaluate(person(me), 36.5, rules, NOW)
    assert codes(v) == ["watchlist"] and v.outcome == "operator"
    assert v.flags[0].reason == "关注名单人员（协查）"
    assert evaluate(person(number(seq="125")), 36.5, rules, NOW).outcome == "admitted"
    blocked = rules.model_copy(update={"watchlist": [entry.model_copy(update={"action": "block"})]})
    assert evaluate(person(me), 36.5, blocked, NOW).outcome == "refused"
    # Without a key the list cannot match anything.
    assert (
        evaluate(person(me), 36.5, rules.model_copy(update={"watchlist_key": ""}), NOW).flags == []
    )


def test_expired_card_and_invalid_number_need_the_operator() -> None:
    expired = evaluate(person(valid_to=date(2026, 5, 31)), 36.5, EntranceRules(), NOW)
    assert codes(expired) == ["card_expired"] and expired.outcome == "operator"
    assert "2026-05-31" in expired.flags[0].reason
    assert evaluate(person(valid_to=date(2026, 6, 1)), 36.5, EntranceRules(), NOW).flags == []
    bad = evaluate(person("110105194912310021"), 36.5, EntranceRules(), NOW)
    assert codes(bad) == ["id_invalid"] and bad.flags[0].reason == "证件号码有误：校验码错误"


def test_auto_admit_off_sends_everyone_to_the_operator() -> None:
    assert evaluate(person(), 36.5, EntranceRules(auto_admit=False), NOW).outcome == "operator"


def test_block_wins_over_warn() -> None:
    rules = EntranceRules(watched_regions=[WatchedRegion(prefix="42", level=1)])
    v = evaluate(person(), 38.5, rules, NOW)
    assert set(codes(v)) == {"region_class1", "fever"} and v.outcome == "refused"


regions = st.lists(
    st.builds(
        WatchedRegion,
        prefix=st.sampled_from(["11", "42", "4201", "4205", "420102", "420502", "1101", "110105"]),
        level=st.sampled_from([1, 2]),
    ),
    max_size=6,
)
codes_6 = st.sampled_from(["420102", "420502", "110105", "440106", "429004"])


@given(regions, codes_6)
def test_match_region_is_the_longest_matching_prefix(rs: list[WatchedRegion], code: str) -> None:
    best = match_region(code, rs)
    matching = [r for r in rs if code.startswith(r.prefix)]
    if not matching:
        assert best is None
        return
    assert best is not None and code.startswith(best.prefix)
    longest = max(len(r.prefix) for r in matching)
    assert len(best.prefix) == longest
    assert best.level == min(r.level for r in matching if len(r.prefix) == longest)


@given(
    regions,
    codes_6,
    st.one_of(st.none(), st.floats(min_value=34, max_value=42, allow_nan=False)),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["warn", "block"]),
)
def test_outcome_follows_from_the_flags(
    rs: list[WatchedRegion],
    code: str,
    temp: float | None,
    require: bool,
    auto: bool,
    class1: str,
) -> None:
    rules = EntranceRules(
        watched_regions=rs,
        require_temperature=require,
        auto_admit=auto,
        region_class1_action=class1,  # type: ignore[arg-type]
    )
    v = evaluate(person(number(code)), temp, rules, NOW)
    levels = {f.level for f in v.flags}
    if "block" in levels:
        assert v.outcome == "refused"
    elif v.flags or not auto:
        assert v.outcome == "operator"
    else:
        assert v.outcome == "admitted"
    assert ("fever" in codes(v)) == (temp is not None and temp >= rules.temperature_threshold_c)
    assert ("no_temperature" in codes(v)) == (temp is None and require)
    assert sum(c.startswith("region") for c in codes(v)) <= 1
    assert all(f.reason for f in v.flags)
