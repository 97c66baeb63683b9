"""The durable outbox: every event and ack waits here until a receipt covers its ``seq``.

One SQLite table of messages in ``outbox.db`` (WAL, ``synchronous=FULL``). ``append`` allocates
the next per-device sequence number and stores the message in one transaction, durable on
return. Sequence numbers are never reused: the high-water mark lives in the ``meta`` table, so
deleting the newest rows (receipts, evictions) never lets ``seq`` go backwards, not even
across restarts.

Bounds and eviction policy (see :class:`OutboxLimits`): when an append would exceed the
count or byte bound, rows are evicted from the least important class first (bulk, telemetry,
status, critical), oldest (lowest ``seq``) first within a class. An append never evicts a
class more important than the most important message it adds: if only more important rows
are left, the new message itself is evicted (its ``seq`` stays allocated, so the collector
sees the gap). Rows older than their class's ``max_age_s`` are evicted on append (at most once
a second) and by :meth:`Outbox.evict_expired`. Every eviction is counted per class and
reason in the persisted ``evictions`` table and reported by :meth:`Outbox.take_evictions`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from contract.registry import Priority
from edge_agent import meta
from edge_agent.db import Database

MessageKind = Literal["event", "ack"]
EvictionReason = Literal["count", "bytes", "age"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq        INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    priority   INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    size       INTEGER NOT NULL,
    body       BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_priority_seq ON messages (priority, seq);
CREATE TABLE IF NOT EXISTS evictions (
    priority INTEGER NOT NULL,
    reason   TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (priority, reason)
);
"""

LAST_SEQ = "outbox.last_seq"
# Least important first: the order in which bounds evict.
EVICTION_ORDER = (Priority.BULK, Priority.TELEMETRY, Priority.STATUS, Priority.CRITICAL)
AGE_CHECK_ON_APPEND_S = 1.0
DELETE_CHUNK = 500  # ranges per statement (two bound parameters each)


def _older_than(cutoff: float) -> Callable[[int, float], bool]:
    return lambda _seq, created_at: created_at < cutoff


def class_name(priority: Priority | int) -> str:
    return Priority(priority).name.lower()


DEFAULT_MAX_AGE_S: Mapping[Priority, float] = {
    Priority.CRITICAL: 30 * 86400.0,
    Priority.STATUS: 1 * 86400.0,
    Priority.TELEMETRY: 7 * 86400.0,
    Priority.BULK: 3 * 86400.0,
}


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    max_events: int = 1_000_000
    max_bytes: int = 512 * 1024 * 1024
    max_age_s: Mapping[Priority, float] = field(default_factory=lambda: dict(DEFAULT_MAX_AGE_S))


