"""A burn job, stage by stage: fetching → staging (files, disc layout, images) → burning
(each disc burned and verified in its drive, re-burned when bad) → verifying (every disc of
every copy good) → labelling → done. Each stage's output is persisted before the next starts,
so a retry resumes from the failed stage with what was already fetched and staged. Once
staging has checked it, the job's NVR video is queued for the collector's file store."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import httpx
from pydantic import BaseModel

from burn_station import discfiles, labels, layout, xorriso
from burn_station.drives import AttemptResult, BurnTask, DrivePool
from burn_station.fetch import FetchedItem, FetchEnv, fetch_source
from burn_station.hashing import sha256_file
from burn_station.jobstore import DiscPlan, JobState, JobStore, NvrUpload
from burn_station.printing import LabelPrinter
from burn_station.settings import BurnerSettings
from burn_station.staging import StagedFile, Stager
from contract.payloads.burn import (
    BurnDisc,
    BurnJobResult,
    BurnJobState,
    DiscFile,
    DiscManifest,
    NvrClipMeta,
    NvrIsapiSource,
    NvrSource,
    RetryStage,
    RtspSource,
    nvr_address,
    nvr_key,
)

ORDER: tuple[RetryStage, ...] = ("fetching", "staging", "burning", "verifying", "labelling")
SPAN = {
    "fetching": (0.0, 0.3),
    "staging": (0.3, 0.55),
    "burning": (0.55, 0.9),
    "verifying": (0.9, 0.92),
    "labelling": (0.92, 1.0),
}

Emit = Callable[[str, BaseModel], None]
Upload = Callable[[Path, dict[str, str | int | float]], str]
"""Queue a file with its metadata for the collector's file store; the upload id. The file is
the station's to delete once the upload has ended (the plugin asks the agent to)."""

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    pass


