"""Write one validated batch in one transaction, with Core statements (no ORM on the hot path).

Events are inserted with ``ON CONFLICT (id) DO NOTHING RETURNING id`` in one statement per
batch (see :mod:`.statements`), which tells new rows from duplicates on SQLite and PostgreSQL
alike. Only new rows move device counters, sequence gaps and command states
(:mod:`.effects`), and only new events reach the business handlers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from collector.event_bus import EventBus
from collector.ingest.effects import agent_events, apply_acks, track_gaps
from collector.ingest.models import StoredEvent
from collector.ingest.parse import AckItem, EventItem, Rejected
from collector.ingest.statements import DEVICES, Statements


class HandlerError(Exception):
    """A business handler raised on one event; the batch is rolled back."""

    def __init__(self, event_id: str, cause: BaseException) -> None:
        super().__init__(f"handler failed on event {event_id}: {cause!r}")
        self.event_id = event_id
        self.cause = cause


@dataclass(slots=True)
class StoreResult:
    new_events: set[str] = field(default_factory=set)
    new_acks: set[str] = field(default_factory=set)
    came_online: list[str] = field(default_factory=list)
    gaps_opened: int = 0


def dead_row(item: Rejected, now: datetime, reason: str | None = None, detail: str | None = None):
    return {
        "received_at": now,
        "topic": item.msg.topic.replace("\x00", "\\x00"),
        "reason": str(reason or item.reason),
        "detail": detail if detail is not None else item.detail,
        "raw": item.msg.payload,
        "centre_id": item.centre,
        "device_id": item.device,
    }


def insert_dead(session: Session, stmts: Statements, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(stmts.insert_dead, rows)


def store_batch(
    session: Session,
    stmts: Statements,
    events: list[EventItem],
    acks: list[AckItem],
    dead: list[dict[str, Any]],
    *,
    bus: EventBus,
    now: datetime,
    stale_window: timedelta,
) -> StoreResult:
    """Store one batch; the caller commits. Raises :class:`HandlerError` from handlers."""
    result = StoreResult()
    devices = sorted({e.env.device for e in events} | {a.env.device for a in acks})
    old_last_seq: dict[str, int] = {}
    if devices:
        rows = session.execute(
            stmts.lock(
                select(DEVICES.c.id, DEVICES.c.last_seq)
                .where(DEVICES.c.id.in_(devices))
                .order_by(DEVICES.c.id)
            )
        )
        old_last_seq = {device_id: int(last_seq) for device_id, last_seq in rows}

    if events:
        result.new_events = stmts.insert_events(session, events, now)
    if acks:
        ack_rows = [
            {
                "id": a.id,
                "command_id": str(a.env.command_id),
                "device_id": a.env.device,
                "seq": a.env.seq,
                "status": a.env.status.value,
                "progress": a.env.progress,
                "message": a.env.message,
                "result": a.env.result,
                "ts": a.env.ts,
                "stored_at": now,
            }
            for a in acks
        ]
        result.new_acks = set(session.execute(stmts.insert_acks, ack_rows).scalars())

    new_events = _first_of_each(events, result.new_events)
    new_acks = _first_of_each(acks, result.new_acks)

    new_seqs: dict[str, list[int]] = defaultdict(list)
    for item in (*new_events, *new_acks):
        new_seqs[item.env.device].append(item.env.seq)
    if devices:
        session.execute(
            stmts.update_devices,
            [
                {
                    "b_id": device_id,
                    "b_max": max(new_seqs[device_id], default=0),
                    "b_new": len(new_seqs[device_id]),
                    "b_now": now,
                }
                for device_id in devices
            ],
        )
    if new_seqs:
        result.gaps_opened = track_gaps(session, stmts, new_seqs, old_last_seq, now)
    insert_dead(session, stmts, dead)
    if new_events:
        result.came_online = agent_events(session, stmts, new_events, now, stale_window)
    if new_acks:
        apply_acks(session, stmts, new_acks, now)
    if bus and new_events:
        _dispatch(session, bus, new_events, now)
    return result


def _first_of_each(items: Iterable[Any], new_ids: set[str]) -> list[Any]:
    """The items whose id was inserted, once each (a batch may hold a message twice)."""
    if not new_ids:
        return []
    chosen: list[Any] = []
    taken: set[str] = set()
    for item in items:
        item_id = item.id
        if item_id in new_ids and item_id not in taken:
            taken.add(item_id)
            chosen.append(item)
    return chosen


def _dispatch(session: Session, bus: EventBus, new_events: list[EventItem], now: datetime):
    for item in new_events:
        env = item.env
        handlers = bus.handlers_for(env.type)
        if not handlers:
            continue
        event = StoredEvent(
            id=item.id,
            centre_id=env.centre,
            device_id=env.device,
            type=env.type,
            schema_version=env.schema_version,
            seq=env.seq,
            ts=env.ts,
            stored_at=now,
            payload=env.payload,
        )
        for handler in handlers:
            try:
                handler(session, event)
            except Exception as exc:
                raise HandlerError(event.id, exc) from exc


__all__ = ["HandlerError", "Statements", "StoreResult", "dead_row", "insert_dead", "store_batch"]
