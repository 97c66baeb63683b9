"""``BurnerPlugin``: the burn station as an agent plugin (entry point ``burner``).

Actions (``<name>`` is the instance name): ``<name>.burn`` (job), ``<name>.cancel``,
``<name>.retry`` (job), ``<name>.drives``, ``<name>.verify_disc`` (job); the argument and
result models and the events are in :mod:`contract.payloads.burn`.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from pydantic import BaseModel

from burn_station import discfiles, labels, xorriso
from burn_station.drives import AfterBurnHook, DrivePool
from burn_station.jobstore import JobState, JobStore
from burn_station.pipeline import ORDER, Job, JobCancelled, clean_after
from burn_station.printing import printer_for
from burn_station.settings import BurnerSettings
from contract.payloads.burn import (
    FINAL_STAGES,
    NVR_VIDEO_KIND,
    BurnJobRef,
    BurnJobResult,
    BurnJobSpec,
    BurnJobState,
    DiscCheck,
    DiscManifest,
    DrivesResult,
    PrintLabelArgs,
    PrintLabelResult,
    RetryArgs,
    VerifyDiscArgs,
)
from edge_agent.plugin_api import CommandRequest, PluginContext


class BurnerPlugin:
    def __init__(
        self,
        ctx: PluginContext,
        *,
        transport: httpx.BaseTransport | None = None,
        after_burn: AfterBurnHook | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = BurnerSettings.model_validate(dict(ctx.settings))
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(self.settings.work_dir)
        self.pool = DrivePool(
            self.settings.drives,
            on_state=lambda s: self._emit("burn.drive_state", s),
            media_wait_s=self.settings.media_wait_s,
            after_burn=after_burn,
            poll_s=self.settings.drive_poll_s,
        )
        self.transport = transport
        self._jobs: dict[UUID, Job] = {}
        self._lock = threading.Lock()
        name = ctx.name
        ctx.register_action(f"{name}.burn", self._burn, job=True, args_model=BurnJobSpec)
        ctx.register_action(f"{name}.cancel", self._cancel, args_model=BurnJobRef)
        ctx.register_action(f"{name}.retry", self._retry, job=True, args_model=RetryArgs)
        ctx.register_action(f"{name}.drives", self._drives)
        ctx.register_action(
            f"{name}.verify_disc", self._verify_disc, job=True, args_model=VerifyDiscArgs
        )
        ctx.register_action(f"{name}.print_label", self._print_label, args_model=PrintLabelArgs)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._recover()
        self._sweep(orphans=True)
        self.pool.start()
        for drive in self.pool.drives.values():
            drive.detect()
        self.ctx.set_health("ok", f"{len(self.pool.drives)} drives")

    def stop(self) -> None:
        self.ctx.stop_event.set()
        with self._lock:
            for job in self._jobs.values():
                job.interrupted = True
                job.cancel.set()
        self.pool.stop()
        self.ctx.set_health("stopped")

    def _recover(self) -> None:
        """Jobs that were running when the station stopped fail cleanly, ready for a retry."""
        for state in self.store.all():
            if state.stage in FINAL_STAGES:
                continue
            stage = state.stage if state.stage in ORDER else "fetching"
            state.failed_stage = stage  # type: ignore[assignment]
            state.error = f"station restarted during {state.stage}"
            state.stage = "failed"
            self.store.save(state)
            self._emit(
                "burn.job_state",
                BurnJobState(
                    job_id=state.spec.job_id,
                    project_number=state.spec.project.number,
                    stage="failed",
                    progress=0.0,
                    error=state.error,
                    failed_stage=state.failed_stage,
                    attempt=state.attempt,
                    discs_total=len(state.discs),
                    discs_done=sum(1 for d in state.discs if d.status == "ok"),
                ),
            )

    def _emit(self, event_type: str, payload: BaseModel) -> None:
        self.ctx.emit(event_type, payload)

    # -- NVR video for the file store ------------------------------------------------------

    def _upload(self, path: Path, meta: dict[str, str | int | float]) -> str:
        """Queue an outbox file; the uploader deletes it once the collector holds it."""
        return self.ctx.upload(path, kind=NVR_VIDEO_KIND, meta=meta, delete_after=True)

    def _sweep(self, *, orphans: bool = False) -> None:
        try:
            self.sweep_outbox(orphans=orphans)
        except Exception as exc:  # housekeeping: never a job's failure, nor the plugin's start
            self.ctx.logger.warning("outbox sweep failed: %s", exc)

    def sweep_outbox(self, *, orphans: bool = False) -> int:
        """Delete outbox files whose upload has ended without the uploader deleting them (it
        failed for good, or the agent forgot it). With ``orphans`` (at start, no job running)
        also files no job recorded (the station stopped between linking and queuing one) and
        the empty folders: while jobs run, a folder may be empty for a moment before its file
        is linked. Returns how many files were deleted."""
        root = self.store.outbox
        if not root.is_dir():
            return 0
        kept, deleted = self._sweep_ended(root)
        if orphans:
            for path in sorted(root.rglob("*")):
                if path.is_file() and path not in kept:
                    path.unlink(missing_ok=True)
                    deleted += 1
            for path in sorted(root.rglob("*"), reverse=True):  # deepest first
                if path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        return deleted

    def _sweep_ended(self, root: Path) -> tuple[set[Path], int]:
        """Delete the recorded outbox files whose upload is no longer pending; the pending
        ones and how many were deleted."""
        kept: set[Path] = set()
        deleted = 0
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            try:
                state = self.store.load(UUID(folder.name))
            except ValueError:
                state = None
            for record in state.nvr_uploads if state is not None else []:
                path = self.store.work_dir / record.outbox
                if not path.exists():
                    continue
                if self.ctx.upload_state(record.upload_id) == "pending":
                    kept.add(path)
                else:
                    path.unlink(missing_ok=True)
                    deleted += 1
        return kept, deleted

    # -- jobs ------------------------------------------------------------------------------

    def _run(self, state: JobState, request: CommandRequest, from_stage: str) -> BurnJobResult:
        job = Job(
            state,
            settings=self.settings,
            store=self.store,
            pool=self.pool,
            printer=printer_for(self.settings.label),
            emit=self._emit,
            progress=request.progress,
            transport=self.transport,
            upload=self._upload if self.settings.upload_nvr_video else None,
        )
        job_id = state.spec.job_id
        with self._lock:
            if job_id in self._jobs:
                raise RuntimeError(f"job {job_id} is already running")
            self._jobs[job_id] = job
        done = threading.Event()

        def link() -> None:  # command deadline or agent stop → the job stops
            while not done.is_set():
                if request.cancelled.wait(0.5):
                    job.interrupted = True
                    job.cancel.set()
                    return

        threading.Thread(target=link, daemon=True).start()
        try:
            if not state.spec.retry_from_stage and from_stage == "fetching":
                job.enter("queued")
            return job.run(from_stage)  # type: ignore[arg-type]
        except JobCancelled:
            if job.interrupted:
                raise RuntimeError("interrupted; retry resumes from the failed stage") from None
            raise RuntimeError("cancelled") from None
        finally:
            done.set()
            with self._lock:
                self._jobs.pop(job_id, None)
            self._sweep()

    def _burn(self, request: CommandRequest) -> BurnJobResult:
        spec = BurnJobSpec.model_validate(dict(request.args))
        old = self.store.load(spec.job_id)
        if old is not None and old.stage == "done":
            return BurnJobResult(
                job_id=spec.job_id,
                stage="done",
                discs=[d.disc_id for d in old.discs if d.status == "ok"],
            )
        if old is not None and old.stage in FINAL_STAGES | {"queued"}:
            from_stage = spec.retry_from_stage or old.failed_stage or "fetching"
            return self._retry_state(old, from_stage, request)
        state = JobState(spec=spec)
        self.store.save(state)
        return self._run(state, request, spec.retry_from_stage or "fetching")

    def _retry(self, request: CommandRequest) -> BurnJobResult:
        args = RetryArgs.model_validate(dict(request.args))
        state = self.store.load(args.job_id)
        if state is None:
            raise LookupError(f"unknown job {args.job_id}")
        if state.stage == "done" and args.from_stage is None:
            raise ValueError("job is done; name from_stage to redo a stage")
        return self._retry_state(
            state, args.from_stage or state.failed_stage or "fetching", request
        )

    def _retry_state(
        self, state: JobState, from_stage: str, request: CommandRequest
    ) -> BurnJobResult:
        if len(state.fetched) < len(state.spec.sources):
            from_stage = "fetching"
        if ORDER.index(from_stage) > ORDER.index("staging") and not state.discs:  # type: ignore[arg-type]
            from_stage = "staging"
        clean_after(from_stage, state, self.store.folder(state.spec.job_id))  # type: ignore[arg-type]
        state.attempt += 1
        state.error = ""
        self.store.save(state)
        return self._run(state, request, from_stage)

    def _cancel(self, request: CommandRequest) -> dict[str, Any]:
        job_id = UUID(str(request.args["job_id"]))
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            state = self.store.load(job_id)
            return {
                "job_id": str(job_id),
                "running": False,
                "stage": state.stage if state else "unknown",
            }
        job.cancel.set()
        return {"job_id": str(job_id), "running": True, "stage": job.state.stage}

    # -- drives ----------------------------------------------------------------------------

    def _drives(self, request: CommandRequest) -> DrivesResult:
        states = []
        for drive in self.pool.drives.values():
            states.append(drive.state if drive.state.state == "busy" else drive.detect())
        return DrivesResult(drives=states)

    def _print_label(self, request: CommandRequest) -> PrintLabelResult:
        """A disc's label again, from the archive record the command carries."""
        args = PrintLabelArgs.model_validate(dict(request.args))
        folder = self.settings.work_dir / "labels"
        folder.mkdir(parents=True, exist_ok=True)
        pdf = folder / f"{args.volume_id}-{args.disc_id.hex[:8]}.pdf"
        face = labels.DiscFace(
            disc_id=args.disc_id,
            index=args.disc_index,
            count=args.disc_count,
            copy_role=args.copy_role,
            copy_number=args.copy_number,
            volume_id=args.volume_id,
            burn_date=args.burn_date,
        )
        labels.render_disc(self.settings.label, args.centre, args.project, args.label, face, pdf)
        printed = ""
        if args.label.print:
            printer = printer_for(self.settings.label)
            printed = printer.submit(pdf, job_name=args.volume_id) or "sent"
        return PrintLabelResult(label=str(pdf), printed=printed)

    def _verify_disc(self, request: CommandRequest) -> DiscCheck:
        args = VerifyDiscArgs.model_validate(dict(request.args))
        drive = self.pool.drives.get(args.drive)
        if drive is None:
            raise LookupError(f"unknown drive {args.drive}")
        if drive.state.state == "busy" or not drive.in_use.acquire(blocking=False):
            raise RuntimeError(f"drive {args.drive} is busy")
        try:
            medium = drive.detect().medium
            if medium is None or medium.blank:  # nothing to check: no record may change
                detail = f" ({drive.state.message})" if drive.state.message else ""
                raise RuntimeError(f"drive {args.drive} holds no recorded disc{detail}")
            drive.set_state("busy", message="re-verifying a disc")
            try:
                check = verify_disc(
                    drive.config.device, args.drive, args.disc_id, stop=request.cancelled
                )
            finally:
                drive.set_state("idle")
        finally:
            drive.in_use.release()
        self._emit("burn.disc_check", check)
        if check.outcome == "wrong_disc":  # the check asked for did not happen
            raise RuntimeError(check.detail)
        return check


