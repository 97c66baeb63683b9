"""Small persisted facts of the agent: boot counter, applied config version, link state.

Kept in the ``meta`` table of ``outbox.db`` so that ``prtc-agent status`` can read them
without the agent running.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from edge_agent.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

BOOT = "agent.boot"
CONFIG_VERSION = "config.applied_version"
LINK_STATE = "link.state"
LINK_CHANGED_AT = "link.changed_at"
LAST_RECEIPT_AT = "receipt.last_at"
CLOCK_OFFSET = "receipt.clock_offset_s"


class Meta:
    """JSON values by key."""

    def __init__(self, db: Database) -> None:
        self._db = db
        if not db.readonly:
            db.script(SCHEMA)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            rows = self._db.query("SELECT value FROM meta WHERE key = ?", (key,))
        except sqlite3.Error:  # a read-only open of a database the agent never initialised
            return default
        return json.loads(rows[0][0]) if rows else default

    def set(self, key: str, value: Any) -> None:
        self.set_many({key: value})

    def set_many(self, values: dict[str, Any]) -> None:
        with self._db.transaction() as con:
            con.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def increment_boot(self) -> int:
        """Count one more agent start and return the new count (1 on the first start)."""
        with self._db.transaction():
            boot = int(self.get(BOOT, 0)) + 1
            self.set(BOOT, boot)
        return boot
