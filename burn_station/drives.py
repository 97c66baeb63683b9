"""Drives: one worker thread per drive, one xorriso process at a time on it, a shared queue of
burn tasks that any eligible drive takes.

A task burns one image, verifies the disc against its recorded MD5s, and burns a fresh disc
again when the verify fails (up to ``max_reburns`` times). A drive failing mid-burn fails
that task only; the drive is marked ``error`` and tries again with its next task.

File drives (``stdio:/path/disc.iso``) simulate a drive with a disc tray: the file is the disc
in the drive; ejecting moves it to ``ejected/`` next to it, so a missing file is a blank disc.
A hard-disk target (``dir:/mnt/backup``) writes each disc as its own ISO file there.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from burn_station import xorriso
from burn_station.settings import DriveConfig
from contract.payloads.burn import DriveState, MediumInfo


class DriveError(RuntimeError):
    pass


@dataclass
class BurnTask:
    job_id: UUID
    image: Path
    volume_id: str
    medium: str
    drives: list[str]
    stop: threading.Event
    max_reburns: int
    on_attempt: Callable[[AttemptResult], None] = lambda r: None
    on_progress: Callable[[float], None] = lambda f: None
    future: Future[AttemptResult] = field(default_factory=Future)


@dataclass(frozen=True)
class AttemptResult:
    drive: str
    disc_path: str  # the disc afterwards: a device, or the ejected/written ISO file
    medium_type: str
    ok: bool
    detail: str
    attempt: int
    burned_at: datetime


AfterBurnHook = Callable[[str, str], None]
"""Test seam: called with (drive id, device) after each burn, before its verify."""


class Drive:
    def __init__(self, config: DriveConfig, on_state: Callable[[DriveState], None]) -> None:
        self.config = config
        self.id = config.id
        self._on_state = on_state
        self.state: DriveState = DriveState(drive=self.id, device=config.device, state="idle")
        # Held while a burn or a re-verify uses the drive, so a medium poll never runs
        # xorriso against a device another xorriso has open.
        self.in_use = threading.Lock()

    # -- device kinds ----------------------------------------------------------------------

    @property
    def is_file(self) -> bool:
        return self.config.device.startswith("stdio:")

    @property
    def is_dir(self) -> bool:
        return self.config.device.startswith("dir:")

    def file_path(self) -> Path:
        return Path(self.config.device.removeprefix("stdio:"))

    def target(self, volume_id: str, job_id: UUID) -> str:
        if self.is_dir:
            root = Path(self.config.device.removeprefix("dir:"))
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            return f"stdio:{root / job_id.hex[:8] / f'{volume_id}_{stamp}.iso'}"
        return self.config.device

    # -- state -----------------------------------------------------------------------------

    def set_state(self, state: str, *, job_id: UUID | None = None, message: str = "") -> None:
        medium = self.state.medium
        new = DriveState(
            drive=self.id,
            device=self.config.device,
            state=state,  # type: ignore[arg-type]
            medium=medium,
            job_id=job_id,
            message=message[:500],
        )
        if new != self.state:
            self.state = new
            self._on_state(new)

    def detect(self, *, report_unchanged: bool = True) -> DriveState:
        """Read the medium (type, blank, capacity) and report it (only if it changed, when
        ``report_unchanged`` is false)."""
        before = self.state
        try:
            m = self._media(self.config.device if not self.is_dir else "")
        except xorriso.XorrisoError as exc:
            self.set_state("error", message=str(exc))
            return self.state
        info = None
        if m is not None and m.present:
            cap = self.config.capacity_bytes or m.capacity_bytes
            free = min(m.free_bytes, cap) if self.config.capacity_bytes else m.free_bytes
            info = MediumInfo(type=m.type, blank=m.blank, capacity_bytes=cap, free_bytes=free)
        self.state = self.state.model_copy(update={"medium": info})
        if report_unchanged or _differs(before, self.state):
            self._on_state(self.state)
        return self.state

    def poll(self) -> None:
        """Read the medium of an idle drive again, reporting only a change (a disc put in,
        taken out or written elsewhere), so the console's drives page stays true."""
        if not self.in_use.acquire(blocking=False):
            return
        try:
            if self.state.state != "busy":
                self.detect(report_unchanged=False)
        finally:
            self.in_use.release()

    def _media(self, device: str) -> xorriso.Media | None:
        if self.is_dir:
            root = Path(self.config.device.removeprefix("dir:"))
            root.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(root).free
            cap = self.config.capacity_bytes or free
            return xorriso.Media(True, "hard disk", True, min(free, cap), cap)
        if self.is_file and not self.file_path().exists():
            self.file_path().parent.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.file_path().parent).free
            cap = self.config.capacity_bytes or free
            return xorriso.Media(True, "stdio file", True, min(free, cap), cap)
        return xorriso.media(device)

    def capacity(self) -> int | None:
        """Capacity of the blank medium in the drive, or the configured one; None if unknown."""
        if self.config.capacity_bytes:
            return self.config.capacity_bytes
        m = self.state.medium
        return m.capacity_bytes if m is not None and m.blank else None

    # -- discs -----------------------------------------------------------------------------

    def eject(self, job_id: UUID, volume_id: str) -> str:
        """Take the disc out; return where it went (a file for file drives)."""
        if self.is_file:
            src = self.file_path()
            if not src.is_file():  # absent, or a device behind the path: nothing to move
                return ""
            dest = src.parent / "ejected" / f"{volume_id}_{job_id.hex[:8]}_{time.time_ns()}.iso"
            dest.parent.mkdir(parents=True, exist_ok=True)
            src.replace(dest)
            return str(dest)
        if not self.is_dir:
            xorriso.run(["-outdev", self.config.device, "-eject", "all"], timeout_s=120)
        return self.config.device

    def wait_blank(self, task: BurnTask, wait_s: float) -> xorriso.Media:
        """Wait until a blank medium is in the drive (an operator or a robot loads it)."""
        deadline = time.monotonic() + wait_s
        while True:
            m = self._media(self.config.device)
            if m is not None and m.present and m.blank:
                return m
            if self.is_file:  # a used disc sits in a file drive: it goes out, a blank comes in
                self.eject(task.job_id, "USED")
                continue
            self.set_state("busy", job_id=task.job_id, message="waiting for a blank disc")
            if time.monotonic() > deadline:
                raise DriveError(f"drive {self.id}: no blank disc after {wait_s:g}s")
            if task.stop.wait(5):
                raise xorriso.XorrisoStopped("stopped")


