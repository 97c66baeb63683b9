"""Finished segments: reading ffmpeg's segment list, the ledger of queued segments, retention.

The ledger (``ledger.jsonl`` in the instance's output directory, one fsynced line per segment
queued for upload) is what makes the recorder restartable: a segment file that is not in it was
never queued, and after a crash or power cut such leftovers are queued on start.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

SEGMENT_SUFFIX = ".mp4"
LEDGER = "ledger.jsonl"


@dataclass(frozen=True, slots=True)
class ListedSegment:
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    path: str  # relative to the output directory
    upload_id: str | None
    session_id: str
    queued_at: float
    size: int


class SegmentList:
    """Incremental reader of one CSV segment list (``name,start,end`` per closed segment)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def read_new(self) -> list[ListedSegment]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        found = []
        for line in data[: end + 1].decode(errors="replace").splitlines():
            parts = line.rsplit(",", 2)
            try:
                found.append(ListedSegment(parts[0].strip('"'), float(parts[1]), float(parts[2])))
            except (IndexError, ValueError):
                continue
        return found


class Ledger:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LEDGER
        self.entries: dict[str, LedgerEntry] = {}
        if self.path.exists():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    entry = LedgerEntry(**json.loads(line))
                except (ValueError, TypeError):
                    continue  # a torn last line after a power cut
                self.entries[entry.path] = entry

    def __contains__(self, path: Path) -> bool:
        return self.key(path) in self.entries

    def key(self, path: Path) -> str:
        return path.relative_to(self.directory).as_posix()

    def add(self, path: Path, upload_id: str | None, session_id: str, size: int) -> LedgerEntry:
        entry = LedgerEntry(self.key(path), upload_id, session_id, time.time(), size)
        self.entries[entry.path] = entry
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(entry), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return entry

    def forget(self, keys: Iterable[str]) -> None:
        """Drop entries (their files are deleted) and rewrite the ledger atomically."""
        for key in keys:
            self.entries.pop(key, None)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for entry in self.entries.values():
                f.write(json.dumps(asdict(entry), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def unqueued_segments(directory: Path, ledger: Ledger, exclude: set[Path]) -> list[Path]:
    """Segment files under ``directory`` that were never queued, oldest first."""
    found = [
        p
        for p in directory.rglob(f"*{SEGMENT_SUFFIX}")
        if p.is_file() and p not in ledger and p not in exclude
    ]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


@dataclass(frozen=True, slots=True)
class RetentionResult:
    deleted: int = 0
    deleted_not_uploaded: tuple[str, ...] = ()
    freed_bytes: int = 0
    still_critical: bool = False


def free_bytes(path: Path) -> int:
    return int(shutil.disk_usage(path).free)


def apply_retention(
    ledger: Ledger,
    *,
    retention_days: float,
    critical_free_bytes: int,
    uploaded: Callable[[LedgerEntry], bool],
    protect: set[Path],
    now: float | None = None,
    disk_free: Callable[[], int] | None = None,
) -> RetentionResult:
    """Delete uploaded segments older than ``retention_days``. When free space is below
    ``critical_free_bytes``, delete uploaded segments of any age, then the oldest segments not
    yet uploaded (never those in ``protect``), until it is above again; report those."""
    now = time.time() if now is None else now
    disk_free = disk_free or (lambda: free_bytes(ledger.directory))
    cutoff = now - retention_days * 86400
    gone: list[str] = []
    lost: list[str] = []
    freed = deleted = 0

    def delete(entry: LedgerEntry) -> None:
        nonlocal freed, deleted
        path = ledger.directory / entry.path
        try:
            size = path.stat().st_size
            path.unlink()
            freed += size
            deleted += 1
        except FileNotFoundError:
            pass
        gone.append(entry.path)

    by_age = sorted(ledger.entries.values(), key=lambda e: e.queued_at)
    for entry in by_age:
        path = ledger.directory / entry.path
        if not path.exists():
            gone.append(entry.path)
        elif uploaded(entry) and _mtime(path) < cutoff:
            delete(entry)
    critical = disk_free() < critical_free_bytes
    if critical:
        for want_uploaded in (True, False):
            for entry in by_age:
                if entry.path in gone or (ledger.directory / entry.path) in protect:
                    continue
                if uploaded(entry) != want_uploaded:
                    continue
                if disk_free() >= critical_free_bytes:
                    break
                delete(entry)
                if not want_uploaded:
                    lost.append(entry.path)
        critical = disk_free() < critical_free_bytes
    if gone:
        ledger.forget(gone)
    return RetentionResult(deleted, tuple(lost), freed, critical)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