class Job:
    """Runs one job's stages; the plugin owns the threads and the registry of running jobs."""

    def __init__(
        self,
        state: JobState,
        *,
        settings: BurnerSettings,
        store: JobStore,
        pool: DrivePool,
        printer: LabelPrinter,
        emit: Emit,
        progress: Callable[[float, str], None] = lambda f, m: None,
        transport: httpx.BaseTransport | None = None,
        upload: Upload | None = None,
    ) -> None:
        self.state = state
        self.spec = state.spec
        self.settings = settings
        self.store = store
        self.pool = pool
        self.printer = printer
        self._emit = emit
        self._progress = progress
        self.transport = transport
        self.upload = upload
        """Set when NVR video goes to the file store (``upload_nvr_video``)."""
        self.cancel = threading.Event()
        self.interrupted = False
        """Set when the station (not the operator) stopped the job: it ends failed, retryable."""
        self.folder = store.folder(self.spec.job_id)
        self._last_report = 0.0
        self._lock = threading.Lock()
        self.timings: dict[str, float] = {}
        """Seconds spent in the steps of the staging stage (logs, benchmark)."""

    # -- reporting -------------------------------------------------------------------------

    def report(
        self, stage_fraction: float = 0.0, message: str = "", *, force: bool = False
    ) -> None:
        stage = self.state.stage
        lo, hi = SPAN.get(stage, (1.0, 1.0) if stage == "done" else (0.0, 0.0))
        overall = lo + (hi - lo) * min(1.0, max(0.0, stage_fraction))
        if stage == "done":
            overall = 1.0
        now = time.monotonic()
        if not force and now - self._last_report < 1.0:
            return
        self._last_report = now
        good = sum(1 for d in self.state.discs if d.status == "ok")
        self._emit(
            "burn.job_state",
            BurnJobState(
                job_id=self.spec.job_id,
                project_number=self.spec.project.number,
                stage=stage,
                progress=round(overall, 4),
                message=message[:2000],
                error=self.state.error[:2000],
                failed_stage=self.state.failed_stage if stage == "failed" else None,
                attempt=self.state.attempt,
                discs_total=len(self.state.discs),
                discs_done=good,
            ),
        )
        self._progress(overall, f"{stage}: {message}" if message else stage)

    def enter(self, stage: str, message: str = "") -> None:
        self.state.stage = stage  # type: ignore[assignment]
        self.store.save(self.state)
        self.report(0.0, message, force=True)

    def _check(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled()

    # -- the run ---------------------------------------------------------------------------

    def run(self, from_stage: RetryStage = "fetching") -> BurnJobResult:
        start = ORDER.index(from_stage)
        steps: dict[str, Callable[[], None]] = {
            "fetching": self.fetching,
            "staging": self.staging,
            "burning": self.burning,
            "verifying": self.verifying,
            "labelling": self.labelling,
        }
        current: RetryStage = from_stage
        try:
            for stage in ORDER[start:]:
                current = stage
                self._check()
                self.enter(stage)
                steps[stage]()
        except Exception as exc:
            if self.cancel.is_set() or isinstance(exc, JobCancelled | xorriso.XorrisoStopped):
                self.state.failed_stage = current
                if self.interrupted:
                    self.state.error = "interrupted: the station stopped"
                    self.enter("failed", f"interrupted while {current}")
                else:
                    self.state.error = "cancelled"
                    self.enter("cancelled", "cancelled by the operator")
                raise JobCancelled(self.state.error) from None
            self.state.error = f"{type(exc).__name__}: {exc}"[:2000]
            self.state.failed_stage = current
            self.enter("failed", f"failed while {current}")
            raise
        self.state.error = ""
        self.state.failed_stage = None
        self.enter("done", f"{len(self.state.discs)} discs verified")
        if not self.settings.keep_images:
            shutil.rmtree(self.folder / "images", ignore_errors=True)
        return self.result()

    def result(self) -> BurnJobResult:
        return BurnJobResult(
            job_id=self.spec.job_id,
            stage=self.state.stage,
            discs=[d.disc_id for d in self.state.discs if d.status == "ok"],
            label_files=[str(self.folder / d.label) for d in self.state.discs if d.label],
        )

    # -- fetching --------------------------------------------------------------------------

    def fetching(self) -> None:
        """Fetch the sources not fetched yet, ``fetch_workers`` at a time (NVR channels and
        downloads run in parallel); the first failure, or a cancel, stops the others. Progress
        is the share of sources done; the message adds the bytes received so far."""
        total = len(self.spec.sources)
        todo = [i for i in range(total) if i not in self.state.fetched]
        stop = threading.Event()  # the job's cancel, or another source's failure
        received = [0]

        def on_bytes(n: int) -> None:
            with self._lock:
                received[0] += n
                done = len(self.state.fetched)
                self.report(done / total, f"{done}/{total} sources, {received[0] / 1e6:.1f} MB")

        env = FetchEnv(
            self.settings,
            self.folder / "fetch",
            stop,
            on_bytes,
            self.transport,
            allow_partial_video=self.spec.allow_partial_video,
        )
        workers = max(1, min(self.settings.fetch_workers, len(todo)))
        with ThreadPoolExecutor(workers, thread_name_prefix="fetch") as pool:
            futures = [pool.submit(self._fetch_one, i, env) for i in todo]
            self._await_fetches(futures, stop)
        self._check()

    def _fetch_one(self, i: int, env: FetchEnv) -> None:
        items = fetch_source(i, self.spec.sources[i], env)
        with self._lock:
            self.state.fetched[i] = items
            self.store.save(self.state)
            total, done = len(self.spec.sources), len(self.state.fetched)
            warning = "; ".join(item.warning for item in items if item.warning)
            note = f", incomplete, archived as allowed: {warning}" if warning else ""
            self.report(done / total, f"{done}/{total} sources fetched{note}", force=True)

    def _await_fetches(self, futures: list[Future[None]], stop: threading.Event) -> None:
        """Wait for every fetch; raise the first failure once all have ended."""
        pending, failure = set(futures), None
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            if self.cancel.is_set():
                stop.set()
            for future in done:
                if future.exception() is not None and failure is None:
                    failure = future.exception()
                    stop.set()
        if failure is not None:
            raise failure

    # -- staging ---------------------------------------------------------------------------

    def plan_capacity(self) -> int:
        caps = []
        for drive in self.pool.eligible(self.spec.medium, self.spec.drives):
            cap = drive.capacity()
            if cap is None:
                drive.detect()
                cap = drive.capacity()
            caps.append(cap or layout.NOMINAL_CAPACITY[self.spec.medium])
        return min(caps) if caps else layout.NOMINAL_CAPACITY[self.spec.medium]

    def staging(self) -> None:
        """Stage the files, lay them out on discs and build the images. The decode checks of
        the staged video (CPU-bound) run in the background meanwhile; the stage ends only when
        every one passed, and a failed or interrupted stage keeps no plan, so nothing unchecked
        can be burned by a retry from a later stage."""
        capacity = self.plan_capacity()
        items = [item for _, item in self.fetched_items()]
        segment = min(self.settings.segment_bytes, capacity - layout.reserve(4) - 2 * 1024**2)
        stager = Stager(
            self.folder / "fetch",
            self.folder / "stage",
            segment_bytes=max(segment, 1024**2),
            stop=self.cancel,
            timeout_s=self.settings.ffmpeg_timeout_s,
            on_item=lambda d, t: self.report(0.6 * d / t, f"staged {d}/{t} files"),
        )
        timings = self.timings
        checked = False
        try:
            started = time.monotonic()
            staged = stager.stage_files(items)
            timings["stage_files"] = time.monotonic() - started
            if stager.reused_checks:
                self.report(
                    0.6,
                    f"{stager.reused_checks} recording(s) decode-checked at the collector "
                    "and staged unchanged: not decoded again",
                    force=True,
                )
            self.plan_discs(staged, capacity)
            started = time.monotonic()

            def before(n: int, disc: DiscPlan) -> None:
                stager.raise_failed_check()  # no more images once a check has failed
                self.report(0.6 + 0.3 * n / len(self.state.discs), f"image {disc.volume_id}")

            self.build_images(self.state.discs, before)
            timings["images"] = time.monotonic() - started
            started = time.monotonic()
            self.report(0.9, "decode check of the video", force=True)
            stager.wait_checks(lambda d, t: self.report(0.9 + 0.1 * d / t, f"checked {d}/{t}"))
            timings["decode_wait"] = time.monotonic() - started
            checked = True
        finally:
            stager.close()
            if not checked:
                self.state.staged = None
                self.state.discs = []
                self.store.save(self.state)
        self.queue_nvr_uploads()

    # -- NVR video for the collector's file store ------------------------------------------

    def fetched_items(self) -> list[tuple[int, FetchedItem]]:
        """Every fetched item with its source's index, in the order staging numbers them."""
        return [(i, item) for i in sorted(self.state.fetched) for item in self.state.fetched[i]]

    def nvr_files(self) -> list[tuple[NvrSource, str, list[StagedFile]]]:
        """Each NVR source of the job with its fetch's warning (archived incomplete) and its
        staged files in time order (clips, then segments)."""
        owners = [i for i, _ in self.fetched_items()]  # staged file's item → its source
        files: dict[int, list[StagedFile]] = {}
        for f in self.state.staged or []:
            if f.media == "video" and f.item is not None and f.item < len(owners):
                files.setdefault(owners[f.item], []).append(f)
        out = []
        for i, source in enumerate(self.spec.sources):
            if isinstance(source, NvrIsapiSource | RtspSource) and files.get(i):
                items = self.state.fetched.get(i, [])
                warning = "; ".join(item.warning for item in items if item.warning)
                out.append((source, warning, files[i]))
        return out

    def queue_nvr_uploads(self) -> None:
        """Queue the checked NVR video (every staged file of an NVR source) for the
        collector's file store, once per job: each file queued is recorded in the job's state,
        and a retry or a restart skips it. The job does not wait for the uploads; a file that
        cannot be queued is reported and left out, never a reason to fail the job."""
        upload = self.upload
        if upload is None:
            return
        # a retry that cut the video differently queues the new parts (parts differs)
        queued = {(u.nvr_key, u.part, u.parts) for u in self.state.nvr_uploads}
        count, errors = 0, []
        for source, warning, files in self.nvr_files():
            key = nvr_key(source)
            for part, staged in enumerate(files, start=1):
                if (key, part, len(files)) in queued:
                    continue
                self._check()  # hashing each file for the uploader takes a while
                try:
                    record = self._queue_nvr_file(
                        upload, source, key, (part, len(files)), warning, staged
                    )
                except Exception as exc:
                    job = self.spec.job_id
                    log.warning("job %s: %s not queued: %s", job, staged.disc_path, exc)
                    errors.append(f"{staged.disc_path}: {exc}")
                    continue
                self.state.nvr_uploads.append(record)
                self.store.save(self.state)
                count += 1
        if count:
            self.report(1.0, f"{count} NVR video file(s) queued for the file store", force=True)
        if errors:
            self.report(
                1.0, "NVR video not queued for the file store: " + "; ".join(errors), force=True
            )

    def _queue_nvr_file(
        self,
        upload: Upload,
        source: NvrSource,
        key: str,
        of: tuple[int, int],
        warning: str,
        f: StagedFile,
    ) -> NvrUpload:
        """Link the staged file into the outbox (copy it across file systems) and queue it as
        part ``of[0]`` of ``of[1]``."""
        part, parts = of
        meta = NvrClipMeta(
            project_number=self.spec.project.number,
            nvr_key=key,
            part=part,
            parts=parts,
            source_kind=source.kind,
            nvr=nvr_address(source),
            camera=source.name,
            room=source.room,
            channel=source.channel,
            window_start=source.start.astimezone(UTC),
            window_end=source.end.astimezone(UTC),
            job_id=str(self.spec.job_id),
            warning=warning[:2000],
        )
        values = {k: v for k, v in meta.model_dump(mode="json").items() if v not in ("", None)}
        name = PurePosixPath(f.disc_path).name
        outbox = self.store.outbox / str(self.spec.job_id) / f"{key}_{part:02d}" / name
        outbox.parent.mkdir(parents=True, exist_ok=True)
        outbox.unlink(missing_ok=True)  # left by a run that stopped before recording it
        discfiles.link_or_copy(self.folder / "stage" / f.path, outbox)
        try:
            upload_id = upload(outbox, values)
        except BaseException:
            outbox.unlink(missing_ok=True)
            raise
        return NvrUpload(
            nvr_key=key,
            part=part,
            parts=parts,
            disc_path=f.disc_path,
            outbox=outbox.relative_to(self.store.work_dir).as_posix(),
            upload_id=upload_id,
        )

    def plan_discs(self, staged: list[StagedFile], capacity: int) -> None:
        self.state.staged = staged
        self.state.discs = []
        sets = layout.plan(staged, capacity)
        for copy in self.spec.copies:
            for number in range(1, copy.count + 1):
                for index, files in enumerate(sets, start=1):
                    self.state.discs.append(
                        DiscPlan(
                            disc_id=uuid.uuid4(),
                            copy_role=copy.role,
                            copy_number=number,
                            index=index,
                            count=len(sets),
                            volume_id=layout.volume_id(
                                self.spec.project.number, copy.role, number, index, len(sets)
                            ),
                            files=[f.disc_path for f in files],
                        )
                    )
        self.store.save(self.state)

    def disc_files(self, disc: DiscPlan) -> list[DiscFile]:
        by_path = {f.disc_path: f for f in self.state.staged or []}
        return [
            DiscFile(
                path=p,
                size=by_path[p].size,
                sha256=by_path[p].sha256,
                media="video" if by_path[p].media == "video" else "document",
                duration_s=by_path[p].duration_s,
                codec=by_path[p].codec,
                source=by_path[p].source[:500],
            )
            for p in disc.files
        ]

    def build_images(
        self, discs: list[DiscPlan], before: Callable[[int, DiscPlan], None] = lambda n, d: None
    ) -> None:
        """Build the discs' images, several at once (xorriso computes the MD5s on one core),
        each followed by its SHA-256 while its pages are still cached. ``before`` runs as each
        image is started, so a failure it raises stops further images."""
        workers = self.settings.image_workers or min(os.cpu_count() or 1, 4)
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="image") as pool:
            started: list[tuple[DiscPlan, Future[str]]] = []
            try:
                for n, disc in enumerate(discs):
                    running = [f for _, f in started if not f.done()]
                    if len(running) >= workers:
                        wait(running, return_when=FIRST_COMPLETED)
                    for _, f in started:
                        if f.done():
                            f.result()  # raise a failed image now
                    self._check()
                    before(n, disc)
                    started.append((disc, pool.submit(self._image_and_hash, disc)))
                for disc, future in started:
                    disc.image_sha256 = future.result()
                    disc.status = "imaged"
            finally:
                self.store.save(self.state)

    def warnings(self) -> list[str]:
        """What the whole set lacks (every disc says so): sources archived incomplete."""
        fetched = [item for _, item in self.fetched_items()]
        return [item.warning for item in fetched if item.warning]

    def _image_and_hash(self, disc: DiscPlan) -> str:
        return sha256_file(self.build_image(disc))

    def build_image(self, disc: DiscPlan) -> Path:
        """Lay out the disc's tree and have xorriso write its image; the image's path."""
        by_path = {f.disc_path: f for f in self.state.staged or []}
        manifest = DiscManifest(
            disc_id=disc.disc_id,
            job_id=self.spec.job_id,
            centre=self.spec.centre,
            project=self.spec.project,
            disc_index=disc.index,
            disc_count=disc.count,
            copy_role=disc.copy_role,
            copy_number=disc.copy_number,
            volume_id=disc.volume_id,
            created_at=datetime.now(UTC),
            files=self.disc_files(disc),
            warnings=self.warnings(),
        )
        tree = self.folder / "discs" / disc.volume_id
        discfiles.populate(
            tree, self.folder / "stage", {p: by_path[p].path for p in disc.files}, manifest
        )
        image = self.folder / "images" / f"{disc.volume_id}.iso"
        image.parent.mkdir(parents=True, exist_ok=True)
        image.unlink(missing_ok=True)
        xorriso.run(
            xorriso.image_args(tree, image, disc.volume_id), timeout_s=7200, stop=self.cancel
        )
        shutil.rmtree(tree, ignore_errors=True)
        disc.image = image.relative_to(self.folder).as_posix()
        disc.image_size = image.stat().st_size
        return image

    # -- burning ---------------------------------------------------------------------------

    def burning(self) -> None:
        todo = [d for d in self.state.discs if d.status != "ok"]
        # images are removed after a job; a retry rebuilds them
        self.build_images([d for d in todo if not d.image or not (self.folder / d.image).exists()])
        futures: list[tuple[DiscPlan, Future[AttemptResult]]] = []
        fractions = {d.volume_id: 0.0 for d in todo}

        def on_progress(volume_id: str) -> Callable[[float], None]:
            def update(f: float) -> None:
                fractions[volume_id] = f
                done = sum(fractions.values()) / max(1, len(fractions))
                self.report(done, f"burning {volume_id} {f:.0%}")

            return update

        for disc in todo:
            task = BurnTask(
                job_id=self.spec.job_id,
                image=self.folder / disc.image,
                volume_id=disc.volume_id,
                medium=self.spec.medium,
                drives=self.spec.drives,
                stop=self.cancel,
                max_reburns=self.settings.max_reburns,
                on_attempt=functools.partial(self.on_attempt, disc),
                on_progress=on_progress(disc.volume_id),
            )
            futures.append((disc, self.pool.submit(task)))
        errors = []
        for disc, future in futures:
            try:
                future.result()
            except Exception as exc:
                if isinstance(exc, xorriso.XorrisoStopped):
                    raise
                errors.append(f"{disc.volume_id}: {exc}")
        if errors:
            raise RuntimeError("; ".join(errors))

    def on_attempt(self, disc: DiscPlan, r: AttemptResult) -> None:
        with self._lock:
            disc.drive = r.drive
            disc.disc_path = r.disc_path
            disc.medium_type = r.medium_type
            disc.attempt = r.attempt
            disc.verify_detail = r.detail
            disc.burned_at = r.burned_at
            disc.status = "ok" if r.ok else "bad"
            self.store.save(self.state)
            self._emit(
                "burn.disc",
                BurnDisc(
                    disc_id=disc.disc_id,
                    job_id=self.spec.job_id,
                    project_number=self.spec.project.number,
                    disc_index=disc.index,
                    disc_count=disc.count,
                    copy_role=disc.copy_role,
                    copy_number=disc.copy_number,
                    volume_id=disc.volume_id,
                    drive=r.drive,
                    medium=self.spec.medium,
                    medium_type=r.medium_type[:64],
                    files=self.disc_files(disc),
                    image_size=disc.image_size,
                    image_sha256=disc.image_sha256,
                    verify="ok" if r.ok else "bad",
                    verify_detail=r.detail[:2000],
                    attempt=r.attempt,
                    burned_at=r.burned_at,
                ),
            )
            verdict = "verified" if r.ok else "failed verification, burning again"
            self.report(0.0, f"{disc.volume_id} on {r.drive}: {verdict}", force=True)

    # -- verifying -------------------------------------------------------------------------

    def verifying(self) -> None:
        bad = [d.volume_id for d in self.state.discs if d.status != "ok"]
        if bad:
            raise RuntimeError(f"discs not verified: {', '.join(bad)}")
        self.report(1.0, f"{len(self.state.discs)} discs verified", force=True)

    # -- labelling -------------------------------------------------------------------------

    def labelling(self) -> None:
        folder = self.folder / "labels"
        folder.mkdir(parents=True, exist_ok=True)
        spec, errors = self.spec, []
        for n, disc in enumerate(self.state.discs):
            self._check()
            pdf = folder / f"{disc.volume_id}.pdf"
            face = labels.DiscFace(
                disc_id=disc.disc_id,
                index=disc.index,
                count=disc.count,
                copy_role=disc.copy_role,
                copy_number=disc.copy_number,
                volume_id=disc.volume_id,
                burn_date=(disc.burned_at or datetime.now(UTC)).date(),
            )
            labels.render_disc(
                self.settings.label, spec.centre, spec.project, spec.label, face, pdf
            )
            disc.label = pdf.relative_to(self.folder).as_posix()
            if spec.label.print and not disc.label_ref:
                try:
                    disc.label_ref = self.printer.submit(pdf, job_name=disc.volume_id) or "sent"
                except Exception as exc:  # a jammed printer must not lose a verified disc set
                    errors.append(f"{disc.volume_id}: {exc}")
            self.store.save(self.state)
            self.report((n + 1) / len(self.state.discs), f"label {disc.volume_id}")
        if errors:
            raise RuntimeError("printing failed: " + "; ".join(errors))


def clean_after(stage: RetryStage, state: JobState, folder: Path) -> None:
    """Forget what a retry from ``stage`` redoes (fetched files stay for a re-fetch to reuse)."""
    i = ORDER.index(stage)
    if i <= ORDER.index("staging"):
        state.staged = None
        state.discs = []
        shutil.rmtree(folder / "stage", ignore_errors=True)
        shutil.rmtree(folder / "images", ignore_errors=True)
    if i < ORDER.index("labelling"):
        for d in state.discs:
            d.label_ref = ""
