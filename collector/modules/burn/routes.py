"""REST API of the burn module, under ``/api/v1/burn``."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from collector.api.deps import (
    CurrentPrincipal,
    PageParams,
    Principal,
    RuntimeDep,
    SessionDep,
    VisibleCentres,
    actor_name,
    client_ip,
    require,
    require_visible,
)
from collector.auth.audit import audit
from collector.files.ranges import range_response
from collector.modules.burn import archive, imports, recording_check, schedules, service
from collector.modules.burn.models import (
    ArchiveProject,
    ArchiveStatus,
    BurnJob,
    BurnSchedule,
    CopyRole,
    Disc,
    Drive,
    JobOrigin,
    Medium,
)
from collector.modules.burn.playback import PLAYER_LOCK, Player, iter_file
from collector.tabular import XLSX_MEDIA_TYPE

router = APIRouter(prefix="/burn", tags=["burn"])

VIEW = [require("burn.view")]
OPERATE = [require("burn.operate")]
MANAGE = [require("burn.manage")]


class Paged(BaseModel):
    items: list[dict[str, Any]]
    total: int


def _dump(row: Any) -> dict[str, Any]:
    return row.model_dump(mode="json")  # type: ignore[no-any-return]


# -- projects -------------------------------------------------------------------------------


@router.get("/projects", dependencies=VIEW)
def list_projects(
    session: SessionDep,
    visible: VisibleCentres,
    page: PageParams,
    status: ArchiveStatus | None = None,
    q: str = "",
) -> Paged:
    rows, total = service.list_projects(
        session, visible, status=status, q=q, limit=page.limit, offset=page.offset
    )
    return Paged(items=[_dump(r) for r in rows], total=total)


def _project(session: Session, project_id: int, visible: frozenset[str]) -> ArchiveProject:
    row = service.get_project(session, project_id, visible)
    if row is None:
        raise HTTPException(404, f"unknown project {project_id}")
    return row


@router.get("/projects/{burn_project_id}", dependencies=VIEW)
def get_project(
    burn_project_id: int, session: SessionDep, runtime: RuntimeDep, visible: VisibleCentres
) -> dict[str, Any]:
    row = _project(session, burn_project_id, visible)
    recordings = service.project_recordings(session, row, runtime.settings.burn)
    checks = recording_check.checks_for(session, recordings)
    return {
        **_dump(row),
        "recordings": [
            {
                "id": f.id,
                "name": f.name,
                "size": f.size,
                # true / false once the decode check of these bytes is made, else null
                "decode_ok": checks[f.id].ok if f.id in checks else None,
                "decode_detail": checks[f.id].detail if f.id in checks else "",
                # an NVR clip a burn station stored (contract NvrClipMeta), else null
                "nvr": clip.model_dump(mode="json") if (clip := service.nvr_clip(f)) else None,
            }
            for f in recordings
        ],
    }


@router.post("/projects", status_code=201, dependencies=MANAGE)
def upsert_project(
    body: service.ProjectIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> dict[str, Any]:
    require_visible(body.centre_id, visible)
    try:
        row = service.upsert_project(session, body, commit=False)
    except service.BurnError as exc:
        raise HTTPException(422, str(exc)) from exc
    audit(
        session,
        actor=principal,
        action="burn.project_save",
        target_type="burn_project",
        target_id=row.id or 0,
        centre_id=row.centre_id,
        ip=client_ip(request),
        detail={"number": row.number},
    )
    session.commit()
    session.refresh(row)
    return _dump(row)


# -- jobs -----------------------------------------------------------------------------------


class JobsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_ids: list[int] = Field(min_length=1, max_length=500)
    medium: Medium | None = None
    copies: list[CopyRole] = Field(default_factory=list)
    station_id: str | None = None
    label_lines: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=4, description="extra lines on the disc label"
    )
    allow_partial_video: bool = Field(
        default=False,
        description="archive NVR video with gaps (e.g. footage the NVR lost), the missing "
        "spans recorded in the manifest, instead of failing the job",
    )


def create_jobs(
    session: Session,
    runtime: Any,
    visible: frozenset[str],
    body: JobsIn,
    *,
    principal: Any,
    ip: str,
    origin: JobOrigin,
) -> list[BurnJob]:
    """One job per ticked project (shared by the API and the console); dispatches them."""
    settings = runtime.settings.burn
    projects = [service.get_project(session, pid, visible) for pid in body.project_ids]
    if any(p is None for p in projects):
        raise HTTPException(404, "unknown project")
    jobs = []
    for project in projects:
        assert project is not None
        if service.active_job_for(session, project.id or 0) is not None:
            raise HTTPException(409, f"项目 {project.number} 已有进行中的刻录任务")
        try:
            jobs.append(
                service.create_job(
                    session,
                    settings,
                    project,
                    medium=body.medium,
                    copies=[c.value for c in body.copies] or None,
                    station_id=body.station_id,
                    origin=origin,
                    created_by=actor_name(principal),
                    label_lines=body.label_lines,
                    allow_partial_video=body.allow_partial_video,
                )
            )
        except service.BurnError as exc:
            session.rollback()
            raise HTTPException(422, str(exc)) from exc
    for job in jobs:
        audit(
            session,
            actor=principal,
            action="burn.job_create",
            target_type="burn_job",
            target_id=job.id,
            centre_id=job.centre_id,
            ip=ip,
            detail={
                "project": job.project_number,
                "medium": job.medium.value,
                "allow_partial_video": body.allow_partial_video,
            },
        )
    session.commit()
    for job in jobs:
        service.dispatch(session, runtime.publisher, settings, job, actor=actor_name(principal))
    return jobs


@router.get("/jobs", dependencies=VIEW)
def list_jobs(
    session: SessionDep,
    visible: VisibleCentres,
    page: PageParams,
    state: str | None = None,
    q: str = "",
) -> Paged:
    rows, total = service.list_jobs(
        session, visible, state=state, q=q, limit=page.limit, offset=page.offset
    )
    return Paged(items=[_dump(r) for r in rows], total=total)


@router.post("/jobs", status_code=201, dependencies=OPERATE)
def add_jobs(
    body: JobsIn,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> list[dict[str, Any]]:
    jobs = create_jobs(
        session,
        runtime,
        visible,
        body,
        principal=principal,
        ip=client_ip(request),
        origin=JobOrigin.API,
    )
    return [_dump(j) for j in jobs]


def _job(session: Session, job_id: str, visible: frozenset[str]) -> BurnJob:
    row = service.get_job(session, job_id, visible)
    if row is None:
        raise HTTPException(404, f"unknown job {job_id}")
    return row


@router.get("/jobs/{burn_job_id}", dependencies=VIEW)
def get_job(burn_job_id: str, session: SessionDep, visible: VisibleCentres) -> dict[str, Any]:
    job = _job(session, burn_job_id, visible)
    return {**_dump(job), "log": [_dump(line) for line in service.job_log(session, job.id)]}


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_stage: str | None = None


@router.post("/jobs/{burn_job_id}/retry", dependencies=OPERATE)
def retry_job(
    burn_job_id: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
    body: RetryIn | None = None,
) -> dict[str, Any]:
    job = _job(session, burn_job_id, visible)
    try:
        service.retry_job(
            session,
            runtime.publisher,
            runtime.settings.burn,
            job,
            actor=actor_name(principal),
            from_stage=body.from_stage if body else None,
        )
    except service.BurnError as exc:
        raise HTTPException(409, str(exc)) from exc
    audit(
        session,
        actor=principal,
        action="burn.job_retry",
        target_type="burn_job",
        target_id=job.id,
        centre_id=job.centre_id,
        ip=client_ip(request),
    )
    session.commit()
    return _dump(job)


@router.post("/jobs/{burn_job_id}/cancel", dependencies=OPERATE)
def cancel_job(
    burn_job_id: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> dict[str, Any]:
    job = _job(session, burn_job_id, visible)
    try:
        service.cancel_job(
            session, runtime.publisher, runtime.settings.burn, job, actor=actor_name(principal)
        )
    except service.BurnError as exc:
        raise HTTPException(409, str(exc)) from exc
    audit(
        session,
        actor=principal,
        action="burn.job_cancel",
        target_type="burn_job",
        target_id=job.id,
        centre_id=job.centre_id,
        ip=client_ip(request),
    )
    session.commit()
    return _dump(job)


# -- schedules ------------------------------------------------------------------------------


def schedule_out(runtime: Any, row: BurnSchedule) -> dict[str, Any]:
    next_run = schedules.next_run(runtime, row)
    return {**_dump(row), "next_run": next_run.isoformat() if next_run else None}


@router.get("/schedules", dependencies=VIEW)
def list_schedules(session: SessionDep, runtime: RuntimeDep, visible: VisibleCentres) -> Paged:
    rows = schedules.list_schedules(session, visible)
    return Paged(items=[schedule_out(runtime, r) for r in rows], total=len(rows))


@router.post("/schedules", status_code=201, dependencies=MANAGE)
def add_schedule(
    body: schedules.ScheduleIn,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> dict[str, Any]:
    require_visible(body.centre_id, visible)
    row = schedules.save_schedule(session, runtime, body, created_by=actor_name(principal))
    audit(
        session,
        actor=principal,
        action="burn.schedule_create",
        target_type="burn_schedule",
        target_id=row.id or 0,
        centre_id=row.centre_id,
        ip=client_ip(request),
        detail={"name": row.name, "frequency": row.frequency.value},
    )
    session.commit()
    return schedule_out(runtime, row)


def _schedule(session: Session, schedule_id: int, visible: frozenset[str]) -> BurnSchedule:
    row = schedules.get_schedule(session, schedule_id, visible)
    if row is None:
        raise HTTPException(404, f"unknown schedule {schedule_id}")
    return row


@router.put("/schedules/{burn_schedule_id}", dependencies=MANAGE)
def edit_schedule(
    burn_schedule_id: int,
    body: schedules.ScheduleIn,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> dict[str, Any]:
    row = _schedule(session, burn_schedule_id, visible)
    require_visible(body.centre_id, visible)
    row = schedules.save_schedule(session, runtime, body, schedule=row)
    audit(
        session,
        actor=principal,
        action="burn.schedule_edit",
        target_type="burn_schedule",
        target_id=row.id or 0,
        centre_id=row.centre_id,
        ip=client_ip(request),
    )
    session.commit()
    return schedule_out(runtime, row)


@router.delete("/schedules/{burn_schedule_id}", status_code=204, dependencies=MANAGE)
def delete_schedule(
    burn_schedule_id: int,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> Response:
    row = _schedule(session, burn_schedule_id, visible)
    centre, name = row.centre_id, row.name
    schedules.delete_schedule(session, runtime, row)
    audit(
        session,
        actor=principal,
        action="burn.schedule_delete",
        target_type="burn_schedule",
        target_id=burn_schedule_id,
        centre_id=centre,
        ip=client_ip(request),
        detail={"name": name},
    )
    session.commit()
    return Response(status_code=204)


# -- import template -----------------------------------------------------------------------


def xlsx_response(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


@router.get("/import-template", dependencies=VIEW)
def import_template() -> Response:
    return xlsx_response(imports.task_template(), "刻录任务导入模板.xlsx")


# -- archive --------------------------------------------------------------------------------


def disc_out(hit: archive.DiscHit) -> dict[str, Any]:
    return {
        **_dump(hit.disc),
        "files": [_dump(f) for f in hit.files],
        "matched": [f.path for f in hit.matched],
    }


@router.get("/discs", dependencies=VIEW)
def search_discs(
    session: SessionDep,
    visible: VisibleCentres,
    page: PageParams,
    q: str = "",
    category: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    file: str = "",
    due: bool = False,
) -> Paged:
    hits, total = archive.search_discs(
        session,
        visible,
        q=q,
        category=category,
        date_from=date_from,
        date_to=date_to,
        file_name=file,
        due_by=archive.today_utc() if due else None,
        limit=page.limit,
        offset=page.offset,
    )
    return Paged(items=[disc_out(h) for h in hits], total=total)


def _disc(session: Session, disc_id: str, visible: frozenset[str]) -> Disc:
    row = archive.get_disc(session, disc_id, visible)
    if row is None:
        raise HTTPException(404, f"unknown disc {disc_id}")
    return row


@router.get("/discs/{burn_disc_id}", dependencies=VIEW)
def get_disc(burn_disc_id: str, session: SessionDep, visible: VisibleCentres) -> dict[str, Any]:
    disc = _disc(session, burn_disc_id, visible)
    return {**_dump(disc), "files": [_dump(f) for f in archive.disc_files(session, disc.id)]}


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shelf: str = Field(default="", max_length=64)
    box: str = Field(default="", max_length=64)


@router.put("/discs/{burn_disc_id}/location", dependencies=MANAGE)
def set_location(
    burn_disc_id: str,
    body: LocationIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> dict[str, Any]:
    disc = _disc(session, burn_disc_id, visible)
    before = archive.set_location(session, disc, shelf=body.shelf, box=body.box)
    audit(
        session,
        actor=principal,
        action="burn.disc_location",
        target_type="burn_disc",
        target_id=disc.id,
        centre_id=disc.centre_id,
        ip=client_ip(request),
        detail={"before": before, "after": {"shelf": disc.shelf, "box": disc.box}},
    )
    session.commit()
    return _dump(disc)


class PrintLabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    station_id: str = Field(
        default="",
        max_length=64,
        description="station to print on; default: the one that burned it",
    )


def _audited(
    session: Session, disc: Disc, action: str, command_id: str, actor: Principal, ip: str
) -> str:
    audit(
        session,
        actor=actor,
        action=action,
        target_type="burn_disc",
        target_id=disc.id,
        centre_id=disc.centre_id,
        ip=ip,
        detail={"command": command_id},
    )
    session.commit()
    return command_id


def print_label(
    session: Session, runtime: Any, disc: Disc, station_id: str, *, actor: Principal, ip: str
) -> str:
    """Send ``print_label`` for a disc and audit it (the page and the API); commits."""
    command_id = archive.request_label(
        session,
        runtime.publisher,
        runtime.settings.burn,
        disc,
        station_id=station_id or disc.station_id or "",
        actor=actor_name(actor),
    )
    return _audited(session, disc, "burn.label_reprint", command_id, actor, ip)


def reverify_disc(
    session: Session,
    runtime: Any,
    disc: Disc,
    station_id: str,
    drive: str,
    *,
    actor: Principal,
    ip: str,
) -> str:
    """Send ``verify_disc`` for a disc put in a drive and audit it (page and API); commits."""
    command_id = archive.request_reverify(
        session,
        runtime.publisher,
        runtime.settings.burn,
        disc,
        station_id=station_id,
        drive=drive,
        actor=actor_name(actor),
    )
    return _audited(session, disc, "burn.disc_reverify", command_id, actor, ip)


@router.post("/discs/{burn_disc_id}/print-label", status_code=202, dependencies=OPERATE)
def reprint_label(
    burn_disc_id: str,
    body: PrintLabelIn,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> dict[str, Any]:
    """Print a disc's label again on a station of its centre."""
    disc = _disc(session, burn_disc_id, visible)
    try:
        command_id = print_label(
            session, runtime, disc, body.station_id, actor=principal, ip=client_ip(request)
        )
    except service.BurnError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"command_id": command_id}


class ReverifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    station_id: str = Field(min_length=1, max_length=64)
    drive: str = Field(min_length=1, max_length=128)


@router.post("/discs/{burn_disc_id}/reverify", status_code=202, dependencies=OPERATE)
def reverify(
    burn_disc_id: str,
    body: ReverifyIn,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> dict[str, Any]:
    disc = _disc(session, burn_disc_id, visible)
    try:
        command_id = reverify_disc(
            session,
            runtime,
            disc,
            body.station_id,
            body.drive,
            actor=principal,
            ip=client_ip(request),
        )
    except service.BurnError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"command_id": command_id}


@router.get("/drives", dependencies=VIEW)
def list_drives(session: SessionDep, visible: VisibleCentres) -> Paged:
    rows: list[Drive] = archive.list_drives(session, visible)
    return Paged(items=[_dump(r) for r in rows], total=len(rows))


# -- playback -------------------------------------------------------------------------------


def player_of(request: Request, runtime: Any) -> Player:
    """The app's player, made on first use (once: two first requests may come together);
    the app's shutdown stops its transcodes."""
    app = request.app
    player: Player | None = getattr(app.state, "burn_player", None)
    if player is not None:
        return player
    with PLAYER_LOCK:
        player = getattr(app.state, "burn_player", None)
        if player is None:
            settings = runtime.settings
            cache = settings.burn.transcode_dir or str(Path(settings.files.root) / "burn-playback")
            player = Player(
                store=runtime.file_store,
                cache_dir=Path(cache),
                ffmpeg=settings.burn.ffmpeg,
                ffprobe=settings.burn.ffprobe,
            )
            app.router.add_event_handler("shutdown", player.stop)
            app.state.burn_player = player
    return player


