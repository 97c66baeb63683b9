"""Read-only queries behind the API's list views that no domain service offers (yet).

They only read; if the ingest or commands package grows equivalent functions, the routes
should switch to those and these go.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from collector.commands.models import CommandAck
from collector.ingest.models import DeadLetter, StoredEvent


class InvalidCursor(ValueError):
    pass


def encode_cursor(ts: datetime, event_id: str) -> str:
    """An opaque keyset cursor pointing just after the event ``(ts, id)`` in newest-first order."""
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts_text, event_id = raw.split("|", 1)
        ts = datetime.fromisoformat(ts_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("not a cursor returned by this API") from exc
    if ts.tzinfo is None or not event_id:
        raise InvalidCursor("not a cursor returned by this API")
    return ts, event_id


def list_events(
    session: Session,
    *,
    device_id: str | None = None,
    centre_id: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    centre_ids: Collection[str] | None = None,
    limit: int,
    offset: int = 0,
    with_total: bool = True,
) -> tuple[Sequence[StoredEvent], int | None]:
    """Events newest first by (device time, id); ``since`` inclusive, ``until`` exclusive.

    ``event_type`` is an exact type or a prefix ending in ``.*`` (``visitor.*``). ``after`` is
    a decoded keyset cursor: only rows after it in the order are returned. ``total`` counts the
    rows matching the filters, ignoring the cursor and paging.
    """
    conds: list[Any] = []
    if centre_ids is not None:  # the caller's visible centres; empty means nothing
        conds.append(col(StoredEvent.centre_id).in_(sorted(centre_ids)))
    if device_id is not None:
        conds.append(col(StoredEvent.device_id) == device_id)
    if centre_id is not None:
        conds.append(col(StoredEvent.centre_id) == centre_id)
    if event_type is not None:
        if event_type.endswith(".*"):
            conds.append(col(StoredEvent.type).startswith(event_type[:-1], autoescape=True))
        else:
            conds.append(col(StoredEvent.type) == event_type)
    if since is not None:
        conds.append(col(StoredEvent.ts) >= since)
    if until is not None:
        conds.append(col(StoredEvent.ts) < until)
    total = None
    if with_total:
        total = session.exec(select(func.count()).select_from(StoredEvent).where(*conds)).one()
    if after is not None:
        ts, event_id = after
        conds.append(
            or_(
                col(StoredEvent.ts) < ts,
                and_(col(StoredEvent.ts) == ts, col(StoredEvent.id) < event_id),
            )
        )
    stmt = (
        select(StoredEvent)
        .where(*conds)
        .order_by(col(StoredEvent.ts).desc(), col(StoredEvent.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return session.exec(stmt).all(), total


def list_dead_letters(
    session: Session,
    *,
    reason: str | None = None,
    centre_id: str | None = None,
    device_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    centre_ids: Collection[str] | None = None,
    limit: int,
    offset: int = 0,
) -> tuple[Sequence[DeadLetter], int]:
    """Dead letters newest first; ``since`` inclusive, ``until`` exclusive on received time."""
    conds: list[Any] = []
    if centre_ids is not None:  # the caller's visible centres; empty means nothing
        conds.append(col(DeadLetter.centre_id).in_(sorted(centre_ids)))
    if reason is not None:
        conds.append(col(DeadLetter.reason) == reason)
    if centre_id is not None:
        conds.append(col(DeadLetter.centre_id) == centre_id)
    if device_id is not None:
        conds.append(col(DeadLetter.device_id) == device_id)
    if since is not None:
        conds.append(col(DeadLetter.received_at) >= since)
    if until is not None:
        conds.append(col(DeadLetter.received_at) < until)
    total = session.exec(select(func.count()).select_from(DeadLetter).where(*conds)).one()
    stmt = (
        select(DeadLetter)
        .where(*conds)
        .order_by(col(DeadLetter.received_at).desc(), col(DeadLetter.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return session.exec(stmt).all(), total


def command_acks(session: Session, command_id: str) -> Sequence[CommandAck]:
    """Every ack of a command in the order the agent wrote them."""
    stmt = (
        select(CommandAck)
        .where(col(CommandAck.command_id) == command_id)
        .order_by(col(CommandAck.seq), col(CommandAck.ts))
    )
    return session.exec(stmt).all()
