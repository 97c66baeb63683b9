"""The durable outbox: sequence numbers, bounds, eviction, sending order, receipts."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from contract.registry import Priority
from edge_agent import meta
from edge_agent.db import Database
from edge_agent.outbox import NewMessage, Outbox, OutboxLimits

P = Priority


def body(seq: int, size: int = 10) -> bytes:
    return json.dumps({"seq": seq, "pad": "x" * size}).encode()


def add(outbox: Outbox, priority: Priority, n: int = 1, size: int = 10) -> list[int]:
    build = functools.partial(body, size=size)
    return outbox.append_many([NewMessage("event", "t.x", priority, build) for _ in range(n)])


def seqs(outbox: Outbox) -> list[int]:
    return [r.seq for r in outbox.next_batch(10_000)]


def test_seq_is_never_reused_after_delete_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox.open(path)
    assert add(outbox, P.TELEMETRY, 3) == [1, 2, 3]
    outbox.delete_ranges([(1, 3)])  # the table is empty now
    assert outbox.append("event", "t.x", P.TELEMETRY, body) == 4
    outbox.delete_ranges([(4, 4)])
    outbox.close()

    reopened = Outbox.open(path)
    assert reopened.depth() == 0
    assert reopened.append("ack", "agent.ping", P.CRITICAL, body) == 5
    # The body was built with the allocated seq.
    assert json.loads(reopened.next_batch(1)[0].body)["seq"] == 5
    reopened.close()


def test_failed_build_rolls_back_without_burning_state(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "outbox.db")
    add(outbox, P.STATUS, 2)

    def broken(seq: int) -> bytes:
        raise ValueError("cannot serialise")

    with pytest.raises(ValueError):
        outbox.append_many(
            [NewMessage("event", "t.x", P.STATUS, body)] * 2
            + [NewMessage("event", "t.x", P.STATUS, broken)]
        )
    assert outbox.depth() == 2 and seqs(outbox) == [1, 2]
    assert add(outbox, P.STATUS) == [3]


def test_next_batch_orders_by_priority_then_seq_and_skips_excluded(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "outbox.db")
    add(outbox, P.BULK)  # 1
    add(outbox, P.TELEMETRY)  # 2
    add(outbox, P.CRITICAL)  # 3
    add(outbox, P.STATUS)  # 4
    add(outbox, P.CRITICAL)  # 5
    assert seqs(outbox) == [3, 5, 4, 2, 1]
    assert [r.seq for r in outbox.next_batch(2, exclude={3})] == [5, 4]
    assert [r.seq for r in outbox.next_batch(10, exclude={3, 5, 4})] == [2, 1]


def test_delete_ranges_deletes_exactly_the_covered_rows(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "outbox.db")
    add(outbox, P.TELEMETRY, 10, size=100)
    before = outbox.stats().bytes
    assert outbox.delete_ranges([(2, 4), (7, 7), (9, 20)]) == 6
    assert seqs(outbox) == [1, 5, 6, 8]
    stats = outbox.stats()
    assert stats.depth == 4 and stats.bytes == before * 4 // 10
    assert outbox.delete_ranges([(2, 4)]) == 0  # a repeated receipt is harmless


def test_count_bound_evicts_least_important_class_oldest_first(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "outbox.db", OutboxLimits(max_events=6))
    add(outbox, P.CRITICAL)  # 1
    add(outbox, P.BULK, 2)  # 2, 3
    add(outbox, P.TELEMETRY, 2)  # 4, 5
    add(outbox, P.STATUS)  # 6
    add(outbox, P.CRITICAL)  # 7 → evicts bulk 2
    assert sorted(seqs(outbox)) == [1, 3, 4, 5, 6, 7]
    add(outbox, P.CRITICAL, 2)  # 8, 9 → evicts bulk 3, then telemetry 4
    assert sorted(seqs(outbox)) == [1, 5, 6, 7, 8, 9]
    stats = outbox.stats()
    assert stats.evicted == {"bulk": 2, "telemetry": 1}
    assert stats.evicted_by_reason == {"bulk": {"count": 2}, "telemetry": {"count": 1}}
    reports = {(e.priority, e.reason): (e.count, e.total) for e in outbox.take_evictions()}
    assert reports == {(P.BULK, "count"): (2, 2), (P.TELEMETRY, "count"): (1, 1)}
    assert outbox.take_evictions() == []  # reported once per burst


def test_a_new_message_never_evicts_a_more_important_one(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "outbox.db", OutboxLimits(max_events=3))
    add(outbox, P.CRITICAL, 3)  # 1..3
    assert add(outbox, P.BULK) == [4]  # evicts itself: the seq stays allocated (a visible gap)
    assert sorted(seqs(outbox)) == [1, 2, 3]
    add(outbox, P.CRITICAL)  # 5 → only critical is left: the oldest critical goes
    assert sorted(seqs(outbox)) == [2, 3, 5]
    assert outbox.stats().evicted == {"bulk": 1, "critical": 1}


def test_byte_bound_evicts_until_it_fits(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "outbox.db")
    add(outbox, P.TELEMETRY, 4, size=1000)
    size = outbox.stats().bytes // 4
    outbox.limits = OutboxLimits(max_bytes=size * 5)
    add(outbox, P.STATUS, 2, size=1000)  # 6 rows of `size` > 5: one telemetry row goes
    assert sorted(seqs(outbox)) == [2, 3, 4, 5, 6]
    assert outbox.stats().evicted_by_reason == {"telemetry": {"bytes": 1}}


def test_evictions_are_persisted_across_reopen(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "outbox.db", OutboxLimits(max_events=1))
    add(outbox, P.BULK, 3)
    outbox.close()
    assert Outbox.open(tmp_path / "outbox.db").stats().evicted == {"bulk": 2}


def test_age_eviction_per_class(tmp_path: Path) -> None:
    now = [1000.0]
    limits = OutboxLimits(
        max_age_s={P.CRITICAL: 100.0, P.STATUS: 10.0, P.TELEMETRY: 50.0, P.BULK: 10.0}
    )
    outbox = Outbox(Database(tmp_path / "outbox.db"), limits, clock=lambda: now[0])
    add(outbox, P.STATUS)  # 1
    add(outbox, P.TELEMETRY)  # 2
    add(outbox, P.CRITICAL)  # 3
    now[0] += 20
    add(outbox, P.STATUS)  # 4; the age check on append evicts status 1
    assert sorted(seqs(outbox)) == [2, 3, 4]
    now[0] += 40  # telemetry 2 is 60 s old, status 4 is 40 s old
    assert outbox.evict_expired() == 2
    assert sorted(seqs(outbox)) == [3]
    assert outbox.stats().evicted_by_reason == {
        "status": {"age": 2},
        "telemetry": {"age": 1},
    }
    assert {(e.priority, e.reason, e.count) for e in outbox.take_evictions()} == {
        (P.STATUS, "age", 2),
        (P.TELEMETRY, "age", 1),
    }


def test_stats_report_depth_bytes_and_oldest_age(tmp_path: Path) -> None:
    now = [50.0]
    outbox = Outbox(Database(tmp_path / "outbox.db"), clock=lambda: now[0])
    add(outbox, P.BULK, 2, size=5)
    now[0] = 60.0
    add(outbox, P.CRITICAL)
    stats = outbox.stats()
    assert stats.depth == 3 and stats.last_seq == 3
    assert stats.depth_by_class == {"critical": 1, "bulk": 2}
    assert stats.oldest_age_s == 10.0


def test_boot_counter_increments_per_start(tmp_path: Path) -> None:
    db = Database(tmp_path / "outbox.db")
    store = meta.Meta(db)
    assert [store.increment_boot() for _ in range(3)] == [1, 2, 3]
    db.close()
    assert meta.Meta(Database(tmp_path / "outbox.db")).increment_boot() == 4


def test_readonly_open_of_a_closed_outbox(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "outbox.db")
    add(outbox, P.STATUS, 2)
    outbox.close()
    ro = Outbox(Database(tmp_path / "outbox.db", readonly=True))
    assert ro.stats().depth == 2
