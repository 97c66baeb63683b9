"""The file-store interface and the local-directory store.

A store holds opaque byte objects under *keys*: relative POSIX paths such as
``uploads/0190….part`` or ``files/2025/01/0190…``. Keys never contain ``..``, ``.``, empty
segments, backslashes or NUL and are never absolute, so a key cannot leave the store.

Uploads are written in two phases: bytes are appended to a *partial* key at an offset
(:meth:`FileStore.open_append`), and when the upload is complete and verified the partial key
is turned into the final key with :meth:`FileStore.finalise`, which makes the object durable.

Seam for object storage: an S3-compatible store cannot append at an offset, so it would keep
partial uploads in a local staging directory (a :class:`LocalFileStore`) and implement
``finalise`` as "upload the staged file to the bucket, then delete it"; reads, ``size``,
``exists`` and ``delete`` of final keys go to the bucket. Nothing outside this module needs to
change for that.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1024 * 1024

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class InvalidKey(ValueError):
    """A key that is absolute, climbs out of the store or contains forbidden characters."""


class FileStore(Protocol):
    def open_append(self, key: str, offset: int) -> BinaryIO:
        """Open ``key`` for writing at ``offset``, creating it when ``offset`` is 0.

        Bytes beyond ``offset`` (left by an interrupted write) are cut off first. Raises
        :class:`ValueError` when the object is shorter than ``offset``.
        """
        ...

    def sync(self, fh: BinaryIO) -> None:
        """Flush a handle from :meth:`open_append` to stable storage."""
        ...

    def truncate(self, key: str, size: int) -> None: ...

    def iter_bytes(
        self, key: str, start: int = 0, end: int | None = None, *, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        """Yield the bytes ``start <= i < end`` of ``key`` (to the end when ``end`` is None)."""
        ...

    def size(self, key: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def modified_at(self, key: str) -> datetime | None:
        """When ``key`` was last written (None when it does not exist)."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    def finalise(self, partial_key: str, final_key: str) -> None:
        """Make ``partial_key`` durable under ``final_key`` (fsync, rename, fsync directory)."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative POSIX key, else raise :class:`InvalidKey`."""
    if not key or len(key) > 512 or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid store key {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise InvalidKey(f"invalid store key {key!r}")
    return key


class LocalFileStore:
    """A store in a local directory; keys map to files below ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # a symlink inside the store pointing out
            raise InvalidKey(f"store key {key!r} leaves the store")
        return path

    def open_append(self, key: str, offset: int) -> BinaryIO:
        path = self.path(key)
        fh: BinaryIO
        if offset == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = path.open("wb")
        else:
            fh = path.open("r+b")
            size = os.fstat(fh.fileno()).st_size
            if size < offset:
                fh.close()
                raise ValueError(f"{key}: {size} bytes stored, cannot write at {offset}")
            if size > offset:
                fh.truncate(offset)
            fh.seek(offset)
        return fh

    def sync(self, fh: BinaryIO) -> None:
        fh.flush()
        os.fsync(fh.fileno())

    def truncate(self, key: str, size: int) -> None:
        with self.path(key).open("r+b") as fh:
            fh.truncate(size)
            self.sync(fh)

    def iter_bytes(
        self, key: str, start: int = 0, end: int | None = None, *, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        with self.path(key).open("rb") as fh:
            fh.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                data = fh.read(chunk_size if remaining is None else min(chunk_size, remaining))
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def modified_at(self, key: str) -> datetime | None:
        try:
            return datetime.fromtimestamp(self.path(key).stat().st_mtime, UTC)
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def finalise(self, partial_key: str, final_key: str) -> None:
        src, dst = self.path(partial_key), self.path(final_key)
        with src.open("rb+") as fh:
            os.fsync(fh.fileno())
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        _fsync_dir(dst.parent)
        if src.parent != dst.parent:
            _fsync_dir(src.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