def verify_disc(
    device: str, drive: str, disc_id: UUID | None, *, stop: threading.Event | None = None
) -> DiscCheck:
    """Check a disc put back in a drive: that it is the disc asked for (its manifest is read
    first, so another disc is reported as ``wrong_disc`` without a full read), its recorded
    MD5s, and that its manifest agrees with its SHA256SUMS."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest, error = _read_manifest(device, folder)
        if manifest is not None and disc_id is not None and manifest.disc_id != disc_id:
            return _wrong_disc(drive, disc_id, manifest)
        ok, detail = xorriso.verify(device, stop=stop)
        bad = [] if ok else [line for line in detail.split("; ") if "MISMATCH" in line]
        error = error or _extract(device, folder, "SHA256SUMS")
        if error:
            ok, detail = False, error
        elif manifest is not None:
            sums = discfiles.parse_sha256sums((folder / "SHA256SUMS").read_text("utf-8"))
            disagree = [f.path for f in manifest.files if sums.get(f.path) != f.sha256]
            if disagree:
                bad += disagree
                ok, detail = False, f"manifest and SHA256SUMS disagree on {len(disagree)} files"
    return DiscCheck(
        drive=drive,
        disc_id=manifest.disc_id if manifest else disc_id,
        ok=ok,
        files_checked=len(manifest.files) if manifest else 0,
        bad_files=bad[:100],
        detail=detail[:2000],
        checked_at=datetime.now(UTC),
        **_described(manifest),
    )


def _extract(device: str, folder: Path, name: str) -> str:
    """Copy ``/name`` from the disc into ``folder``; the error, or "" when it was read."""
    try:
        xorriso.run(xorriso.extract_args(device, folder / name, f"/{name}"), timeout_s=300)
    except xorriso.XorrisoError as exc:
        return f"cannot read {name}: {exc}"[:1900]
    return ""


def _read_manifest(device: str, folder: Path) -> tuple[DiscManifest | None, str]:
    error = _extract(device, folder, "MANIFEST.json")
    if error:
        return None, error
    try:
        return DiscManifest.model_validate_json((folder / "MANIFEST.json").read_text("utf-8")), ""
    except ValueError as exc:  # damaged: the disc is checked, and fails, without it
        return None, f"MANIFEST.json is damaged: {exc}"[:1900]


def _described(manifest: DiscManifest | None) -> dict[str, Any]:
    """The fields of a :class:`DiscCheck` that say which disc the drive holds."""
    if manifest is None:
        return {}
    return {
        "job_id": manifest.job_id,
        "project_number": manifest.project.number,
        "volume_id": manifest.volume_id,
        "disc_index": manifest.disc_index,
    }


def _wrong_disc(drive: str, disc_id: UUID, found: DiscManifest) -> DiscCheck:
    return DiscCheck(
        drive=drive,
        disc_id=disc_id,
        outcome="wrong_disc",
        found_disc_id=found.disc_id,
        ok=False,
        files_checked=0,
        detail=(
            f"wrong disc: drive {drive} holds disc {found.disc_id} ({found.volume_id}, project "
            f"{found.project.number}), not disc {disc_id}; not verified"
        ),
        checked_at=datetime.now(UTC),
        **_described(found),
    )


def settings_schema() -> Mapping[str, Any]:
    return BurnerSettings.model_json_schema()
