"""An idle drive's medium is read again now and then, and only a change is reported."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from burn_station.drives import DrivePool
from burn_station.settings import DriveConfig
from contract.payloads.burn import DriveState


class Reports:
    def __init__(self) -> None:
        self.states: list[DriveState] = []
        self._lock = threading.Lock()

    def __call__(self, state: DriveState) -> None:
        with self._lock:
            self.states.append(state)

    def count(self) -> int:
        with self._lock:
            return len(self.states)


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def written_disc(tmp_path: Path) -> Path:
    """An ISO image with one file: a recorded disc, for a file-backed drive."""
    source = tmp_path / "files"
    source.mkdir()
    (source / "a.txt").write_text("archive")
    image = tmp_path / "written.iso"
    subprocess.run(
        ["xorriso", "-outdev", f"stdio:{image}", "-map", str(source), "/", "-commit"],
        check=True,
        capture_output=True,
    )
    return image


def pool_of(disc: Path, reports: Reports) -> DrivePool:
    drive = DriveConfig(id="d1", device=f"stdio:{disc}", media=["dvd"])
    pool = DrivePool([drive], on_state=reports, poll_s=0.1)
    first = pool.drives["d1"].detect()
    assert first.medium is not None and first.medium.blank
    return pool


def test_a_disc_put_in_an_idle_drive_is_reported_once(tmp_path: Path) -> None:
    reports = Reports()
    disc = tmp_path / "d1.iso"
    pool = pool_of(disc, reports)
    image = written_disc(tmp_path)
    pool.start()
    try:
        time.sleep(0.6)  # several polls of an unchanged drive
        assert reports.count() == 1
        image.replace(disc)  # someone put a recorded disc in the drive
        wait_for(lambda: reports.count() >= 2)
        time.sleep(0.6)
        assert reports.count() == 2
        last = reports.states[-1]
        assert last.medium is not None and not last.medium.blank and last.state == "idle"
    finally:
        pool.stop()


def test_a_drive_in_use_is_not_polled(tmp_path: Path) -> None:
    reports = Reports()
    disc = tmp_path / "d1.iso"
    pool = pool_of(disc, reports)
    image = written_disc(tmp_path)
    drive = pool.drives["d1"]
    pool.start()
    try:
        with drive.in_use:  # a burn or a re-verify holds the drive
            image.replace(disc)
            time.sleep(0.6)
            assert reports.count() == 1
        wait_for(lambda: reports.count() == 2)  # polled again once the drive is free
    finally:
        pool.stop()
