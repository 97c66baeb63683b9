"""Property: whatever arrives, the worker dead-letters it, acks it and keeps storing valid events.

The messages go straight into :meth:`IngestWorker.process` (no broker), so topics the broker
would refuse (wildcards, NUL) and any bytes are covered too.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from collector import migrate
from collector.db import make_engine
from collector.devices import service as devices_service
from collector.event_bus import EventBus
from collector.inbox import Inbox
from collector.ingest.models import DeadLetter, StoredEvent
from collector.ingest.pipeline import IngestWorker
from collector.metrics import CollectorMetrics
from collector.mqtt_link import Inbound
from contract import topics
from tests.collector.conftest import CENTRE, event_envelope, make_settings


class FakeLink:
    """Records what the worker publishes and acknowledges."""

    connected = True

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.acked: list[int] = []
        self.calls: list[str] = []  # "publish" / "ack", in order

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.published.append((topic, payload))
        self.calls.append("publish")

    def ack_all(self, messages) -> None:  # type: ignore[no-untyped-def]
        self.acked.extend(m.mid for m in messages)
        self.calls.append("ack")


@pytest.fixture
def worker(tmp_path: Path, db_url: str) -> Iterator[tuple[IngestWorker, FakeLink, Any]]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with Session(engine) as s:
        devices_service.ensure_centre(s, CENTRE, CENTRE)
        devices_service.enrol_device(s, centre_id=CENTRE, device_id="fz-1", kind="sim")
    link = FakeLink()
    w = IngestWorker(
        make_settings(tmp_path, db_url, "mqtt://127.0.0.1:1", ingest={"max_message_bytes": 4096}),
        engine,
        Inbox(1000),
        link,
        metrics=CollectorMetrics(),
        bus=EventBus(),
    )
    yield w, link, engine
    engine.dispose()


def _mutations(env: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Envelopes that are always invalid: a required field gone, a wrong type, an extra key."""
    required = ["id", "centre", "device", "type", "ts", "seq", "payload"]
    drop = st.sampled_from(required).map(lambda k: {x: v for x, v in env.items() if x != k})
    junk_value = st.one_of(st.none(), st.lists(st.integers(), max_size=2), st.just({"x": []}))
    wrong = st.tuples(st.sampled_from(["id", "seq", "ts", "payload", "centre"]), junk_value).map(
        lambda kv: {**env, kv[0]: kv[1]}
    )
    extra = (
        st.text(min_size=1, max_size=8).filter(lambda k: k not in env).map(lambda k: {**env, k: 1})
    )
    bad_payload = st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(
        lambda p: {**env, "payload": {**p, "unexpected_field": True}}
    )
    return st.one_of(drop, wrong, extra, bad_payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

valid_topics = st.sampled_from(
    [
        topics.event_topic(CENTRE, "fz-1", "sim.reading"),
        topics.event_topic(CENTRE, "fz-1", "sim.unknown"),
        topics.event_topic(CENTRE, "nobody", "sim.reading"),
        topics.ack_topic(CENTRE, "fz-1"),
        topics.status_topic(CENTRE, "fz-1"),
        topics.event_topic("other", "fz-1", "sim.reading"),
    ]
)
any_topics = st.one_of(
    valid_topics,
    st.text(max_size=80),
    st.text(alphabet="prtcv1/+#.-_ ab\x00é", max_size=60).map(lambda t: "prtc/v1/" + t),
)


def payloads(topic: str) -> st.SearchStrategy[bytes]:
    device = "fz-1" if "/fz-1/" in topic else "nobody"
    env = event_envelope(device, 1)
    return st.one_of(
        st.binary(min_size=1, max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        _mutations(env).map(lambda e: json.dumps(e).encode()),
        st.just(b"x" * 5000),  # too large
    )


messages = any_topics.flatmap(lambda t: st.tuples(st.just(t), payloads(t)))


def _count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__)).scalar())


def test_junk_is_dead_lettered_and_valid_events_still_stored(worker):
    w, link, engine = worker
    mid = iter(range(1, 10**9))

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(messages, min_size=1, max_size=8))
    def run(batch: list[tuple[str, bytes]]) -> None:
        dead_before = _count(engine, DeadLetter)
        inbound = [Inbound(t, p, next(mid), 1, False) for t, p in batch]
        w.process(inbound)
        assert set(link.acked) >= {m.mid for m in inbound}  # everything acknowledged
        assert _count(engine, DeadLetter) - dead_before == len(batch)  # one dead letter each
        assert _count(engine, StoredEvent) == 0

    run()

    # After all that, a valid event is stored and receipted as usual.
    env = event_envelope("fz-1", 7)
    topic = topics.event_topic(CENTRE, "fz-1", "sim.reading")
    w.process([Inbound(topic, json.dumps(env).encode(), next(mid), 1, False)])
    assert _count(engine, StoredEvent) == 1
    receipt_topic = topics.receipt_topic(CENTRE, "fz-1")
    assert any(t == receipt_topic and b"[[7,7]]" in p for t, p in link.published)
    with engine.connect() as conn:
        raws = conn.execute(select(DeadLetter.__table__.c.raw)).scalars().all()
        reasons = set(conn.execute(select(DeadLetter.__table__.c.reason)).scalars())
    assert all(isinstance(r, bytes) and r for r in raws)
    print("dead-letter reasons seen:", sorted(reasons))
    assert {"bad_topic", "bad_json", "bad_envelope", "too_large"} <= reasons


