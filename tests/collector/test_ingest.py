"""Ingest through a real Mosquitto: stored once, receipted (duplicates too), dead letters."""

from __future__ import annotations

import json

import pytest
from sqlmodel import col, func, select

from collector.devices.models import Device, SequenceGap
from collector.ingest.models import DeadLetter, DeadReason, StoredEvent
from collector.runtime import Runtime
from contract import topics
from tests.collector.conftest import CENTRE, enrol, event_envelope, heartbeat_payload, session
from tests.support.net import wait_until


def count_events(runtime: Runtime, device: str | None = None) -> int:
    with session(runtime) as s:
        query = select(func.count()).select_from(StoredEvent)
        if device:
            query = query.where(StoredEvent.device_id == device)
        return int(s.exec(query).one())


def dead_letters(runtime: Runtime) -> list[DeadLetter]:
    with session(runtime) as s:
        return list(s.exec(select(DeadLetter).order_by(col(DeadLetter.id))))


def test_event_published_twice_is_stored_once_and_receipted_twice(collector, agent_factory):
    enrol(collector, "dev-1")
    agent = agent_factory("dev-1")
    envelopes = [event_envelope("dev-1", seq) for seq in range(1, 6)]
    for env in envelopes:
        agent.publish_event(env)
    wait_until(lambda: agent.receipted_seqs() >= {1, 2, 3, 4, 5}, 10, what="receipts")
    assert count_events(collector, "dev-1") == 5

    # The agent resends 2 and 3 (no receipt seen in time): stored once, receipted again.
    before = len(agent.of("receipt"))
    agent.publish_event(envelopes[1])
    agent.publish_event(envelopes[2])
    wait_until(
        lambda: (
            sum(len(r["ranges"]) for r in agent.of("receipt")[before:]) >= 1
            and {
                s
                for r in agent.of("receipt")[before:]
                for a, b in r["ranges"]
                for s in range(a, b + 1)
            }
            == {2, 3}
        ),
        10,
        what="receipt of the duplicates",
    )
    assert count_events(collector, "dev-1") == 5
    stored = {str(e["id"]) for e in envelopes}
    with session(collector) as s:
        rows = s.exec(select(StoredEvent).where(StoredEvent.device_id == "dev-1")).all()
        assert {r.id for r in rows} == stored
        assert sorted(r.seq for r in rows) == [1, 2, 3, 4, 5]
        assert rows[0].payload["sensor"] == "t1" and rows[0].ts.tzinfo is not None
        device = s.get(Device, "dev-1")
        assert device.last_seq == 5 and device.stored_count == 5
        assert device.last_seen_at is not None
    receipt = agent.of("receipt")[0]
    assert set(receipt) == {"ranges", "collector_time"}
    m = collector.metrics.registry
    assert m.get_sample_value("prtc_ingest_stored_total", {"kind": "event"}) == 5
    assert m.get_sample_value("prtc_ingest_duplicates_total", {"kind": "event"}) == 2


