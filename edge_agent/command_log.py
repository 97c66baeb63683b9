"""Command ids the agent has seen, with the last ack it gave each: idempotency across restarts.

Lives in ``outbox.db`` next to the outbox so that an ack and its log entry commit in one
transaction. A duplicate delivery of a known command is answered with its last ack again and
never executed twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from contract.envelopes import AckStatus
from edge_agent.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    id          TEXT PRIMARY KEY,
    action      TEXT    NOT NULL,
    received_at REAL    NOT NULL,
    expires_at  REAL    NOT NULL,
    status      TEXT    NOT NULL,
    final       INTEGER NOT NULL,
    ack         TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_final ON commands (final);
"""


@dataclass(frozen=True, slots=True)
class AckFields:
    """The part of an ack that is repeated when it is re-emitted."""

    status: AckStatus
    progress: float | None = None
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "status": self.status.value,
                "progress": self.progress,
                "message": self.message,
                "result": self.result,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> AckFields:
        data = json.loads(text)
        return cls(AckStatus(data["status"]), data["progress"], data["message"], data["result"])


@dataclass(frozen=True, slots=True)
class CommandRecord:
    id: UUID
    action: str
    expires_at: float
    last_ack: AckFields


class CommandLog:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.script(SCHEMA)

    def get(self, command_id: UUID) -> CommandRecord | None:
        rows = self._db.query(
            "SELECT id, action, expires_at, ack FROM commands WHERE id = ?", (str(command_id),)
        )
        return _record(rows[0]) if rows else None

    def insert(
        self,
        command_id: UUID,
        action: str,
        received_at: float,
        expires_at: float,
        ack: AckFields,
    ) -> None:
        with self._db.transaction() as con:
            con.execute(
                "INSERT INTO commands VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(command_id),
                    action,
                    received_at,
                    expires_at,
                    ack.status.value,
                    int(ack.status.final),
                    ack.to_json(),
                ),
            )

    def record(self, command_id: UUID, ack: AckFields) -> None:
        with self._db.transaction() as con:
            con.execute(
                "UPDATE commands SET status = ?, final = ?, ack = ? WHERE id = ?",
                (ack.status.value, int(ack.status.final), ack.to_json(), str(command_id)),
            )

    def unfinished(self) -> list[CommandRecord]:
        """Commands that never got a final ack (the agent stopped while they ran)."""
        rows = self._db.query("SELECT id, action, expires_at, ack FROM commands WHERE final = 0")
        return [_record(r) for r in rows]

    def prune(self, expired_before: float) -> int:
        """Forget finished commands that expired before the given time."""
        with self._db.transaction() as con:
            cur = con.execute(
                "DELETE FROM commands WHERE final = 1 AND expires_at < ?", (expired_before,)
            )
            return cur.rowcount


def _record(row: tuple[Any, ...]) -> CommandRecord:
    return CommandRecord(UUID(row[0]), row[1], float(row[2]), AckFields.from_json(row[3]))
