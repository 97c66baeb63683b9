"""Console pages of the burn module: jobs (live), projects (tick to burn), schedules,
imports, drives, the archive with re-verification, and the video player."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from collector.api.deps import RuntimeDep, SessionDep, client_ip
from collector.auth.audit import audit
from collector.auth.permissions import has_permission
from collector.auth.scope import visible_centre_ids
from collector.commands.models import Command
from collector.console.deps import (
    CheckedForm,
    Page,
    PageContext,
    PageUser,
    display_zone,
    local_time,
    page_permission,
)
from collector.console.i18n import add_labels, request_language, translate
from collector.console.live import live_response
from collector.console.menu import MenuEntry, register_menu
from collector.modules.burn import archive, imports, recording_check, schedules, service
from collector.modules.burn.labels import LABELS
from collector.modules.burn.models import (
    CATEGORY_LABELS,
    STAGES,
    ArchiveStatus,
    BurnJob,
    BurnJobLog,
    Category,
    CopyRole,
    Drive,
    Frequency,
    JobOrigin,
    JobState,
    Medium,
)
from collector.modules.burn.playback import Playable
from collector.modules.burn.routes import (
    JobsIn,
    create_jobs,
    player_of,
    print_label,
    reverify_disc,
    xlsx_response,
)
from collector.tabular import ImportErrors

router = APIRouter(include_in_schema=False)
add_labels(LABELS)
register_menu(MenuEntry("burn", "/burn", "burn.view", order=60))

VIEW = [page_permission("burn.view")]
OPERATE = [page_permission("burn.operate")]
MANAGE = [page_permission("burn.manage")]
PAGE_SIZE = 50


def _common(page: Any, **values: Any) -> dict[str, Any]:
    user = page.user
    return {
        "can_operate": has_permission(user, "burn.operate"),
        "can_manage": has_permission(user, "burn.manage"),
        "categories": [
            (c.value, CATEGORY_LABELS[c][0 if page.lang == "zh" else 1]) for c in Category
        ],
        "category_label": lambda v: service.category_label(v, page.lang),
        "state_label": lambda v: page.t(f"burn.state.{v}"),
        "media": [m.value for m in Medium],
        "roles": [r.value for r in CopyRole],
        **values,
    }


def job_row(job: BurnJob, tz: tzinfo, lang: str) -> dict[str, Any]:
    return {
        "id": job.id,
        "state": translate(lang, f"burn.state.{job.state.value}"),
        "progress": f"{round(job.progress * 100)}%",
        "message": job.error if job.state == JobState.FAILED and job.error else job.message,
        "station_id": job.station_id or "-",
        "updated_at": local_time(job.updated_at, tz),
        "final": job.state.final,  # the job page reloads for its retry/cancel when it changes
    }


def log_row(line: BurnJobLog, tz: tzinfo, lang: str) -> dict[str, Any]:
    """One line of a job's log as the page shows it (and its live stream sends it)."""
    return {
        "id": f"log-{line.id}",
        "ts": local_time(line.ts, tz),
        "state": translate(lang, f"burn.state.{line.state}"),
        "progress": f"{round(line.progress * 100)}%" if line.progress is not None else "",
        "message": line.message,
    }


# -- jobs -----------------------------------------------------------------------------------


@router.get("/burn", dependencies=VIEW)
def jobs_page(
    page: Page, session: SessionDep, state: str = "", q: str = "", offset: int = 0
) -> Response:
    if state and state not in {s.value for s in JobState}:
        state = ""
    rows, total = service.list_jobs(
        session, page.visible, state=state or None, q=q, limit=PAGE_SIZE, offset=max(offset, 0)
    )
    query = urlencode({k: v for k, v in {"state": state, "q": q}.items() if v})
    return page.render(
        "burn/jobs.html",
        **_common(
            page,
            jobs=[(j, job_row(j, page.tz, page.lang)) for j in rows],
            total=total,
            offset=offset,
            limit=PAGE_SIZE,
            query=f"{query}&" if query else "",
            state=state,
            q=q,
            states=[s.value for s in JobState],
            due_count=archive.due_count(session, page.visible, datetime.now(page.tz).date()),
        ),
    )


