"""Scheduled jobs of the collector: mark stale devices offline, expire commands.

With several collectors on one PostgreSQL only the one holding a session-level advisory lock
(``pg_try_advisory_lock``) runs them; the lock goes with its connection, so when that
collector dies another takes over at its next tick. On SQLite the collector is always leader.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from collector.commands import service as commands_service
from collector.db_types import utcnow
from collector.devices import service as devices_service
from collector.metrics import CollectorMetrics
from collector.settings import DeviceSettings

log = logging.getLogger(__name__)

# int64 key of the housekeeping leader lock: b"prtc-hk1" as a signed big-endian integer.
ADVISORY_LOCK_KEY = int.from_bytes(b"prtc-hk1", "big", signed=True)


class LeaderLock:
    """Who runs the scheduled jobs. Always this instance on SQLite."""

    def __init__(self, engine: Engine, key: int = ADVISORY_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None
        self._always = engine.dialect.name != "postgresql"

    @property
    def held(self) -> bool:
        return self._always or self._conn is not None

    def acquire(self) -> bool:
        """True if this instance is (still) the leader."""
        if self._always:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("lost the housekeeping lock connection")
                self._close()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
            log.info("this collector runs the scheduled jobs")
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except Exception:
                log.debug("unlock failed", exc_info=True)
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("close failed", exc_info=True)
            self._conn = None


class Housekeeping:
    def __init__(
        self,
        engine: Engine,
        settings: DeviceSettings,
        metrics: CollectorMetrics | None = None,
        *,
        on_leadership: Callable[[bool], None] | None = None,
    ) -> None:
        self._engine = engine
        self._on_leadership = on_leadership
        self._settings = settings
        self._metrics = metrics
        self.lock = LeaderLock(engine)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.lock.release()

    def _run(self) -> None:
        while not self._stop.wait(self._settings.housekeeping_interval_s):
            try:
                self.run_once()
            except Exception:
                log.exception(
                    "housekeeping failed; next try in %ss", self._settings.housekeeping_interval_s
                )

    def run_once(self) -> bool:
        """Run the jobs if this instance is the leader; True if they ran."""
        leader = self.lock.acquire()
        if self._metrics:
            self._metrics.housekeeping_leader.set(1 if leader else 0)
        if self._on_leadership is not None:
            self._on_leadership(leader)
        if not leader:
            return False
        now = utcnow()
        with Session(self._engine, expire_on_commit=False) as session:
            stale = devices_service.mark_stale(
                session,
                now,
                stale_factor=self._settings.heartbeat_stale_factor,
                default_interval_s=self._settings.default_heartbeat_interval_s,
            )
            expired = commands_service.expire_commands(session, now)
        if stale:
            log.info("marked offline (no heartbeat): %s", ", ".join(stale))
        if expired:
            log.info("%d command(s) expired", expired)
        return True