def test_every_dead_letter_reason_keeps_raw_bytes(collector, agent_factory):
    enrol(collector, "dev-ok")
    enrol(collector, "dev-off")
    enrol(collector, "dev-other", centre="other-centre")
    with session(collector) as s:
        s.get(Device, "dev-off").enabled = False
        s.commit()
    agent = agent_factory("dev-ok")
    ev = topics.event_topic
    good = event_envelope("dev-ok", 1)
    cases: list[tuple[str, str, bytes]] = [
        # Topics the subscriptions match that are still not of the tree.
        ("bad_topic", "prtc/v1/t-city/dev-ok/event/Sim.Reading", b"{}"),
        ("bad_topic", "prtc/v1/t-city/dev-ok/event/sim.reading/extra", b"{}"),
        ("bad_topic", "prtc/v1/t city/dev-ok/ack", b"{}"),
        ("bad_json", ev(CENTRE, "dev-ok", "sim.reading"), b"{not json"),
        ("bad_json", ev(CENTRE, "dev-ok", "sim.reading"), b"\xff\xfe\x00binary"),
        ("bad_envelope", ev(CENTRE, "dev-ok", "sim.reading"), b'{"id": "x"}'),
        ("bad_envelope", topics.ack_topic(CENTRE, "dev-ok"), b"[1, 2]"),
        (
            "unknown_type",
            ev(CENTRE, "dev-ok", "sim.unheard_of"),
            json.dumps(event_envelope("dev-ok", 2, type_="sim.unheard_of", x=1)).encode(),
        ),
        (
            "unknown_type",
            ev(CENTRE, "dev-ok", "sim.reading"),
            json.dumps({**event_envelope("dev-ok", 3), "schema_version": 9}).encode(),
        ),
        (
            "bad_payload",
            ev(CENTRE, "dev-ok", "sim.reading"),
            json.dumps(event_envelope("dev-ok", 4, sensor="t", value="hot", n=1)).encode(),
        ),
        (
            "bad_payload",
            ev(CENTRE, "dev-ok", "sim.reading"),
            json.dumps(event_envelope("dev-ok", 5, sensor="t", value=1, n=1, extra=2)).encode(),
        ),
        # The topic names another device than the envelope (or another type).
        (
            "topic_mismatch",
            ev(CENTRE, "dev-ok", "sim.reading"),
            json.dumps(event_envelope("dev-off", 6)).encode(),
        ),
        ("topic_mismatch", ev(CENTRE, "dev-ok", "sim.access"), json.dumps(good).encode()),
        (
            "unenrolled",
            ev(CENTRE, "ghost", "sim.reading"),
            json.dumps(event_envelope("ghost", 1)).encode(),
        ),
        # Enrolled, but in another centre than the topic says.
        (
            "unenrolled",
            ev(CENTRE, "dev-other", "sim.reading"),
            json.dumps(event_envelope("dev-other", 1)).encode(),
        ),
        (
            "disabled",
            ev(CENTRE, "dev-off", "sim.reading"),
            json.dumps(event_envelope("dev-off", 1)).encode(),
        ),
        ("too_large", ev(CENTRE, "dev-ok", "sim.bulk"), b'{"x": "' + b"a" * 1_100_000 + b'"}'),
    ]
    for _reason, topic, raw in cases:
        agent.publish_raw(topic, raw)
    agent.publish_event(good)
    wait_until(lambda: len(dead_letters(collector)) >= len(cases), 10, what="dead letters")
    wait_until(lambda: count_events(collector) == 1, 5, what="the good event")

    rows = dead_letters(collector)
    assert len(rows) == len(cases)
    by_raw = {(r.topic, r.raw): r for r in rows}
    for reason, topic, raw in cases:
        row = by_raw[(topic, raw)]
        assert row.reason == reason, (reason, topic, row.detail)
        assert row.detail
    assert {r.reason for r in rows} >= {
        DeadReason.BAD_TOPIC, DeadReason.BAD_JSON, DeadReason.BAD_ENVELOPE,
        DeadReason.UNKNOWN_TYPE, DeadReason.BAD_PAYLOAD, DeadReason.TOPIC_MISMATCH,
        DeadReason.UNENROLLED, DeadReason.DISABLED, DeadReason.TOO_LARGE,
    }  # fmt: skip
    # Verified senders are receipted for what cannot improve by resending; others are not.
    wait_until(lambda: {1, 2, 3, 4, 5} <= agent.receipted_seqs(), 5, what="receipts")
    assert 6 not in agent.receipted_seqs()


def test_gap_recorded_then_closed_by_late_events(collector, agent_factory):
    enrol(collector, "dev-g")
    agent = agent_factory("dev-g")
    envs = {seq: event_envelope("dev-g", seq) for seq in range(1, 11)}
    for seq in (1, 2, 5, 6, 10):
        agent.publish_event(envs[seq])
    wait_until(lambda: count_events(collector, "dev-g") == 5, 10, what="first events")

    def gaps() -> list[tuple[int, int, int, bool]]:
        with session(collector) as s:
            rows = s.exec(
                select(SequenceGap)
                .where(SequenceGap.device_id == "dev-g")
                .order_by(col(SequenceGap.first_seq))
            )
            return [(g.first_seq, g.last_seq, g.missing, g.closed_at is None) for g in rows]

    assert gaps() == [(3, 4, 2, True), (7, 9, 3, True)]
    for seq in (3, 4, 8):
        agent.publish_event(envs[seq])
    wait_until(lambda: count_events(collector, "dev-g") == 8, 10, what="late events")
    assert gaps() == [(3, 4, 0, False), (7, 9, 2, True)]
    # A duplicate of a late event changes nothing.
    agent.publish_event(envs[8])
    agent.publish_event(envs[7])
    agent.publish_event(envs[9])
    wait_until(lambda: count_events(collector, "dev-g") == 10, 10, what="all events")
    assert gaps() == [(3, 4, 0, False), (7, 9, 0, False)]
    with session(collector) as s:
        device = s.get(Device, "dev-g")
        assert device.last_seq == 10 and device.stored_count == 10