def _differs(before: DriveState, after: DriveState) -> bool:
    """A change worth reporting. The free space of a file or folder target is the file
    system's, which moves with every write on the PC: only a move of over 1 % counts."""
    old, new = before.medium, after.medium
    if before.state != after.state or (old is None) != (new is None):
        return True
    if old is None or new is None:
        return False
    if (old.type, old.blank) != (new.type, new.blank):
        return True
    return abs(old.free_bytes - new.free_bytes) > max(old.capacity_bytes, 1) // 100


class DrivePool:
    """The drives of a station and the queue of burn tasks they share."""

    def __init__(
        self,
        configs: list[DriveConfig],
        *,
        on_state: Callable[[DriveState], None],
        media_wait_s: float = 1800.0,
        after_burn: AfterBurnHook | None = None,
        poll_s: float = 0.0,
    ) -> None:
        self.drives = {c.id: Drive(c, on_state) for c in configs}
        self.media_wait_s = media_wait_s
        self.poll_s = poll_s
        self.after_burn = after_burn
        self._pending: list[BurnTask] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for drive in self.drives.values():
            thread = threading.Thread(
                target=self._worker, args=(drive,), name=f"drive/{drive.id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            for task in self._pending:
                task.future.set_exception(DriveError("station stopping"))
            self._pending.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(10)

    def eligible(self, medium: str, wanted: list[str]) -> list[Drive]:
        return [
            d
            for d in self.drives.values()
            if medium in d.config.media and (not wanted or d.id in wanted)
        ]

    def submit(self, task: BurnTask) -> Future[AttemptResult]:
        if not self.eligible(task.medium, task.drives):
            raise DriveError(f"no drive takes {task.medium} media (wanted {task.drives or 'any'})")
        with self._cond:
            self._pending.append(task)
            self._cond.notify_all()
        return task.future

    def _take(self, drive: Drive, timeout: float | None = None) -> BurnTask | None:
        """The next task this drive can burn; None when stopping or after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                for task in self._pending:
                    if task.stop.is_set():
                        self._pending.remove(task)
                        task.future.set_exception(xorriso.XorrisoStopped("cancelled"))
                        break
                    if drive in self.eligible(task.medium, task.drives):
                        self._pending.remove(task)
                        return task
                else:
                    self._cond.wait(0.5)
        return None

    def _worker(self, drive: Drive) -> None:
        while not self._stop.is_set():
            task = self._take(drive, self.poll_s or None)
            if task is None:
                if self.poll_s and not self._stop.is_set():
                    drive.poll()
                continue
            if not task.future.set_running_or_notify_cancel():
                continue
            try:
                with drive.in_use:
                    result = self._burn(drive, task)
            except Exception as exc:  # the task's failure, not the drive thread's
                stopped = isinstance(exc, xorriso.XorrisoStopped)
                drive.set_state("idle" if stopped else "error", message=str(exc))
                task.future.set_exception(exc)
            else:
                drive.set_state("idle")
                task.future.set_result(result)

    def _burn(self, drive: Drive, task: BurnTask) -> AttemptResult:
        size = task.image.stat().st_size
        for attempt in range(1, task.max_reburns + 2):
            drive.set_state("busy", job_id=task.job_id, message=f"burning {task.volume_id}")
            device = drive.target(task.volume_id, task.job_id)
            if not drive.is_dir:
                m = drive.wait_blank(task, self.media_wait_s)
                cap = min(m.free_bytes, drive.config.capacity_bytes or m.free_bytes)
                if size > cap:
                    raise DriveError(f"drive {drive.id}: image {size} bytes > medium {cap} bytes")
                medium_type = m.type
            else:
                Path(device.removeprefix("stdio:")).parent.mkdir(parents=True, exist_ok=True)
                medium_type = "hard disk"
            xorriso.run(
                xorriso.burn_args(device, task.image),
                timeout_s=max(600.0, size / 1e6),
                stop=task.stop,
                on_progress=task.on_progress,
            )
            burned_at = datetime.now(UTC)
            if self.after_burn is not None:
                self.after_burn(drive.id, device)
            drive.set_state("busy", job_id=task.job_id, message=f"verifying {task.volume_id}")
            ok, detail = xorriso.verify(device, stop=task.stop, timeout_s=max(600.0, size / 1e6))
            where = (
                device.removeprefix("stdio:")
                if drive.is_dir
                else drive.eject(task.job_id, task.volume_id)
            )
            result = AttemptResult(drive.id, where, medium_type, ok, detail, attempt, burned_at)
            task.on_attempt(result)
            if ok:
                return result
        raise DriveError(
            f"drive {drive.id}: {task.volume_id} failed verification {task.max_reburns + 1} times"
        )
