"""One SQLite connection per agent state database, with reentrant transactions.

The outbox, the command log and the meta table share ``outbox.db`` so that, for example, a
command's ack and its log entry commit together. WAL with ``synchronous=FULL`` makes every
commit durable on return: a SIGKILL or a power cut loses nothing that was committed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Database:
    """A single connection guarded by a reentrant lock; safe to share between threads."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        if readonly:
            uri = f"file:{path}?mode=ro"
            self._con = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=5)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so that nesting is ours.
        self._con.isolation_level = None
        self._lock = threading.RLock()
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []
        self._after_rollback: list[Callable[[], None]] = []

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction; nested blocks join the outermost one."""
        with self._lock:
            if self._depth == 0:
                self._con.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._con
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._finish(commit=False)
                raise
            self._depth -= 1
            if self._depth == 0:
                self._finish(commit=True)

    def _finish(self, *, commit: bool) -> None:
        commit_hooks, rollback_hooks = self._after_commit, self._after_rollback
        self._after_commit, self._after_rollback = [], []
        if commit:
            try:
                self._con.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full, I/O error) leaves the transaction open.
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                for hook in rollback_hooks:
                    hook()
                raise
            for hook in commit_hooks:
                hook()
        else:
            self._con.execute("ROLLBACK")
            for hook in rollback_hooks:
                hook()

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` once the current outermost transaction has committed."""
        with self._lock:
            if self._depth == 0:
                hook()
            else:
                self._after_commit.append(hook)

    def after_rollback(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` if the current outermost transaction is rolled back."""
        with self._lock:
            if self._depth:
                self._after_rollback.append(hook)

    @property
    def lock(self) -> threading.RLock:
        """The connection's lock, for in-memory state that must change with the database."""
        return self._lock

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def script(self, sql: str) -> None:
        """Run DDL; only used when opening the database."""
        with self._lock:
            self._con.executescript(sql)

    def close(self) -> None:
        with self._lock:
            self._con.close()
