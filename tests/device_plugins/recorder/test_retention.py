"""Local retention: uploaded segments go after N days; not-uploaded ones only when the disk is
critically low, oldest first, and that is reported."""

from __future__ import annotations

import os
import time
from pathlib import Path

from device_plugins.recorder.segments import Ledger, apply_retention

DAY = 86400.0


def make_ledger(root: Path, ages_days: dict[str, float], uploaded: set[str]) -> Ledger:
    ledger = Ledger(root)
    now = time.time()
    for i, (name, age) in enumerate(ages_days.items()):
        path = root / "S1" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age * DAY, now - age * DAY))
        ledger.add(path, f"u-{name}" if name in uploaded else None, "S1", 1000)
        entry = ledger.entries[f"S1/{name}"]
        ledger.entries[entry.path] = type(entry)(
            entry.path, entry.upload_id, entry.session_id, now - age * DAY + i, entry.size
        )
    return ledger


def test_uploaded_segments_older_than_retention_are_deleted(tmp_path: Path) -> None:
    ledger = make_ledger(
        tmp_path,
        {"old-up.mp4": 40, "old-pending.mp4": 40, "new-up.mp4": 1},
        {"old-up.mp4", "new-up.mp4"},
    )
    result = apply_retention(
        ledger,
        retention_days=30,
        critical_free_bytes=0,
        uploaded=lambda e: e.upload_id is not None,
        protect=set(),
    )
    assert result.deleted == 1 and result.deleted_not_uploaded == ()
    assert not (tmp_path / "S1" / "old-up.mp4").exists()
    assert (tmp_path / "S1" / "old-pending.mp4").exists(), "never uploaded: kept"
    assert (tmp_path / "S1" / "new-up.mp4").exists()
    assert set(Ledger(tmp_path).entries) == {"S1/old-pending.mp4", "S1/new-up.mp4"}


def test_critically_low_disk_deletes_uploaded_then_oldest_pending_and_reports(
    tmp_path: Path,
) -> None:
    ledger = make_ledger(
        tmp_path,
        {"a.mp4": 5, "b.mp4": 4, "c.mp4": 3, "d.mp4": 2, "open.mp4": 0},
        {"c.mp4"},
    )
    free = {"bytes": 1000}

    def disk_free() -> int:  # the disk as the deletions leave it
        remaining = sum(1000 for p in (tmp_path / "S1").iterdir())
        return free["bytes"] + (5000 - remaining)

    result = apply_retention(
        ledger,
        retention_days=30,
        critical_free_bytes=3500,
        uploaded=lambda e: e.upload_id is not None,
        protect={tmp_path / "S1" / "open.mp4"},
        disk_free=disk_free,
    )
    # c (uploaded) first, then the oldest not uploaded: a, then b.
    assert not (tmp_path / "S1" / "c.mp4").exists()
    assert result.deleted_not_uploaded == ("S1/a.mp4", "S1/b.mp4")
    assert (tmp_path / "S1" / "d.mp4").exists() and (tmp_path / "S1" / "open.mp4").exists()
    assert result.deleted == 3 and not result.still_critical


def test_nothing_left_to_delete_is_reported(tmp_path: Path) -> None:
    ledger = make_ledger(tmp_path, {"open.mp4": 0}, set())
    result = apply_retention(
        ledger,
        retention_days=30,
        critical_free_bytes=10**12,
        uploaded=lambda e: False,
        protect={tmp_path / "S1" / "open.mp4"},
        disk_free=lambda: 0,
    )
    assert result.still_critical and result.deleted == 0
    assert (tmp_path / "S1" / "open.mp4").exists()
