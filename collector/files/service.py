"""Resumable uploads with checksums: a small tus-like protocol over HTTP.

The protocol, as an uploader (the edge agent, a burn station, a script) speaks it; every path
is below ``/api/v1``:

1. ``POST /files`` with JSON ``{name, size, sha256, content_type?, device_id?, meta?}``
   (``sha256``: 64 hex digits of the whole file) → ``201`` with
   ``{id, offset: 0, upload_url, state, ...}`` and the headers ``Location`` and
   ``Upload-Offset: 0``. A ``size`` of 0 is verified and completed at once.
2. ``PATCH {upload_url}`` with the header ``Upload-Offset: n`` (the offset the client
   believes the server has), ``Content-Type: application/offset+octet-stream`` and the next
   bytes as the body. Answers:

   * ``204`` with ``Upload-Offset`` (the new offset) and ``Upload-State``;
   * ``409`` when ``n`` is not the server's offset, or another PATCH of the same upload is
     running: body ``{detail, offset}``, header ``Upload-Offset`` — continue from there;
   * ``413`` when the body would run past ``size``: nothing of this request is kept;
   * ``409`` with ``state`` when the upload is already complete or failed;
   * ``422`` with ``{detail, expected, actual}`` when the last byte arrived and the SHA-256 of
     the whole file differs: the upload is ``failed``, its bytes are discarded and the client
     starts over with a new ``POST``.

   If the connection breaks in the middle of a body, every byte that reached the collector is
   kept and counts: the next ``HEAD`` tells how far it got.
3. ``HEAD {upload_url}`` → ``200`` with ``Upload-Offset``, ``Upload-Length`` and
   ``Upload-State``. After any interruption (network, client or collector restart) a client
   asks ``HEAD`` and sends ``PATCH`` from that offset. Chunks may be of any size.
4. ``GET /files/{id}`` returns the metadata; ``GET /files/{id}/content`` streams a complete
   file, honouring a single ``Range: bytes=…`` (``206``).

Durability: the bytes of a PATCH are fsynced before the new offset is committed to the
database, so the stored offset never runs ahead of the disk; bytes written beyond it (a crash
between write and commit) are cut off by the next PATCH. The finished file is fsynced and moved
to its final key before the upload is marked complete.

Checksum: the SHA-256 is computed incrementally across PATCHes in process memory. After a
collector restart (or when the bounded cache dropped the upload) the whole file is hashed
once on completion instead, so the check never depends on state that a restart loses.

Abandoned uploads: an upload that received no bytes for ``files.abandon_after_days`` is
marked ``failed`` and its partial bytes are deleted by a daily job
(:func:`expire_abandoned`); an uploader that comes back finds it failed and starts over.

Limits: the per-upload lock is in-process; several collectors must not share one upload
directory behind a load balancer without sticky routing (the conditional offset update in the
database still refuses a second writer's commit).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import update
from sqlmodel import Session, select

from collector.db_types import utcnow
from collector.files.models import StoredFile, UploadState
from collector.files.store import FileStore
from contract.ids import uuid7


class UploadError(Exception):
    """Base of the errors an upload request can end with."""


class UploadNotFound(UploadError):
    pass


class UploadTooLarge(UploadError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"upload of {size} bytes exceeds the limit of {limit} bytes")
        self.limit = limit


class OffsetMismatch(UploadError):
    def __init__(self, offset: int, message: str = "") -> None:
        super().__init__(message or f"offset mismatch; the upload is at {offset}")
        self.offset = offset


class UploadBusy(OffsetMismatch):
    def __init__(self, offset: int) -> None:
        super().__init__(offset, "another PATCH of this upload is in progress")


class UploadClosed(UploadError):
    def __init__(self, state: UploadState, offset: int) -> None:
        super().__init__(f"upload is {state.value}")
        self.state = state
        self.offset = offset


class ChunkTooLarge(UploadError):
    def __init__(self, offset: int, size: int) -> None:
        super().__init__(f"body runs past the declared size of {size} bytes (at {offset})")
        self.offset = offset


class ChecksumMismatch(UploadError):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__("SHA-256 of the received file differs from the declared one")
        self.expected = expected
        self.actual = actual


def partial_key(file_id: str) -> str:
    return f"uploads/{file_id}.part"


@dataclass
class ChunkWriter:
    """One PATCH in progress: appends to the partial file and feeds the hasher."""

    file_id: str
    start: int
    size: int
    fh: BinaryIO | None
    hasher: Any | None  # hashlib sha256 object, or None when it must be rebuilt on completion
    written: int = field(default=0)

    @property
    def offset(self) -> int:
        return self.start + self.written

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self.fh is None or self.offset + len(data) > self.size:
            raise ChunkTooLarge(self.offset, self.size)
        self.fh.write(data)
        if self.hasher is not None:
            self.hasher.update(data)
        self.written += len(data)


class FileService:
    """Uploads and downloads over a :class:`FileStore`; one per process (it holds the
    per-upload locks and the incremental hash states)."""

    def __init__(self, store: FileStore, *, max_upload_bytes: int, hash_cache: int = 1024) -> None:
        self.store = store
        self.max_upload_bytes = max_upload_bytes
        self._hash_cache = hash_cache
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._hashers: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    # -- creation and lookup -------------------------------------------------------------

    def create_upload(
        self,
        session: Session,
        *,
        name: str,
        size: int,
        sha256: str,
        content_type: str = "application/octet-stream",
        device_id: str | None = None,
        centre_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> StoredFile:
        """Create an upload; a zero-byte upload is verified and completed at once
        (raising :class:`ChecksumMismatch` after recording the failure)."""
        if size > self.max_upload_bytes:
            raise UploadTooLarge(size, self.max_upload_bytes)
        file_id = str(uuid7())
        now = utcnow()
        row = StoredFile(
            id=file_id,
            name=name,
            size=size,
            sha256=sha256.lower(),
            store_key=f"files/{now:%Y/%m}/{file_id}",
            content_type=content_type,
            device_id=device_id,
            centre_id=centre_id,
            meta=meta or {},
            created_at=now,
        )
        session.add(row)
        session.commit()
        if size == 0:
            self.store.open_append(partial_key(file_id), 0).close()
            self._complete(session, row, hashlib.sha256())
        return row

    def get_upload(self, session: Session, file_id: str) -> StoredFile | None:
        return session.get(StoredFile, file_id)

    # -- PATCH ---------------------------------------------------------------------------

    def begin_chunk(self, session: Session, file_id: str, offset: int) -> ChunkWriter:
        """Check the offset and lock the upload for one PATCH. The caller must call
        :meth:`end_chunk` with the writer whatever happens."""
        row = session.get(StoredFile, file_id)
        if row is None:
            raise UploadNotFound(file_id)
        if row.state != UploadState.UPLOADING:
            raise UploadClosed(UploadState(row.state), row.received)
        with self._lock:
            if file_id in self._active:
                raise UploadBusy(row.received)
            self._active.add(file_id)
        try:
            key = partial_key(file_id)
            if row.received < row.size or self.store.exists(key):
                on_disk = self.store.size(key) if self.store.exists(key) else 0
                if on_disk < row.received:  # the disk lost bytes the database counted
                    row.received = on_disk
                    session.add(row)
                    session.commit()
            if offset != row.received:
                raise OffsetMismatch(row.received)
            fh = self.store.open_append(key, offset) if row.received < row.size else None
            return ChunkWriter(file_id, offset, row.size, fh, self._take_hasher(file_id, offset))
        except BaseException:
            self._release(file_id)
            raise

    def end_chunk(self, session: Session, writer: ChunkWriter, *, keep: bool = True) -> StoredFile:
        """Make the PATCH's bytes durable and commit the new offset (``keep``), or cut them
        off again; completes and verifies the upload when the last byte arrived."""
        try:
            if writer.fh is not None:
                if not keep:
                    writer.fh.truncate(writer.start)
                    writer.written = 0
                    writer.hasher = None
                self.store.sync(writer.fh)
                writer.fh.close()
            new_offset = writer.offset
            if new_offset != writer.start and not _update_uploading(
                session, writer.file_id, writer.start, received=new_offset
            ):
                row = session.get(StoredFile, writer.file_id)
                raise OffsetMismatch(row.received if row else 0)
            row = session.get(StoredFile, writer.file_id)
            if row is None:
                raise UploadNotFound(writer.file_id)
            session.refresh(row)
            if writer.hasher is not None:
                self._keep_hasher(writer.file_id, new_offset, writer.hasher)
            if row.received == row.size and row.state == UploadState.UPLOADING:
                hasher = self._take_hasher(writer.file_id, row.size)
                self._complete(session, row, hasher)
            return row
        finally:
            if writer.fh is not None and not writer.fh.closed:
                writer.fh.close()
            self._release(writer.file_id)

    # -- content -------------------------------------------------------------------------

    def open_content(self, row: StoredFile, start: int = 0, end: int | None = None) -> Any:
        """An iterator over bytes ``start <= i < end`` of a complete file."""
        if row.state != UploadState.COMPLETE:
            raise UploadClosed(UploadState(row.state), row.received)
        return self.store.iter_bytes(row.store_key, start, end)

    # -- internals -----------------------------------------------------------------------

    def _complete(self, session: Session, row: StoredFile, hasher: Any | None) -> None:
        part = partial_key(row.id)
        # A crash between the move and the commit leaves the bytes under the final key.
        key = part if self.store.exists(part) else row.store_key
        if hasher is None:
            hasher = hashlib.sha256()
            for data in self.store.iter_bytes(key):
                hasher.update(data)
        actual = hasher.hexdigest()
        if actual != row.sha256:
            self.store.delete(key)
            row.state = UploadState.FAILED
            session.add(row)
            session.commit()
            raise ChecksumMismatch(row.sha256, actual)
        if key == part:
            self.store.finalise(part, row.store_key)
        row.state = UploadState.COMPLETE
        row.completed_at = utcnow()
        session.add(row)
        session.commit()

    def _take_hasher(self, file_id: str, offset: int) -> Any | None:
        with self._lock:
            cached = self._hashers.pop(file_id, None)
        if cached is not None and cached[0] == offset:
            return cached[1]
        return hashlib.sha256() if offset == 0 else None

    def _keep_hasher(self, file_id: str, offset: int, hasher: Any) -> None:
        with self._lock:
            self._hashers[file_id] = (offset, hasher)
            self._hashers.move_to_end(file_id)
            while len(self._hashers) > self._hash_cache:
                self._hashers.popitem(last=False)

    def _release(self, file_id: str) -> None:
        with self._lock:
            self._active.discard(file_id)


def expire_abandoned(
    session: Session, store: FileStore, *, idle: timedelta, now: datetime | None = None
) -> list[str]:
    """Mark uploads that received nothing for ``idle`` failed and delete their partial
    bytes; the ids of those expired. An upload written to meanwhile is left alone."""
    cutoff = (now or utcnow()) - idle
    rows = session.exec(
        select(StoredFile).where(
            StoredFile.state == UploadState.UPLOADING,
            StoredFile.created_at < cutoff,  # type: ignore[arg-type,operator]
        )
    ).all()
    expired = []
    for row in rows:
        touched = store.modified_at(partial_key(row.id))
        if touched is not None and touched >= cutoff:
            continue
        failed = {"state": UploadState.FAILED, "meta": {**row.meta, "failure": "abandoned"}}
        if _update_uploading(session, row.id, row.received, **failed):
            store.delete(partial_key(row.id))
            expired.append(row.id)
    return expired


def _update_uploading(session: Session, file_id: str, offset: int, **values: Any) -> bool:
    """Set ``values`` on an upload still uploading with ``offset`` bytes, and commit; False
    when it moved on meanwhile (another PATCH, completion, expiry)."""
    result = session.execute(
        update(StoredFile)
        .where(
            StoredFile.id == file_id,  # type: ignore[arg-type]
            StoredFile.received == offset,  # type: ignore[arg-type]
            StoredFile.state == UploadState.UPLOADING,  # type: ignore[arg-type]
        )
        .values(**values)
    )
    session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]
