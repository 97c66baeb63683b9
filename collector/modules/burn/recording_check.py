"""Decode checks of project recordings, made once, soon after they arrive.

A recording an evaluation-room terminal uploads is decoded in full (``ffmpeg -xerror``, which
fails on the first damaged frame or a truncated file, where a plain null-output pass exits 0)
by a background job, at a low CPU priority, once it is complete in the file store. Two gains:

- a damaged recording is found the day it is recorded, while the room can still be recorded
  again, instead of months later when the project is archived;
- a burn station that puts these exact bytes on a disc (the same SHA-256, checked by its
  download) does not decode them again for every copy and every re-burn: the job's source says
  they were checked (``decode_checked``). The full decode is the costliest step of staging.

Results are shown with the project's recordings. A file whose bytes change (same id, another
SHA-256) is checked again.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from collector.db_types import utcnow
from collector.files.models import StoredFile, UploadState
from collector.modules.burn.models import RecordingCheck
from collector.modules.burn.playback import NICE, VIDEO_SUFFIXES, local_path
from collector.modules.experts import service as experts

if TYPE_CHECKING:
    from collector.runtime import Runtime

log = logging.getLogger(__name__)

RUN_BUDGET_S = 240.0
"""One run of the job starts no new check after this long; the next run goes on."""
BATCH = 20


def _is_video_sql():  # type: ignore[no-untyped-def]
    name = func.lower(col(StoredFile.name))
    return or_(
        col(StoredFile.content_type).like("video/%"),
        *(name.endswith(suffix) for suffix in VIDEO_SUFFIXES),
    )


def pending(session: Session, limit: int = BATCH) -> list[StoredFile]:
    """Complete project recordings (linked to a project's session by the experts module, or
    tagged with a project number) without a check of their current bytes, oldest first."""
    meta = col(StoredFile.meta)
    query = (
        select(StoredFile)
        .outerjoin(RecordingCheck, col(RecordingCheck.file_id) == col(StoredFile.id))
        .where(
            StoredFile.state == UploadState.COMPLETE,
            or_(
                col(StoredFile.id).in_(experts.project_recording_ids()),
                meta["project"].as_string() != "",  # NULL when absent: not true either
                meta["project_number"].as_string() != "",
            ),
            _is_video_sql(),
            or_(
                col(RecordingCheck.file_id).is_(None),
                col(RecordingCheck.sha256) != col(StoredFile.sha256),
            ),
        )
        .order_by(col(StoredFile.completed_at), col(StoredFile.id))
        .limit(limit)
    )
    return list(session.exec(query))


def decode(
    ffmpeg: str, path: Path, *, timeout_s: float, stop: Callable[[], bool] = lambda: False
) -> tuple[bool, str] | None:
    """Decode every stream of ``path``: (ok, detail), or None when stopped (no verdict)."""
    proc = subprocess.Popen(
        [*NICE, ffmpeg, "-nostdin", "-v", "error", "-xerror",
         "-i", str(path), "-f", "null", "-"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                _, err = proc.communicate(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if stop():
                    return None
                if time.monotonic() > deadline:
                    return False, f"decode timed out after {timeout_s:g} s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode == 0:
        return True, ""
    tail = " | ".join(err.decode("utf-8", "replace").strip().splitlines()[-3:])
    return False, f"ffmpeg exited {proc.returncode}: {tail}"[:500]


def check_file(runtime: Runtime, row: StoredFile, stop: Callable[[], bool]) -> bool | None:
    """Check one recording and store the result; None when stopped."""
    settings = runtime.settings
    cache = Path(settings.burn.transcode_dir or Path(settings.files.root) / "burn-playback")
    path = local_path(runtime.file_store, row, cache)
    verdict = decode(settings.burn.ffmpeg, path, timeout_s=max(600.0, row.size / 1e6), stop=stop)
    if verdict is None:
        return None
    ok, detail = verdict
    with Session(runtime.engine) as session:
        session.merge(
            RecordingCheck(
                file_id=row.id, sha256=row.sha256, ok=ok, detail=detail, checked_at=utcnow()
            )
        )
        session.commit()
    if not ok:
        log.warning("recording %s (%s) fails its decode check: %s", row.id, row.name, detail)
    return ok


def run_pending(runtime: Runtime) -> None:
    """The scheduled job: check waiting recordings for up to :data:`RUN_BUDGET_S`."""
    if runtime.settings.burn.check_recordings:
        # a collector that stops (or loses the leader lock) ends the check under way
        check_pending(runtime, stop=lambda: not runtime.scheduler.running)


def check_pending(runtime: Runtime, stop: Callable[[], bool] = lambda: False) -> int:
    """Check waiting recordings for up to :data:`RUN_BUDGET_S`; how many were checked."""
    started = time.monotonic()
    done = 0
    with Session(runtime.engine, expire_on_commit=False) as session:
        rows = pending(session)
    for row in rows:
        if stop() or time.monotonic() - started > RUN_BUDGET_S:
            break
        if check_file(runtime, row, stop) is None:
            break
        done += 1
    return done


def checks_for(session: Session, files: Collection[StoredFile]) -> dict[str, RecordingCheck]:
    """The check of each file's current bytes, by file id (files not checked yet are absent)."""
    if not files:
        return {}
    sha = {f.id: f.sha256 for f in files}
    rows = session.exec(select(RecordingCheck).where(col(RecordingCheck.file_id).in_(list(sha))))
    return {r.file_id: r for r in rows if r.sha256 == sha[r.file_id]}