@router.get("/burn/jobs/{burn_job_id}", dependencies=VIEW)
def job_page(burn_job_id: str, page: Page, session: SessionDep) -> Response:
    job = service.get_job(session, burn_job_id, page.visible)
    if job is None:
        raise HTTPException(404, "unknown job")
    command = session.get(Command, job.command_id) if job.command_id else None
    discs, _ = archive.search_discs(session, page.visible, q=job.project_number, limit=200)
    return page.render(
        "burn/job.html",
        **_common(
            page,
            job=job,
            row=job_row(job, page.tz, page.lang),
            log=[log_row(line, page.tz, page.lang) for line in service.job_log(session, job.id)],
            command=command,
            discs=[h for h in discs if h.disc.job_id == job.id],
            stages=[s.value for s in STAGES],
        ),
    )


@router.post("/burn/jobs/{burn_job_id}/retry", dependencies=OPERATE)
def job_retry(
    burn_job_id: str, page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    job = service.get_job(session, burn_job_id, page.visible)
    if job is None:
        raise HTTPException(404, "unknown job")
    stage = str(form.get("from_stage") or "") or None
    try:
        service.retry_job(
            session,
            runtime.publisher,
            runtime.settings.burn,
            job,
            actor=page.user.username,
            from_stage=stage,
        )
    except service.BurnError as exc:
        raise HTTPException(409, str(exc)) from exc
    audit(
        session,
        actor=page.user,
        action="burn.job_retry",
        target_type="burn_job",
        target_id=job.id,
        centre_id=job.centre_id,
        ip=client_ip(page.request),
        detail={"from_stage": stage},
    )
    session.commit()
    return RedirectResponse(f"/burn/jobs/{job.id}", status_code=303)


@router.post("/burn/jobs/{burn_job_id}/cancel", dependencies=OPERATE)
def job_cancel(
    burn_job_id: str, page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    job = service.get_job(session, burn_job_id, page.visible)
    if job is None:
        raise HTTPException(404, "unknown job")
    try:
        service.cancel_job(
            session, runtime.publisher, runtime.settings.burn, job, actor=page.user.username
        )
    except service.BurnError as exc:
        raise HTTPException(409, str(exc)) from exc
    audit(
        session,
        actor=page.user,
        action="burn.job_cancel",
        target_type="burn_job",
        target_id=job.id,
        centre_id=job.centre_id,
        ip=client_ip(page.request),
    )
    session.commit()
    return RedirectResponse(f"/burn/jobs/{job.id}", status_code=303)


@router.get("/console/events/burn-jobs", dependencies=VIEW)
async def job_events(request: Request, user: PageUser, runtime: RuntimeDep) -> Any:
    """Jobs of the user's centres (the newest 200): state, progress, message."""
    engine = runtime.engine
    tz = display_zone(runtime)
    lang = request_language(request)

    def snapshot() -> dict[str, Any]:
        with Session(engine) as session:
            visible = visible_centre_ids(session, user)
            rows, _ = service.list_jobs(session, visible, limit=200)
            return {j.id: job_row(j, tz, lang) for j in rows}

    return live_response(request, runtime, snapshot)


def _visible_job_id(runtime: Any, user: Any, job_id: str) -> str:
    """404 unless the user's centres see the job; checked once, when the stream opens."""
    with Session(runtime.engine) as session:
        if service.get_job(session, job_id, visible_centre_ids(session, user)) is None:
            raise HTTPException(404, "unknown job")
    return job_id


JobRows = Callable[[Session, str, tzinfo, str], dict[str, Any]]


def _one_job(session: Session, job_id: str, tz: tzinfo, lang: str) -> dict[str, Any]:
    job = session.get(BurnJob, job_id)
    return {job.id: job_row(job, tz, lang)} if job is not None else {}


def _log_lines(session: Session, job_id: str, tz: tzinfo, lang: str) -> dict[str, Any]:
    lines = service.job_log(session, job_id)
    return {row["id"]: row for row in (log_row(line, tz, lang) for line in lines)}


async def _job_stream(
    request: Request, user: Any, runtime: Any, burn_job_id: str, rows: JobRows
) -> Any:
    job_id = await run_in_threadpool(_visible_job_id, runtime, user, burn_job_id)
    engine, tz, lang = runtime.engine, display_zone(runtime), request_language(request)

    def snapshot() -> dict[str, Any]:
        with Session(engine) as session:
            return rows(session, job_id, tz, lang)

    return live_response(request, runtime, snapshot)


@router.get("/console/events/burn-jobs/{burn_job_id}", dependencies=VIEW)
async def one_job_events(
    burn_job_id: str, request: Request, user: PageUser, runtime: RuntimeDep
) -> Any:
    """One job (its page): state, progress, message."""
    return await _job_stream(request, user, runtime, burn_job_id, _one_job)


@router.get("/console/events/burn-jobs/{burn_job_id}/log", dependencies=VIEW)
async def job_log_events(
    burn_job_id: str, request: Request, user: PageUser, runtime: RuntimeDep
) -> Any:
    """The newest lines of a job's log, oldest first: new ones are appended on its page."""
    return await _job_stream(request, user, runtime, burn_job_id, _log_lines)


# -- projects (tick to burn) ----------------------------------------------------------------


@router.get("/burn/projects", dependencies=VIEW)
def projects_page(
    page: Page,
    session: SessionDep,
    runtime: RuntimeDep,
    status: str = "",
    q: str = "",
    offset: int = 0,
    error: str = "",
) -> Response:
    if status and status not in {s.value for s in ArchiveStatus}:
        status = ""
    rows, total = service.list_projects(
        session, page.visible, status=status or None, q=q, limit=PAGE_SIZE, offset=max(offset, 0)
    )
    query = urlencode({k: v for k, v in {"status": status, "q": q}.items() if v})
    stations = service.stations(session, runtime.settings.burn, page.visible)
    return page.render(
        "burn/projects.html",
        **_common(
            page,
            projects=rows,
            total=total,
            offset=offset,
            limit=PAGE_SIZE,
            query=f"{query}&" if query else "",
            status=status,
            q=q,
            error=error,
            stations=stations,
            centres=sorted(page.visible),
            default_copies=runtime.settings.burn.default_copies,
            default_medium=runtime.settings.burn.default_medium,
        ),
    )


@router.post("/burn/projects", dependencies=MANAGE)
def project_save(page: Page, form: CheckedForm, session: SessionDep) -> Response:
    centre = str(form.get("centre_id") or "")
    if centre not in page.visible:
        raise HTTPException(404, "unknown centre")
    sources: list[dict[str, Any]] = []
    tz = page.tz
    try:
        if form.get("nvr_url"):
            start = datetime.fromisoformat(str(form.get("video_start"))).replace(tzinfo=tz)
            end = datetime.fromisoformat(str(form.get("video_end"))).replace(tzinfo=tz)
            sources.append(
                {
                    "kind": "nvr_isapi",
                    "base_url": str(form.get("nvr_url")),
                    "channel": int(str(form.get("nvr_channel") or 1)),
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                }
            )
        if form.get("doc_url"):
            sources.append({"kind": "url", "url": str(form.get("doc_url")), "media": "document"})
        data = service.ProjectIn(
            centre_id=centre,
            number=str(form.get("number") or ""),
            name=str(form.get("name") or ""),
            category=Category(str(form.get("category") or "other")),
            opening_date=date.fromisoformat(str(form.get("opening_date") or "")),
            rooms=[
                r.strip()
                for r in str(form.get("rooms") or "").replace("、", ",").split(",")
                if r.strip()
            ],
            sources=sources or None,
        )
        row = service.upsert_project(session, data, commit=False)
    except (ValueError, ValidationError, service.BurnError) as exc:
        session.rollback()
        return page.render(
            "burn/error.html",
            status_code=422,
            **_common(page, error=str(exc), back="/burn/projects"),
        )
    audit(
        session,
        actor=page.user,
        action="burn.project_save",
        target_type="burn_project",
        target_id=row.id or 0,
        centre_id=row.centre_id,
        ip=client_ip(page.request),
        detail={"number": row.number},
    )
    session.commit()
    return RedirectResponse("/burn/projects", status_code=303)


@router.post("/burn/jobs", dependencies=OPERATE)
def jobs_create(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    try:
        body = JobsIn(
            project_ids=[int(str(v)) for v in form.getlist("project_id")],
            medium=Medium(str(form.get("medium"))) if form.get("medium") else None,
            copies=[CopyRole(str(v)) for v in form.getlist("copies")],
            station_id=str(form.get("station_id") or "") or None,
            allow_partial_video=bool(form.get("allow_partial_video")),
            label_lines=[
                line.strip()
                for line in str(form.get("label_lines") or "").splitlines()
                if line.strip()
            ],
        )
    except (ValueError, ValidationError):
        return page.render(
            "burn/error.html",
            status_code=422,
            **_common(page, error=page.t("burn.tick_projects"), back="/burn/projects"),
        )
    try:
        create_jobs(
            session,
            runtime,
            page.visible,
            body,
            principal=page.user,
            ip=client_ip(page.request),
            origin=JobOrigin.CONSOLE,
        )
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        return page.render(
            "burn/error.html",
            status_code=422,
            **_common(page, error=str(exc.detail), back="/burn/projects"),
        )
    return RedirectResponse("/burn", status_code=303)


@router.get("/burn/projects/{burn_project_id}", dependencies=VIEW)
def project_page(
    burn_project_id: int, page: Page, session: SessionDep, runtime: RuntimeDep
) -> Response:
    project = service.get_project(session, burn_project_id, page.visible)
    if project is None:
        raise HTTPException(404, "unknown project")
    recordings = service.project_recordings(session, project, runtime.settings.burn)
    jobs, _ = service.list_jobs(session, page.visible, q=project.number, limit=50)
    discs, _ = archive.search_discs(session, page.visible, q=project.number, limit=200)
    return page.render(
        "burn/project.html",
        **_common(
            page,
            project=project,
            recordings=recordings,
            videos=[f for f in recordings if service.is_video(f)],
            checks=recording_check.checks_for(session, recordings),
            clips={f.id: clip for f in recordings if (clip := service.nvr_clip(f)) is not None},
            jobs=[j for j in jobs if j.project_id == project.id],
            discs=[h for h in discs if h.disc.project_id == project.id],
        ),
    )


@router.get("/burn/play/{burn_file_id}", dependencies=VIEW)
def play_page(burn_file_id: str, page: Page, session: SessionDep, runtime: RuntimeDep) -> Response:
    """The player; a video the browser cannot play is converted first, in the background,
    and the page shows how far that has got and reloads itself until it is ready."""
    row = service.project_file(session, burn_file_id, page.visible)
    if row is None:
        raise HTTPException(404, "unknown file")
    ready = None
    if service.is_video(row):
        try:
            ready = player_of(page.request, runtime).prepare(row)
        except (RuntimeError, OSError) as exc:
            ready = Playable(None, error=str(exc)[:300])
    return page.render(
        "burn/play.html", **_common(page, file=row, ready=ready, clip=service.nvr_clip(row))
    )


# -- schedules ------------------------------------------------------------------------------


@router.get("/burn/schedules", dependencies=VIEW)
def schedules_page(page: Page, session: SessionDep, runtime: RuntimeDep, edit: int = 0) -> Response:
    rows = schedules.list_schedules(session, page.visible)
    editing = next((r for r in rows if r.id == edit), None)
    return page.render(
        "burn/schedules.html",
        **_common(
            page,
            schedules=[(r, schedules.next_run(runtime, r)) for r in rows],
            editing=editing,
            frequencies=[f.value for f in Frequency],
            centres=sorted(page.visible),
            stations=service.stations(session, runtime.settings.burn, page.visible),
        ),
    )


def _schedule_in(form: Any, tz: Any) -> schedules.ScheduleIn:
    run_at = None
    if form.get("run_at"):
        run_at = datetime.fromisoformat(str(form.get("run_at"))).replace(tzinfo=tz)
    weekday = form.get("weekday")
    day = form.get("day_of_month")
    return schedules.ScheduleIn(
        centre_id=str(form.get("centre_id") or ""),
        name=str(form.get("name") or ""),
        frequency=Frequency(str(form.get("frequency") or "daily")),
        time_of_day=str(form.get("time_of_day") or "02:00"),
        weekday=int(str(weekday)) if weekday not in (None, "") else None,
        day_of_month=int(str(day)) if day not in (None, "") else None,
        run_at=run_at,
        category=Category(str(form.get("category"))) if form.get("category") else None,
        medium=Medium(str(form.get("medium") or "dvd")),
        copies=[CopyRole(str(v)) for v in form.getlist("copies")] or [CopyRole.ARCHIVE],
        station_id=str(form.get("station_id") or "") or None,
        enabled=form.get("enabled") in ("on", "1", "true"),
    )


@router.post("/burn/schedules", dependencies=MANAGE)
def schedule_create(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    return _schedule_save(page, form, session, runtime, None)


@router.post("/burn/schedules/{burn_schedule_id}", dependencies=MANAGE)
def schedule_edit(
    burn_schedule_id: int, page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    row = schedules.get_schedule(session, burn_schedule_id, page.visible)
    if row is None:
        raise HTTPException(404, "unknown schedule")
    return _schedule_save(page, form, session, runtime, row)


def _schedule_save(page: Any, form: Any, session: Session, runtime: Any, row: Any) -> Response:
    try:
        data = _schedule_in(form, page.tz)
    except (ValueError, ValidationError) as exc:
        return page.render(
            "burn/error.html",
            status_code=422,
            **_common(page, error=str(exc), back="/burn/schedules"),
        )
    if data.centre_id not in page.visible:
        raise HTTPException(404, "unknown centre")
    saved = schedules.save_schedule(
        session, runtime, data, schedule=row, created_by=page.user.username
    )
    audit(
        session,
        actor=page.user,
        action="burn.schedule_edit" if row else "burn.schedule_create",
        target_type="burn_schedule",
        target_id=saved.id or 0,
        centre_id=saved.centre_id,
        ip=client_ip(page.request),
        detail={"name": saved.name, "frequency": saved.frequency.value},
    )
    session.commit()
    return RedirectResponse("/burn/schedules", status_code=303)


@router.post("/burn/schedules/{burn_schedule_id}/delete", dependencies=MANAGE)
def schedule_delete(
    burn_schedule_id: int, page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    row = schedules.get_schedule(session, burn_schedule_id, page.visible)
    if row is None:
        raise HTTPException(404, "unknown schedule")
    centre, name = row.centre_id, row.name
    schedules.delete_schedule(session, runtime, row)
    audit(
        session,
        actor=page.user,
        action="burn.schedule_delete",
        target_type="burn_schedule",
        target_id=burn_schedule_id,
        centre_id=centre,
        ip=client_ip(page.request),
        detail={"name": name},
    )
    session.commit()
    return RedirectResponse("/burn/schedules", status_code=303)


# -- imports --------------------------------------------------------------------------------


@router.get("/burn/imports", dependencies=VIEW)
def imports_page(page: Page, session: SessionDep) -> Response:
    return page.render(
        "burn/imports.html",
        **_common(
            page,
            imports=imports.list_imports(session, page.visible),
            errors=None,
            centres=sorted(page.visible),
        ),
    )


@router.get("/burn/imports/template", dependencies=VIEW)
def import_template() -> Response:
    return xlsx_response(imports.task_template(), "刻录任务导入模板.xlsx")


@router.post("/burn/imports", dependencies=OPERATE)
async def import_upload(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(422, "file required")
    data = await upload.read()
    filename = upload.filename or "import.xlsx"
    # the centre chosen on the form, else the user's own (a city or system administrator may
    # have none: then the rows' centre, see imports.record_centre)
    centre = str(form.get("centre_id") or "") or page.user.centre_id or ""

    def work() -> Response:
        settings = runtime.settings.burn
        try:
            record, jobs = imports.import_tasks(
                session,
                settings,
                data,
                filename=filename,
                visible=page.visible,
                default_centre=centre,
                tz=ZoneInfo(runtime.settings.timezone),
                created_by=page.user.username,
            )
        except ImportErrors as exc:
            session.rollback()
            return page.render(
                "burn/imports.html",
                status_code=422,
                **_common(
                    page,
                    imports=imports.list_imports(session, page.visible),
                    errors=exc.errors,
                    summary=exc.summary(),
                    centres=sorted(page.visible),
                ),
            )
        except service.BurnError as exc:
            session.rollback()
            return page.render(
                "burn/error.html",
                status_code=422,
                **_common(page, error=str(exc), back="/burn/imports"),
            )
        audit(
            session,
            actor=page.user,
            action="burn.import",
            target_type="burn_import",
            target_id=record.id or 0,
            centre_id=record.centre_id,
            ip=client_ip(page.request),
            detail={"file": filename, "rows": record.rows, "jobs": record.jobs},
        )
        session.commit()
        for job in jobs:
            service.dispatch(session, runtime.publisher, settings, job, actor=page.user.username)
        return RedirectResponse("/burn?imported=1", status_code=303)

    return await run_in_threadpool(work)


# -- drives ---------------------------------------------------------------------------------


def drive_row(drive: Drive, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": f"{drive.station_id}/{drive.drive}",
        "state": drive.state,
        "medium": drive.medium or "-",
        "free": f"{drive.free / 1e9:.1f} GB" if drive.free else "-",
        "current_job_id": (drive.current_job_id or "-")[:8],
        "message": drive.message,
        "updated_at": local_time(drive.updated_at, tz),
    }


@router.get("/console/events/burn-drives", dependencies=VIEW)
async def drive_events(request: Request, user: PageUser, runtime: RuntimeDep) -> Any:
    """Drives of the user's centres: state, medium, free space, current job."""
    engine = runtime.engine
    tz = display_zone(runtime)

    def snapshot() -> dict[str, Any]:
        with Session(engine) as session:
            visible = visible_centre_ids(session, user)
            return {
                r["id"]: r
                for r in (drive_row(d, tz) for d in archive.list_drives(session, visible))
            }

    return live_response(request, runtime, snapshot)


@router.get("/burn/drives", dependencies=VIEW)
def drives_page(page: Page, session: SessionDep, runtime: RuntimeDep) -> Response:
    return page.render(
        "burn/drives.html",
        **_common(
            page,
            drives=[(d, drive_row(d, page.tz)) for d in archive.list_drives(session, page.visible)],
            stations=service.stations(session, runtime.settings.burn, page.visible),
        ),
    )


# -- archive --------------------------------------------------------------------------------


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/burn/archive", dependencies=VIEW)
def archive_page(
    page: Page,
    session: SessionDep,
    q: str = "",
    category: str = "",
    date_from: str = "",
    date_to: str = "",
    file: str = "",
    due: str = "",
    offset: int = 0,
) -> Response:
    today = datetime.now(page.tz).date()
    hits, total = archive.search_discs(
        session,
        page.visible,
        q=q,
        category=category,
        date_from=_date(date_from),
        date_to=_date(date_to),
        file_name=file,
        due_by=today if due else None,
        limit=PAGE_SIZE,
        offset=max(offset, 0),
    )
    params = {
        "q": q,
        "category": category,
        "date_from": date_from,
        "date_to": date_to,
        "file": file,
        "due": due,
    }
    query = urlencode({k: v for k, v in params.items() if v})
    return page.render(
        "burn/archive.html",
        **_common(
            page,
            hits=hits,
            total=total,
            offset=offset,
            limit=PAGE_SIZE,
            query=f"{query}&" if query else "",
            form=params,
            today=today,
            due_count=archive.due_count(session, page.visible, today),
        ),
    )


@router.get("/burn/discs/{burn_disc_id}", dependencies=VIEW)
def disc_page(burn_disc_id: str, page: Page, session: SessionDep, runtime: RuntimeDep) -> Response:
    disc = archive.get_disc(session, burn_disc_id, page.visible)
    if disc is None:
        raise HTTPException(404, "unknown disc")
    return page.render(
        "burn/disc.html",
        **_common(
            page,
            disc=disc,
            files=archive.disc_files(session, disc.id),
            stations=service.stations(session, runtime.settings.burn, [disc.centre_id]),
            drives=[d for d in archive.list_drives(session, [disc.centre_id])],
            command=session.get(Command, disc.reverify_command_id)
            if disc.reverify_command_id
            else None,
            label_sent=page.request.query_params.get("label") == "sent",
        ),
    )


@router.post("/burn/discs/{burn_disc_id}/location", dependencies=MANAGE)
def disc_location(
    burn_disc_id: str, page: Page, form: CheckedForm, session: SessionDep
) -> Response:
    disc = archive.get_disc(session, burn_disc_id, page.visible)
    if disc is None:
        raise HTTPException(404, "unknown disc")
    before = archive.set_location(
        session, disc, shelf=str(form.get("shelf") or ""), box=str(form.get("box") or "")
    )
    audit(
        session,
        actor=page.user,
        action="burn.disc_location",
        target_type="burn_disc",
        target_id=disc.id,
        centre_id=disc.centre_id,
        ip=client_ip(page.request),
        detail={"before": before, "after": {"shelf": disc.shelf, "box": disc.box}},
    )
    session.commit()
    return RedirectResponse(f"/burn/discs/{disc.id}", status_code=303)


def _disc_command_refused(
    page: PageContext, session: Session, disc_id: str, exc: service.BurnError
) -> Response:
    """A station command for a disc was refused: nothing of it is kept, the page says why."""
    session.rollback()
    return page.render(
        "burn/error.html",
        status_code=422,
        **_common(page, error=str(exc), back=f"/burn/discs/{disc_id}"),
    )


@router.post("/burn/discs/{burn_disc_id}/print-label", dependencies=OPERATE)
def disc_print_label(
    burn_disc_id: str, page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    disc = archive.get_disc(session, burn_disc_id, page.visible)
    if disc is None:
        raise HTTPException(404, "unknown disc")
    station_id = str(form.get("station_id") or "")
    try:
        print_label(session, runtime, disc, station_id, actor=page.user, ip=client_ip(page.request))
    except service.BurnError as exc:
        return _disc_command_refused(page, session, disc.id, exc)
    return RedirectResponse(f"/burn/discs/{disc.id}?label=sent", status_code=303)


@router.post("/burn/discs/{burn_disc_id}/reverify", dependencies=OPERATE)
def disc_reverify(
    burn_disc_id: str, page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    disc = archive.get_disc(session, burn_disc_id, page.visible)
    if disc is None:
        raise HTTPException(404, "unknown disc")
    target = str(form.get("drive") or "")
    station_id, _, drive = target.partition("|")
    try:
        reverify_disc(
            session, runtime, disc, station_id, drive, actor=page.user, ip=client_ip(page.request)
        )
    except service.BurnError as exc:
        return _disc_command_refused(page, session, disc.id, exc)
    return RedirectResponse(f"/burn/discs/{disc.id}", status_code=303)
