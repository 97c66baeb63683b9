"""The durable queue of files to upload: ``uploads.db`` in the agent's state directory.

A row is written (and fsynced) when a plugin queues a file, with the file's size and SHA-256
computed once then; the collector's file id and upload URL are stored as soon as the upload
is created, so that after a crash, a kill or a power cut the uploader asks the collector how
far it got (``HEAD``) instead of starting over. Rows are ``pending`` until the collector holds
the complete file, then ``done`` (kept ``keep_records_days`` for :meth:`UploadQueue.state`),
or ``failed`` when the file is gone or keeps failing its checksum.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from contract.ids import uuid7
from edge_agent.db import Database

UploadStateName = Literal["pending", "done", "failed"]
HASH_BLOCK = 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    meta TEXT NOT NULL,
    delete_after INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    file_id TEXT,
    upload_url TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS uploads_state ON uploads (state, created_at);
"""

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".ts": "video/mp2t",
    ".m4a": "audio/mp4",
    ".wav": "audio/wav",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".iso": "application/x-iso9660-image",
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class QueuedUpload:
    id: str
    path: Path
    name: str
    size: int
    sha256: str
    kind: str
    content_type: str
    meta: dict[str, Any]
    delete_after: bool
    state: UploadStateName
    file_id: str | None
    upload_url: str | None
    attempts: int
    next_try_at: float
    last_error: str
    created_at: float


@dataclass(frozen=True, slots=True)
class UploadStats:
    pending: int = 0
    pending_bytes: int = 0
    failed: int = 0
    done: int = 0
    last_error: str = ""


class UploadQueue:
    """Thread-safe (one connection behind the :class:`Database` lock)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.db = Database(path, readonly=readonly)
        if readonly:
            return
        with self.db.transaction() as con:
            for statement in filter(None, (s.strip() for s in SCHEMA.split(";"))):
                con.execute(statement)

    def close(self) -> None:
        self.db.close()

    def enqueue(
        self,
        path: Path,
        *,
        kind: str,
        meta: dict[str, Any] | None = None,
        name: str | None = None,
        content_type: str | None = None,
        delete_after: bool = False,
    ) -> str:
        """Hash the file and queue it; return the upload id. Raises OSError if unreadable."""
        path = path.resolve()
        size = path.stat().st_size
        digest = sha256_of(path)
        if path.stat().st_size != size:
            raise OSError(f"{path} changed while it was hashed; queue files once they are final")
        upload_id = str(uuid7())
        ctype = content_type or CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        with self.db.transaction() as con:
            con.execute(
                "INSERT INTO uploads (id, path, name, size, sha256, kind, content_type, meta, "
                "delete_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload_id,
                    str(path),
                    name or path.name,
                    size,
                    digest,
                    kind,
                    ctype,
                    json.dumps(meta or {}, ensure_ascii=False, default=str),
                    int(delete_after),
                    time.time(),
                ),
            )
        return upload_id

    def next_due(self, now: float | None = None) -> QueuedUpload | None:
        """The oldest pending upload whose retry time has come."""
        now = time.time() if now is None else now
        with self.db.transaction() as con:
            cur = con.execute(
                "SELECT * FROM uploads WHERE state = 'pending' AND next_try_at <= ? "
                "ORDER BY created_at, id LIMIT 1",
                (now,),
            )
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        return None if row is None else _row(dict(zip(names, row, strict=True)))

    def next_try_at(self) -> float | None:
        with self.db.transaction() as con:
            row = con.execute(
                "SELECT min(next_try_at) FROM uploads WHERE state = 'pending'"
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def get(self, upload_id: str) -> QueuedUpload | None:
        with self.db.transaction() as con:
            cur = con.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        return None if row is None else _row(dict(zip(names, row, strict=True)))

    def state(self, upload_id: str) -> UploadStateName | None:
        item = self.get(upload_id)
        return None if item is None else item.state

    def set_remote(self, upload_id: str, file_id: str | None, upload_url: str | None) -> None:
        self._update(upload_id, file_id=file_id, upload_url=upload_url)

    def set_retry(self, upload_id: str, *, attempts: int, next_try_at: float, error: str) -> None:
        self._update(upload_id, attempts=attempts, next_try_at=next_try_at, last_error=error[:500])

    def mark_done(self, upload_id: str) -> None:
        self._update(upload_id, state="done", done_at=time.time(), last_error="")

    def mark_failed(self, upload_id: str, error: str) -> None:
        self._update(upload_id, state="failed", done_at=time.time(), last_error=error[:500])

    def prune(self, older_than_s: float) -> int:
        """Forget finished rows older than ``older_than_s``; return how many."""
        cutoff = time.time() - older_than_s
        with self.db.transaction() as con:
            cur = con.execute(
                "DELETE FROM uploads WHERE state != 'pending' AND done_at < ?", (cutoff,)
            )
            return int(cur.rowcount)

    def stats(self) -> UploadStats:
        with self.db.transaction() as con:
            counts = dict(
                con.execute("SELECT state, count(*) FROM uploads GROUP BY state").fetchall()
            )
            pending_bytes = con.execute(
                "SELECT coalesce(sum(size), 0) FROM uploads WHERE state = 'pending'"
            ).fetchone()[0]
            error = con.execute(
                "SELECT last_error FROM uploads WHERE state = 'pending' AND last_error != '' "
                "ORDER BY created_at LIMIT 1"
            ).fetchone()
        return UploadStats(
            pending=int(counts.get("pending", 0)),
            pending_bytes=int(pending_bytes),
            failed=int(counts.get("failed", 0)),
            done=int(counts.get("done", 0)),
            last_error=error[0] if error else "",
        )

    def _update(self, upload_id: str, **values: Any) -> None:
        columns = ", ".join(f"{k} = ?" for k in values)
        with self.db.transaction() as con:
            con.execute(f"UPDATE uploads SET {columns} WHERE id = ?", (*values.values(), upload_id))


def _row(values: dict[str, Any]) -> QueuedUpload:
    return QueuedUpload(
        id=values["id"],
        path=Path(values["path"]),
        name=values["name"],
        size=int(values["size"]),
        sha256=values["sha256"],
        kind=values["kind"],
        content_type=values["content_type"],
        meta=json.loads(values["meta"]),
        delete_after=bool(values["delete_after"]),
        state=values["state"],
        file_id=values["file_id"],
        upload_url=values["upload_url"],
        attempts=int(values["attempts"]),
        next_try_at=float(values["next_try_at"]),
        last_error=values["last_error"],
        created_at=float(values["created_at"]),
    )