def test_payload_json_cannot_store_is_dead_lettered_alone(worker):
    """NaN and NUL pass the payload model but not the database: those events alone become
    dead letters (with their bytes) and are receipted; the rest of the batch is stored."""
    w, link, engine = worker
    topic = topics.event_topic(CENTRE, "fz-1", "sim.reading")
    good = [event_envelope("fz-1", seq) for seq in (1, 4)]
    nan = event_envelope("fz-1", 2)
    nan["payload"]["value"] = float("nan")
    nul = event_envelope("fz-1", 3, sensor="t\x00x", value=1.0, unit="C", n=3)
    raws = [json.dumps(env).encode() for env in (good[0], nan, nul, good[1])]
    w.process([Inbound(topic, raw, mid, 1, False) for mid, raw in enumerate(raws, 1)])
    assert link.acked == [1, 2, 3, 4]
    with engine.connect() as conn:
        stored = set(conn.execute(select(StoredEvent.__table__.c.id)).scalars())
        dead = conn.execute(select(DeadLetter.__table__.c.reason, DeadLetter.__table__.c.raw)).all()
    assert stored == {good[0]["id"], good[1]["id"]}
    assert sorted(dead, key=lambda r: r.raw) == sorted(
        [("bad_payload", raws[1]), ("bad_payload", raws[2])], key=lambda r: r[1]
    )
    receipt_topic = topics.receipt_topic(CENTRE, "fz-1")
    assert [p for t, p in link.published if t == receipt_topic][-1].find(b"[[1,4]]") >= 0


def test_payload_text_is_stored_as_sent(worker):
    """The payload is serialised for storage by pydantic-core, with the json module deciding
    where NaN or Infinity may be involved: text that merely looks like them is stored, the
    numbers themselves are dead-lettered, and every stored payload reads back as sent."""
    w, link, engine = worker
    topic = topics.event_topic(CENTRE, "fz-1", "sim.reading")
    sent = [
        {"sensor": "NaN", "value": 2.5e-7, "unit": "Infinity", "n": 2**62},
        {"sensor": 'q"uo\\te/\t\u2028', "value": -0.0, "unit": "°C", "n": 0},
        {"sensor": "温度-Infinity", "value": 0.1, "unit": "-NaN", "n": 7},
    ]
    good = [event_envelope("fz-1", seq, **payload) for seq, payload in enumerate(sent, 1)]
    inf = event_envelope("fz-1", 4, sensor="t", value=float("inf"), unit="C", n=4)
    raws = [json.dumps(env).encode() for env in (*good, inf)]
    w.process([Inbound(topic, raw, mid, 1, False) for mid, raw in enumerate(raws, 1)])
    assert link.acked == [1, 2, 3, 4]
    with Session(engine) as s:
        stored = {e.id: e.payload for e in s.execute(select(StoredEvent)).scalars()}
        dead = s.execute(select(DeadLetter.reason, DeadLetter.raw)).all()
    assert stored == {env["id"]: env["payload"] for env in good}
    assert [tuple(row) for row in dead] == [("bad_payload", raws[3])]


def test_batches_run_without_cyclic_gc_and_leave_it_on(worker):
    """The worker pauses the cyclic garbage collector while it works on a batch, and turns
    it back on afterwards, also when a handler failed and the batch was replayed."""
    w, link, engine = worker
    seen: list[bool] = []

    def handler(session, event):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        if event.seq == 2:
            raise RuntimeError("boom")

    w._bus.subscribe("sim.reading", handler)
    topic = topics.event_topic(CENTRE, "fz-1", "sim.reading")
    raws = [json.dumps(event_envelope("fz-1", seq)).encode() for seq in (1, 2, 3)]
    assert gc.isenabled()
    w.process([Inbound(topic, raw, mid, 1, False) for mid, raw in enumerate(raws, 1)])
    assert gc.isenabled()
    assert seen and not any(seen)
    assert link.acked == [1, 2, 3]
    with engine.connect() as conn:
        assert _count(engine, StoredEvent) == 2
        reasons = conn.execute(select(DeadLetter.__table__.c.reason)).scalars().all()
    assert reasons == ["handler_error"]


def test_receipts_go_out_before_the_acks(worker):
    """A receiver that dies between the two must not leave the broker with the ack and the
    agent without its receipt: the receipts of a batch are handed over before its acks."""
    w, link, engine = worker
    devices = ["fz-1", "fz-2"]
    with Session(engine) as s:
        devices_service.enrol_device(s, centre_id=CENTRE, device_id="fz-2", kind="sim")
    inbound = [
        Inbound(
            topics.event_topic(CENTRE, dev, "sim.reading"),
            json.dumps(event_envelope(dev, seq)).encode(),
            mid,
            1,
            False,
        )
        for mid, (dev, seq) in enumerate(((d, q) for d in devices for q in (1, 2)), 1)
    ]
    w.process(inbound)
    assert link.calls == ["publish", "publish", "ack"]
    assert sorted(t for t, _ in link.published) == sorted(
        topics.receipt_topic(CENTRE, d) for d in devices
    )
    assert link.acked == [1, 2, 3, 4]