MEDIA_WAIT_S = 15.0
"""How long a media request waits for a transcode it started (a short clip is served at once)."""


@router.get("/media/{file_id}", dependencies=VIEW, response_class=StreamingResponse)
def media(
    file_id: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    visible: VisibleCentres,
    range: Annotated[str | None, Header()] = None,
    original: Annotated[bool, Query(description="send the stored file, never a transcode")] = False,
) -> Response:
    """A project video for the console's player: seekable (``Range``, 206), transcoded to
    H.264/AAC MP4 on first use when the browser cannot play the stored codec (in the
    background: a transcode not done within a few seconds answers 503 with ``Retry-After``; a
    failed one answers 502 for ten minutes, then is tried again).
    Only files of archive projects the user sees: ``burn.view`` is no licence to the whole
    file store."""
    row = service.project_file(session, file_id, visible)
    if row is None:
        raise HTTPException(404, f"unknown file {file_id}")
    player = player_of(request, runtime)
    if original or not service.is_video(row):
        path, media_type = player.source_path(row), row.content_type
    else:
        try:
            ready = player.wait(row, MEDIA_WAIT_S)
        except (RuntimeError, OSError) as exc:
            raise HTTPException(502, f"cannot prepare the video: {exc}") from exc
        if ready.error:
            raise HTTPException(502, f"cannot prepare the video: {ready.error}")
        if ready.path is None:
            done = "" if ready.progress is None else f" ({ready.progress:.0%})"
            doing = "waits to be converted" if ready.queued else f"is being converted{done}"
            raise HTTPException(
                503,
                f"the video {doing} for the browser; try again shortly",
                headers={"Retry-After": "10"},
            )
        path = ready.path
        media_type = "video/mp4"
    return range_response(
        range,
        path.stat().st_size,
        lambda start, end: iter_file(path, start, end),
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


def stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