def test_heartbeat_updates_device_and_older_heartbeat_is_ignored(collector, agent_factory):
    enrol(collector, "dev-h")
    agent = agent_factory("dev-h")
    newer = event_envelope(
        "dev-h",
        2,
        type_="agent.heartbeat",
        **heartbeat_payload(boot=2, uptime_s=50.0, config_version=7),
    )
    older = event_envelope(
        "dev-h",
        1,
        type_="agent.heartbeat",
        **heartbeat_payload(boot=2, uptime_s=20.0, config_version=3),
    )
    agent.publish_event(newer)
    wait_until(lambda: count_events(collector, "dev-h") == 1, 10, what="heartbeat")
    agent.publish_event(older)
    wait_until(lambda: count_events(collector, "dev-h") == 2, 10, what="old heartbeat")
    with session(collector) as s:
        device = s.get(Device, "dev-h")
        assert device.heartbeat["uptime_s"] == 50.0
        assert device.agent_version == "1.2.3"
        assert device.applied_config_version == 7
        assert device.last_heartbeat_at is not None
    applied = event_envelope("dev-h", 3, type_="agent.config_applied", version=9, ok=True)
    agent.publish_event(applied)
    wait_until(lambda: count_events(collector, "dev-h") == 3, 10, what="config_applied")
    with session(collector) as s:
        assert s.get(Device, "dev-h").applied_config_version == 9


def test_handler_error_dead_letters_only_the_offending_event(collector, agent_factory):
    enrol(collector, "dev-b")
    seen: list[int] = []

    def handler(sess, event: StoredEvent) -> None:
        if event.payload["n"] == 13:
            raise RuntimeError("unlucky")
        seen.append(event.seq)
        # Side effect in the same transaction as the event.
        sess.add(
            SequenceGap(device_id="dev-b", first_seq=1000 + event.seq, last_seq=1000, missing=0)
        )

    collector.event_bus.subscribe("sim.reading", handler)
    agent = agent_factory("dev-b")
    envs = [event_envelope("dev-b", seq) for seq in range(10, 17)]
    # Pause the worker so that all seven land in one batch.
    collector.worker.stop()
    for env in envs:
        agent.publish_event(env)
    wait_until(lambda: collector.inbox.qsize() == 7, 5, what="queued")
    collector.worker.start()
    wait_until(lambda: count_events(collector, "dev-b") == 6, 10, what="stored")
    # Duplicates do not run handlers again (exactly-once side effects).
    agent.publish_event(envs[0])
    wait_until(lambda: collector.worker.batches >= 2, 5, what="dup batch")
    with session(collector) as s:
        side_effects = s.exec(
            select(func.count()).select_from(SequenceGap).where(SequenceGap.first_seq >= 1000)
        ).one()
    assert side_effects == 6
    assert sorted(set(seen)) == [10, 11, 12, 14, 15, 16]
    rows = dead_letters(collector)
    assert [r.reason for r in rows] == ["handler_error"]
    assert json.loads(rows[0].raw)["seq"] == 13 and "unlucky" in rows[0].detail
    wait_until(lambda: agent.receipted_seqs() >= set(range(10, 17)), 5, what="receipts")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_worker_survives_and_stores_after_junk_on_the_wire(collector, agent_factory):
    enrol(collector, "dev-j")
    agent = agent_factory("dev-j")
    for raw in (b"", b"null", b"{}", b"\x00" * 10, json.dumps({"payload": None}).encode()):
        agent.publish_raw(topics.event_topic(CENTRE, "dev-j", "sim.reading"), raw)
        agent.publish_raw(topics.ack_topic(CENTRE, "dev-j"), raw)
        agent.publish_raw(topics.status_topic(CENTRE, "dev-j"), raw)
    agent.publish_event(event_envelope("dev-j", 1))
    wait_until(lambda: count_events(collector, "dev-j") == 1, 10, what="valid event stored")
    assert collector.worker.running
