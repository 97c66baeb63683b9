"""``RecorderPlugin``: the evaluation-room terminal that records every session.

It records (desktop, camera, microphone, or ffmpeg test sources; see
:mod:`device_plugins.recorder.settings`) into fixed-length MP4 segments while a session of its
``schedule`` (desired config: ``[{session_id, start, end}]``, widened by ``pre_roll_s`` and
``post_roll_s``) is under way, or after a ``<name>.start`` command until ``<name>.stop``.
Every segment ffmpeg closes is queued for upload with ``ctx.upload`` and noted in the ledger;
segments left behind by a crash or power cut are queued on the next start. Uploaded segments
are deleted after ``retention_days``; segments not yet uploaded only when the disk is
critically low, which is reported. The state goes to the health (and so the heartbeat) and,
on every change, to a ``recorder.state`` event.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contract.payloads.recorder import RecorderStatus, RecordingState, StartArgs
from device_plugins.recorder.ffmpeg_args import build_command
from device_plugins.recorder.ffmpeg_process import Exit, FfmpegProcess
from device_plugins.recorder.segments import (
    Ledger,
    LedgerEntry,
    ListedSegment,
    SegmentList,
    apply_retention,
    free_bytes,
    unqueued_segments,
)
from device_plugins.recorder.settings import RecorderSettings, active_entry
from edge_agent.plugin_api import BasePlugin, CommandRequest, PluginContext

TICK_S = 0.5
HEALTH_S = 5.0
RETENTION_S = 60.0
STABLE_AFTER_CRASH_S = 10.0
UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass
class _Run:
    """One ffmpeg run: its files are ``<stamp>_NNNNN.mp4`` next to ``.<stamp>.csv``."""

    session_id: str
    directory: Path
    stamp: str
    started_at: datetime
    segments: SegmentList = field(init=False)

    def __post_init__(self) -> None:
        self.segments = SegmentList(self.directory / f".{self.stamp}.csv")

    def files(self) -> list[Path]:
        return sorted(self.directory.glob(f"{self.stamp}_*.mp4"))


@dataclass
class _Manual:
    session_id: str
    until: float | None


class RecorderPlugin(BasePlugin):
    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self.settings = RecorderSettings.model_validate(dict(ctx.settings))
        self.directory = self.settings.output_dir / ctx.name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.directory)
        self._lock = threading.RLock()
        self._report_lock = threading.Lock()
        self._wake = threading.Event()
        self._manual: _Manual | None = None
        self._suppressed: set[str] = set()
        self._ffmpeg: FfmpegProcess | None = None
        self._run: _Run | None = None
        self._session: str | None = None
        self._reason = "stopped"
        self._restart_needed = False
        self._segments = 0
        self._error = ""
        self._pending: set[str] = set()
        self._reported: tuple[Any, ...] | None = None
        self._next_health = 0.0
        self._next_retention = 0.0
        name = ctx.name
        ctx.register_action(f"{name}.start", self._cmd_start, args_model=StartArgs)
        ctx.register_action(f"{name}.stop", self._cmd_stop)
        ctx.register_action(f"{name}.status", lambda _req: self.status().model_dump(mode="json"))

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._pending = {
            e.upload_id
            for e in self.ledger.entries.values()
            if e.upload_id and self.ctx.upload_state(e.upload_id) == "pending"
        }
        self._queue_leftovers()
        self._report(force=True)
        super().start()

    def stop(self) -> None:
        self.ctx.stop_event.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # ffmpeg gets its grace to close the open segment, then SIGTERM and SIGKILL.
            thread.join(timeout=self.settings.stop_grace_s + 15)

    def apply_config(self, settings: Mapping[str, Any]) -> None:
        new = RecorderSettings.model_validate(dict(settings))
        with self._lock:
            if new.output_dir != self.settings.output_dir and self._session is not None:
                self._restart_needed = True
            elif new.recording_fields() != self.settings.recording_fields():
                self._restart_needed = self._session is not None
            self.settings = new
        self._wake.set()

    def run(self) -> None:
        stop = self.ctx.stop_event
        try:
            while not stop.is_set():
                self._tick()
                self._wake.wait(TICK_S)
                self._wake.clear()
        finally:
            self._stop_recording("stopped")
            self._report(force=True)

    # -- the loop ----------------------------------------------------------------------------

    def _tick(self) -> None:
        wanted = self._wanted(datetime.now(UTC))
        with self._lock:
            restart, self._restart_needed = self._restart_needed, False
        if wanted is None:
            if self._session is not None:
                by_command = self._session in self._suppressed or self._reason == "command"
                self._stop_recording("stopped" if by_command else "session_end")
        elif wanted[0] != self._session or restart:
            if self._session is not None:
                self._stop_recording("restart")
            self._start_recording(*wanted)
        self._harvest()
        proc = self._ffmpeg
        if (
            self._error
            and proc is not None
            and proc.running
            and proc.started_at is not None
            and time.monotonic() - proc.started_at > STABLE_AFTER_CRASH_S
        ):
            self._error = ""
        now = time.monotonic()
        if now >= self._next_retention:
            self._next_retention = now + RETENTION_S
            self._retention()
        self._report(force=now >= self._next_health)

    def _wanted(self, now: datetime) -> tuple[str, str] | None:
        with self._lock:
            manual = self._manual
            if manual is not None and manual.until is not None and time.monotonic() > manual.until:
                self._manual = manual = None
            if manual is not None:
                return manual.session_id, "command"
            s = self.settings
            entry = active_entry(s.schedule, now, s.pre_roll_s, s.post_roll_s)
            # A session stopped by command stays stopped until its window has passed.
            live = {
                e.session_id
                for e in s.schedule
                if active_entry([e], now, s.pre_roll_s, s.post_roll_s) is not None
            }
            self._suppressed &= live
            if entry is not None and entry.session_id not in self._suppressed:
                return entry.session_id, "schedule"
            return None

    # -- recording ---------------------------------------------------------------------------

    def _start_recording(self, session_id: str, reason: str) -> None:
        s = self.settings
        if s.output_dir / self.ctx.name != self.directory:
            self.directory = s.output_dir / self.ctx.name
            self.directory.mkdir(parents=True, exist_ok=True)
            self.ledger = Ledger(self.directory)
        session_dir = self.directory / (UNSAFE.sub("_", session_id) or "session")
        session_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._session, self._reason, self._segments, self._error = session_id, reason, 0, ""
        self.ctx.logger.info("recording session %s (%s)", session_id, reason)

        def command() -> list[str]:
            now = datetime.now(UTC)
            run = _Run(session_id, session_dir, now.strftime("%Y%m%dT%H%M%S_%f"), now)
            with self._lock:
                self._run = run
            return build_command(
                self.settings,
                pattern=session_dir / f"{run.stamp}_%05d.mp4",
                segment_list=run.segments.path,
            )

        self._ffmpeg = FfmpegProcess(
            command,
            logger=self.ctx.logger,
            on_exit=self._on_exit,
            restart_min_s=s.restart_min_s,
            restart_max_s=s.restart_max_s,
            stop_grace_s=s.stop_grace_s,
            name=f"ffmpeg[{self.ctx.name}]",
        )
        self._ffmpeg.start()
        self._report()

    def _stop_recording(self, reason: str) -> None:
        proc = self._ffmpeg
        if proc is not None:
            proc.stop()  # its on_exit harvests the last segments
        with self._lock:
            self._ffmpeg = None
            if self._session is not None:
                self.ctx.logger.info("stopped recording session %s (%s)", self._session, reason)
            self._session, self._reason = None, reason
        self._report()

    def _on_exit(self, exit_: Exit) -> None:
        """ffmpeg exited (stopped, crashed or killed): queue everything of that run."""
        with self._lock:
            run = self._run
            if run is None:
                return
            self._harvest_run(run)
            for path in run.files():
                if path not in self.ledger:
                    self._queue(path, run, None, partial=True)
            if not exit_.requested:
                self._error = f"ffmpeg exited with {exit_.returncode}: {exit_.stderr_tail}"[-500:]
        if not exit_.requested:
            self._report()

    def _harvest(self) -> None:
        with self._lock:
            if self._run is not None:
                self._harvest_run(self._run)

    def _harvest_run(self, run: _Run) -> None:
        for listed in run.segments.read_new():
            path = run.directory / Path(listed.name).name
            if path.exists() and path not in self.ledger:
                self._queue(path, run, listed)

    def _queue(
        self, path: Path, run: _Run | None, listed: ListedSegment | None, *, partial: bool = False
    ) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:  # ffmpeg had opened it and written nothing
            path.unlink(missing_ok=True)
            return
        session_id = run.session_id if run is not None else path.parent.name
        meta: dict[str, Any] = {"recorder": self.ctx.name, "session_id": session_id}
        match = re.search(r"_(\d{5})\.mp4$", path.name)
        if match:
            meta["index"] = int(match.group(1))
        if run is not None and listed is not None:
            start = run.started_at + timedelta(seconds=listed.start_s)
            meta["started_at"] = start.isoformat()
            meta["duration_s"] = round(listed.end_s - listed.start_s, 3)
        if partial:
            meta["partial"] = True
        upload_id = None
        if self.settings.upload:
            try:
                upload_id = self.ctx.upload(path, kind="recording", meta=meta)
                self._pending.add(upload_id)
            except (OSError, RuntimeError) as exc:
                self.ctx.logger.error("cannot queue %s for upload: %s", path, exc)
        self.ledger.add(path, upload_id, session_id, size)
        if run is not None and run.session_id == self._session:
            self._segments += 1

    def _queue_leftovers(self) -> None:
        """Segments of an earlier run that were never queued (crash, power cut), and entries
        whose queuing failed; queued with ``partial`` set."""
        with self._lock:
            for path in unqueued_segments(self.directory, self.ledger, set()):
                self.ctx.logger.warning("queuing leftover segment %s", path)
                self._queue(path, None, None, partial=True)

    # -- retention ---------------------------------------------------------------------------

    def _uploaded(self, entry: LedgerEntry) -> bool:
        if not self.settings.upload:
            return True  # nothing will ever upload it: the retention is all there is
        return entry.upload_id is not None and self.ctx.upload_state(entry.upload_id) == "done"

    def _retention(self) -> None:
        with self._lock:
            run = self._run if self._session is not None else None
            protect = set(run.files()) if run is not None else set()
            result = apply_retention(
                self.ledger,
                retention_days=self.settings.retention_days,
                critical_free_bytes=self.settings.critical_free_bytes,
                uploaded=self._uploaded,
                protect=protect,
            )
        if result.deleted:
            self.ctx.logger.info(
                "retention deleted %d segment(s), %d bytes", result.deleted, result.freed_bytes
            )
        if result.deleted_not_uploaded or result.still_critical:
            error = (
                f"disk critically low: deleted {len(result.deleted_not_uploaded)} segment(s) "
                f"not yet uploaded ({', '.join(result.deleted_not_uploaded[:5])})"
                if result.deleted_not_uploaded
                else "disk critically low and nothing left to delete"
            )
            self.ctx.logger.error("%s", error)
            self._emit_state(self._state(), reason="disk_critical", error=error)

    # -- state ---------------------------------------------------------------------------------

    def _state(self) -> RecordingState:
        if self._session is None:
            return "idle"
        return "error" if self._error else "recording"

    def status(self) -> RecorderStatus:
        try:
            disk_free: int | None = free_bytes(self.directory)
        except OSError:
            disk_free = None
        return RecorderStatus(
            state=self._state(),
            session_id=self._session,
            reason=self._reason,
            segments=self._segments,
            disk_free_bytes=disk_free,
            uploads_pending=len(self._pending),
            error=self._error[-500:],
        )

    def _report(self, *, force: bool = False) -> None:
        """Health on every call that changes something (and every few seconds); an event
        when state, session or error change."""
        with self._report_lock:
            self._report_locked(force)

    def _report_locked(self, force: bool) -> None:
        if force:
            self._next_health = time.monotonic() + HEALTH_S
            self._pending = {u for u in self._pending if self.ctx.upload_state(u) == "pending"}
        status = self.status()
        key = (status.state, status.session_id, status.error)
        if key != self._reported:
            self._reported = key
            self.ctx.emit("recorder.state", status)
        elif not force:
            return
        free = status.disk_free_bytes
        low = free is not None and free < self.settings.low_free_bytes
        detail = status.state + (f" {status.session_id}" if status.session_id else "")
        detail += f", {status.segments} segment(s), {status.uploads_pending} upload(s) pending"
        if free is not None:
            detail += f", {free / 1024**3:.1f} GiB free"
        if status.error:
            detail += f"; {status.error}"
        self.ctx.set_health(
            "degraded" if status.state == "error" or low else "ok",
            detail,
            data=status.model_dump(exclude={"error"}),
        )

    def _emit_state(self, state: RecordingState, *, reason: str, error: str) -> None:
        status = self.status().model_copy(update={"state": state, "reason": reason, "error": error})
        self.ctx.emit("recorder.state", status)

    # -- actions -----------------------------------------------------------------------------

    def _cmd_start(self, request: CommandRequest) -> dict[str, Any]:
        args = StartArgs.model_validate(dict(request.args))
        until = time.monotonic() + args.duration_s if args.duration_s else None
        with self._lock:
            self._manual = _Manual(args.session_id, until)
            self._suppressed.discard(args.session_id)
        self._wake.set()
        self._wait(lambda: self._session == args.session_id, request)
        return self.status().model_dump(mode="json")

    def _cmd_stop(self, request: CommandRequest) -> dict[str, Any]:
        with self._lock:
            self._manual = None
            if self._session is not None:
                self._suppressed.add(self._session)
        self._wake.set()
        self._wait(lambda: self._session is None, request)
        return self.status().model_dump(mode="json")

    def _wait(self, done: Any, request: CommandRequest) -> None:
        deadline = time.monotonic() + self.settings.stop_grace_s + 10
        while not done() and time.monotonic() < deadline and not request.wait(0.1):
            pass