@dataclass(frozen=True, slots=True)
class NewMessage:
    kind: MessageKind
    type: str
    priority: Priority
    build_body: Callable[[int], bytes]
    """Called with the allocated ``seq``; returns the full JSON envelope carrying it."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    kind: MessageKind
    type: str
    priority: Priority
    created_at: float
    size: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Eviction:
    priority: Priority
    reason: EvictionReason
    count: int
    total: int  # evicted from this class since install


class OutboxStats(BaseModel):
    depth: int
    bytes: int
    oldest_age_s: float
    last_seq: int
    depth_by_class: dict[str, int]
    evicted: dict[str, int]
    evicted_by_reason: dict[str, dict[str, int]]


class Outbox:
    """Thread-safe; all access goes through the shared :class:`Database` lock."""

    def __init__(
        self,
        db: Database,
        limits: OutboxLimits | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self.limits = limits or OutboxLimits()
        self._clock = clock
        if not db.readonly:
            db.script(meta.SCHEMA + SCHEMA)
        self._listeners: list[Callable[[], None]] = []
        self._pending: dict[tuple[Priority, EvictionReason], int] = {}
        self._staged: dict[tuple[Priority, EvictionReason], int] = {}
        self._last_age_check = 0.0
        self._reload()

    @classmethod
    def open(cls, path: Path, limits: OutboxLimits | None = None) -> Outbox:
        return cls(Database(path), limits)

    @property
    def db(self) -> Database:
        return self._db

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def _reload(self) -> None:
        """Load counters from disk (at open and after a rolled-back transaction)."""
        count, size, top = self._db.query(
            "SELECT count(*), coalesce(sum(size), 0), coalesce(max(seq), 0) FROM messages"
        )[0]
        mark = meta.Meta(self._db).get(LAST_SEQ, 0)
        self._count, self._bytes = int(count), int(size)
        self._last_seq = max(int(top), int(mark))
        self._staged.clear()

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every committed append (the sender uses it to wake up)."""
        self._listeners.append(listener)

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        kind: MessageKind,
        type: str,
        priority: Priority,
        build_body: Callable[[int], bytes],
    ) -> int:
        """Store one message; durable on return (unless inside an outer transaction)."""
        return self.append_many([NewMessage(kind, type, priority, build_body)])[0]

    def append_many(self, messages: Sequence[NewMessage]) -> list[int]:
        """Store several messages in one transaction; return their sequence numbers."""
        if not messages:
            return []
        now = self._clock()
        with self._db.transaction() as con:
            self._db.after_rollback(self._reload)
            rows = []
            for message in messages:
                self._last_seq += 1
                body = message.build_body(self._last_seq)
                rows.append(
                    (
                        self._last_seq,
                        message.kind,
                        message.type,
                        int(message.priority),
                        now,
                        len(body),
                        body,
                    )
                )
            con.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            con.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (LAST_SEQ, str(self._last_seq)),
            )
            self._count += len(rows)
            self._bytes += sum(r[5] for r in rows)
            floor = min(int(m.priority) for m in messages)
            if now - self._last_age_check >= AGE_CHECK_ON_APPEND_S:
                self._last_age_check = now
                self._evict_expired(now)
            self._evict_while(floor, "count", lambda: self._count > self.limits.max_events)
            self._evict_while(floor, "bytes", lambda: self._bytes > self.limits.max_bytes)
            self._db.after_commit(self._committed)
        return [r[0] for r in rows]

    def delete_ranges(self, ranges: Iterable[tuple[int, int]]) -> int:
        """Delete exactly the rows whose seq lies in the inclusive ranges; return how many."""
        pairs = list(ranges)
        deleted = 0
        with self._db.transaction() as con:
            self._db.after_rollback(self._reload)
            # One statement per chunk of ranges: receipts for mixed priority classes are
            # fragmented (sending order is by class), so ranges come by the thousand.
            for i in range(0, len(pairs), DELETE_CHUNK):
                chunk = pairs[i : i + DELETE_CHUNK]
                values = ",".join("(?, ?)" for _ in chunk)
                sizes = con.execute(
                    f"WITH r(first, last) AS (VALUES {values}) "
                    "DELETE FROM messages WHERE seq IN (SELECT m.seq FROM r JOIN messages m "
                    "ON m.seq BETWEEN r.first AND r.last) RETURNING size",
                    [n for pair in chunk for n in pair],
                ).fetchall()
                deleted += len(sizes)
                self._count -= len(sizes)
                self._bytes -= sum(size for (size,) in sizes)
        return deleted

    def evict_expired(self) -> int:
        """Evict rows older than their class's maximum age; return how many."""
        with self._db.transaction():
            self._db.after_rollback(self._reload)
            evicted = self._evict_expired(self._clock())
            self._db.after_commit(self._committed)
        return evicted

    # -- eviction --------------------------------------------------------------------------

    def _evict_expired(self, now: float) -> int:
        evicted = 0
        for priority in EVICTION_ORDER:
            cutoff = now - self.limits.max_age_s.get(priority, float("inf"))
            # Oldest by seq first; a row whose created_at is not past the cutoff ends the walk
            # (rows are appended in time order, so this reads one row per class when idle).
            evicted += self._evict_class(priority, "age", _older_than(cutoff))
        return evicted

    def _evict_while(self, floor: int, reason: EvictionReason, over: Callable[[], bool]) -> None:
        for priority in EVICTION_ORDER:
            if not over():
                return
            if priority < floor:
                continue  # never evict a class more important than what is being added
            self._evict_class(priority, reason, lambda _seq, _created: over())

    def _evict_class(
        self,
        priority: Priority,
        reason: EvictionReason,
        take: Callable[[int, float], bool],
    ) -> int:
        """Evict rows of one class, oldest first, while ``take(seq, created_at)`` holds."""
        evicted = 0
        while True:
            rows = self._db.query(
                "SELECT seq, created_at, size FROM messages WHERE priority = ? "
                "ORDER BY seq LIMIT 512",
                (int(priority),),
            )
            last = None
            for seq, created_at, size in rows:
                if not take(seq, created_at):
                    break
                last = seq
                evicted += 1
                self._count -= 1
                self._bytes -= size
            if last is not None:
                with self._db.transaction() as con:
                    con.execute(
                        "DELETE FROM messages WHERE priority = ? AND seq <= ?",
                        (int(priority), last),
                    )
            if last is None or last != rows[-1][0]:
                break
        if evicted:
            self._record_eviction(priority, reason, evicted)
        return evicted

    def _record_eviction(self, priority: Priority, reason: EvictionReason, count: int) -> None:
        with self._db.transaction() as con:
            con.execute(
                "INSERT INTO evictions(priority, reason, count) VALUES (?, ?, ?) "
                "ON CONFLICT(priority, reason) DO UPDATE SET count = count + excluded.count",
                (int(priority), reason, count),
            )
        key = (priority, reason)
        self._staged[key] = self._staged.get(key, 0) + count

    def _committed(self) -> None:
        for key, count in self._staged.items():
            self._pending[key] = self._pending.get(key, 0) + count
        self._staged.clear()
        for listener in self._listeners:
            listener()

    def take_evictions(self) -> list[Eviction]:
        """Evictions since the previous call, one entry per class and reason."""
        with self._db.lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return []
        totals = self._evicted_totals()
        return [
            Eviction(priority, reason, count, totals.get(class_name(priority), count))
            for (priority, reason), count in sorted(pending.items())
        ]

    # -- reading ---------------------------------------------------------------------------

    def next_batch(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset()
    ) -> list[OutboxRow]:
        """Up to ``limit`` rows in sending order (priority, seq), skipping ``exclude``."""
        # Two steps: pick seqs from the (priority, seq) index alone, then read only the chosen
        # bodies; the excluded (in-flight) rows are usually many and at the front.
        with self._db.lock:
            order = self._db.query(
                "SELECT seq FROM messages ORDER BY priority, seq LIMIT ?",
                (limit + len(exclude),),
            )
            chosen = [seq for (seq,) in order if seq not in exclude][:limit]
            rows: list[tuple[Any, ...]] = []
            for i in range(0, len(chosen), 500):
                part = chosen[i : i + 500]
                rows += self._db.query(
                    "SELECT seq, kind, type, priority, created_at, size, body FROM messages "
                    f"WHERE seq IN ({','.join('?' * len(part))})",
                    tuple(part),
                )
        by_seq = {row[0]: row for row in rows}
        return [
            OutboxRow(row[0], row[1], row[2], Priority(row[3]), row[4], row[5], row[6])
            for row in (by_seq[seq] for seq in chosen)
        ]

    def depth(self) -> int:
        return self._count

    def _evicted_totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for priority, count in self._db.query(
            "SELECT priority, sum(count) FROM evictions GROUP BY priority"
        ):
            totals[class_name(priority)] = int(count)
        return totals

    def stats(self) -> OutboxStats:
        now = self._clock()
        oldest = [
            rows[0][0]
            for p in Priority
            if (
                rows := self._db.query(
                    "SELECT created_at FROM messages WHERE priority = ? ORDER BY seq LIMIT 1",
                    (int(p),),
                )
            )
        ]
        by_class = {
            class_name(p): int(n)
            for p, n in self._db.query("SELECT priority, count(*) FROM messages GROUP BY priority")
        }
        by_reason: dict[str, dict[str, int]] = {}
        for p, reason, count in self._db.query("SELECT priority, reason, count FROM evictions"):
            by_reason.setdefault(class_name(p), {})[reason] = int(count)
        return OutboxStats(
            depth=self._count,
            bytes=self._bytes,
            oldest_age_s=max(0.0, now - min(oldest)) if oldest else 0.0,
            last_seq=self._last_seq,
            depth_by_class=by_class,
            evicted=self._evicted_totals(),
            evicted_by_reason=by_reason,
        )

    def close(self) -> None:
        self._db.close()
