"""Tables and the per-dialect statements of the ingest hot path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, case, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from collector.commands.models import Command, CommandAck
from collector.db_types import table_of
from collector.devices.models import Device, SequenceGap
from collector.ingest.models import DeadLetter, StoredEvent
from collector.ingest.parse import EventItem

EVENTS = table_of(StoredEvent)
ACKS = table_of(CommandAck)
DEAD = table_of(DeadLetter)
DEVICES = table_of(Device)
GAPS = table_of(SequenceGap)
COMMANDS = table_of(Command)

HEARTBEAT = "agent.heartbeat"
CONFIG_APPLIED = "agent.config_applied"


def sqlite_datetime(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite: naive UTC text with microseconds."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# One statement per batch whatever its size: the rows travel as one JSON array, each row
# ``[id, centre, device, type, schema_version, seq, ts, payload]`` with the payload embedded
# as the JSON text that was validated. SQLAlchemy's insertmanyvalues would do the same job (it
# too returns only the inserted rows on both databases) but renders and parses a statement
# with 9 placeholders per row, and psycopg escapes array parameters with a regex per element;
# either costs more than the rest of the ingest together.
_SQLITE_INSERT_EVENTS = text(
    "INSERT INTO events "
    "(id, centre_id, device_id, type, schema_version, seq, ts, stored_at, payload) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), "
    "json_extract(value, '$[5]'), json_extract(value, '$[6]'), :now, "
    "json_extract(value, '$[7]') "
    "FROM json_each(:rows) WHERE true "
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)
_POSTGRES_INSERT_EVENTS = text(
    "INSERT INTO events "
    "(id, centre_id, device_id, type, schema_version, seq, ts, stored_at, payload) "
    "SELECT r->>0, r->>1, r->>2, r->>3, CAST(r->>4 AS integer), CAST(r->>5 AS bigint), "
    "CAST(r->>6 AS timestamptz), :now, r->7 "
    "FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r "
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)


def rows_json(events: list[EventItem], *, postgres: bool) -> str:
    """The batch as one JSON array; timestamps as each database wants them.

    Formatted directly rather than through a JSON encoder: ids, centre, device and type have
    passed the envelope's patterns (UUID; letters, digits, ``_ . -``; dotted lowercase), the
    numbers are ints and timestamps ISO text, so nothing needs escaping; the payload is the
    JSON text checked by :func:`collector.ingest.checks.payload_problem`.
    """
    parts: list[str] = []
    append = parts.append
    for e in events:
        env = e.env
        ts = env.ts.isoformat() if postgres else sqlite_datetime(env.ts)
        append(
            f'["{e.id}","{env.centre}","{env.device}","{env.type}",'
            f'{env.schema_version:d},{env.seq:d},"{ts}",{e.payload_json}]'
        )
    return "[" + ",".join(parts) + "]"


class Statements:
    """The batch statements for one dialect, built once."""

    def __init__(self, dialect_name: str) -> None:
        insert: Callable[[Table], Any]
        insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
        self.postgres = dialect_name == "postgresql"
        self.locking = self.postgres
        self.insert_acks = (
            insert(ACKS).on_conflict_do_nothing(index_elements=["id"]).returning(ACKS.c.id)
        )
        self.insert_dead = DEAD.insert()
        self.update_devices = (
            update(DEVICES)
            .where(DEVICES.c.id == bindparam("b_id"))
            .values(
                last_seq=case(
                    (DEVICES.c.last_seq < bindparam("b_max"), bindparam("b_max")),
                    else_=DEVICES.c.last_seq,
                ),
                stored_count=DEVICES.c.stored_count + bindparam("b_new"),
                last_seen_at=bindparam("b_now"),
            )
        )
        self.update_applied = (
            update(DEVICES)
            .where(
                DEVICES.c.id == bindparam("b_id"),
                or_(
                    DEVICES.c.applied_config_version.is_(None),
                    DEVICES.c.applied_config_version < bindparam("b_version"),
                ),
            )
            .values(applied_config_version=bindparam("b_version"))
        )

    def insert_events(self, session: Session, events: list[EventItem], now: datetime) -> set[str]:
        """Insert events, ignoring ids already stored; return the ids actually inserted."""
        if self.postgres:
            params = {"rows": rows_json(events, postgres=True), "now": now}
            return set(session.execute(_POSTGRES_INSERT_EVENTS, params).scalars())
        params = {"rows": rows_json(events, postgres=False), "now": sqlite_datetime(now)}
        return set(session.execute(_SQLITE_INSERT_EVENTS, params).scalars())

    def lock(self, stmt: Any) -> Any:
        # Row locks on PostgreSQL (several collectors); SQLite has one writer anyway.
        return stmt.with_for_update() if self.locking else stmt
