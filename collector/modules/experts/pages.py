"""Console pages of the experts module: rooms board (live), projects and sessions, the session
page with roster, sign-ins, access log and recordings, rooms, import, access log, alerts and
the provincial sync."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from collector.api.deps import (
    FileServiceDep,
    PublisherDep,
    RuntimeDep,
    SessionDep,
    client_ip,
)
from collector.auth.audit import audit
from collector.auth.permissions import has_permission
from collector.auth.scope import visible_centre_ids
from collector.centres.models import Centre
from collector.console.deps import (
    CheckedForm,
    Page,
    PageContext,
    PageUser,
    display_zone,
    local_time,
    page_permission,
)
from collector.console.i18n import add_labels
from collector.console.live import live_response
from collector.console.menu import MenuEntry, register_menu
from collector.db_types import utcnow
from collector.files.models import UploadState
from collector.files.ranges import range_response
from collector.modules.experts import access, service, sheets, sync
from collector.modules.experts.labels import LABELS
from collector.modules.experts.models import (
    CATEGORIES,
    ExpertAlert,
    Recording,
    RosterEntry,
)
from collector.modules.experts.routes import person_row, push_after_change
from collector.tabular import XLSX_MEDIA_TYPE, ImportErrors, export, template

router = APIRouter(include_in_schema=False)
add_labels(LABELS)
register_menu(
    MenuEntry("experts", "/experts", "experts.view", 50),
    MenuEntry("experts.sessions", "/experts/sessions", "experts.view", 51),
    MenuEntry("experts.access_log", "/experts/access-log", "experts.access_log", 52),
    MenuEntry("experts.alerts", "/experts/alerts", "experts.view", 53),
    MenuEntry("experts.rooms_manage", "/experts/rooms", "experts.manage", 54),
    MenuEntry("experts.sync", "/experts/sync", "experts.manage", 55),
)
PAGE_SIZE = 50
CentreParam = Annotated[str | None, Query(max_length=64)]


def _centres(session: Session, visible: frozenset[str]) -> list[tuple[str, str]]:
    rows = session.exec(
        select(Centre.id, Centre.name).where(col(Centre.id).in_(sorted(visible)))
    ).all()
    return sorted((cid, name) for cid, name in rows)


def _wanted(centre: str | None, page: PageContext) -> set[str]:
    if not centre:
        return set(page.visible)
    if centre not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    return {centre}


def _disposition(name: str) -> str:
    return f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''{quote(name, safe='')}"


def _unmasked(page: PageContext) -> bool:
    return has_permission(page.user, "personal_data.view")


def _audit_view(page: PageContext, session: Session, target: str, ids: str, n: int) -> None:
    audit(
        session,
        actor=page.user,
        action="personal_data.view",
        target_type=target,
        target_id=ids[:200],
        ip=client_ip(page.request),
        detail={"page": target, "rows": n},
    )
    session.commit()


# -- rooms board --------------------------------------------------------------------------------


def board_items(session: Session, centre_ids: set[str], page_t: Any, tz: tzinfo) -> dict[str, Any]:
    items: dict[str, Any] = {}
    for s in service.rooms_board(session, centre_ids):
        current = s.current
        when = local_time(current.planned_start, tz)[5:16] if current else ""
        items[f"room:{s.room.id}"] = {
            "id": f"room:{s.room.id}",
            "session": (
                f"{s.project.number if s.project else ''} #{current.key} {when}"
                if current
                else page_t("experts.no_session")
            ),
            "session_id": current.id if current else None,
            "online": f"{s.terminals_online}/{s.terminals}",
            "recording": page_t("experts.recording_on" if s.recording else "experts.recording_off"),
            "signed": f"{s.signed_in}/{s.expected}",
        }
    return items


@router.get("/experts", dependencies=[page_permission("experts.view")])
def rooms_page(page: Page, session: SessionDep, centre: CentreParam = None) -> Response:
    wanted = _wanted(centre, page)
    board = service.rooms_board(session, wanted)
    return page.render(
        "experts/board.html",
        board=board,
        items=board_items(session, wanted, page.t, page.tz),
        centres=_centres(session, page.visible),
        centre=centre or "",
        live="/console/events/experts" + (f"?centre={centre}" if centre else ""),
    )


@router.get("/console/events/experts", dependencies=[page_permission("experts.view")])
async def board_events(
    request: Request, user: PageUser, runtime: RuntimeDep, centre: CentreParam = None
) -> Any:
    """The rooms board, scoped like the page, as server-sent events."""
    from collector.console.i18n import request_language, translate

    engine = runtime.engine
    tz = display_zone(runtime)
    lang = request_language(request)

    def snapshot() -> dict[str, Any]:
        with Session(engine) as session:
            visible = set(visible_centre_ids(session, user))
            if centre and centre not in visible:
                return {}
            wanted = {centre} if centre else visible
            return board_items(session, wanted, lambda key: translate(lang, key), tz)

    return live_response(request, runtime, snapshot)


# -- projects and sessions ------------------------------------------------------------------------


@router.get("/experts/sessions", dependencies=[page_permission("experts.view")])
def sessions_page(
    page: Page,
    session: SessionDep,
    centre: CentreParam = None,
    day: date | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    wanted = _wanted(centre, page)
    start = end = None
    if day is not None:
        start, end = service.local_day_bounds(day, page.tz)
    rows = service.list_sessions(
        session, wanted, start=start, end=end, limit=PAGE_SIZE, offset=offset
    )
    return page.render(
        "experts/sessions.html",
        rows=[
            (s, p, service.effective_status(s), service.room_names(session, s.rooms))
            for s, p in rows
        ],
        centres=_centres(session, page.visible),
        centre=centre or "",
        day=day.isoformat() if day else "",
        rooms=service.list_rooms(session, page.visible),
        categories=CATEGORIES,
        can_manage=has_permission(page.user, "experts.manage"),
        offset=offset,
        limit=PAGE_SIZE,
        total=None,
        query=f"centre={centre or ''}&day={day or ''}&",
        error=page.request.query_params.get("error", ""),
    )


def _local(value: str, page: PageContext) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=page.tz)


@router.post("/experts/sessions", dependencies=[page_permission("experts.manage")])
def sessions_add(
    page: Page,
    form: CheckedForm,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> Response:
    """Manual entry of a project with one session (its roster is added on the session page)."""
    centre_id = str(form.get("centre_id") or "")
    if centre_id not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    try:
        rooms = [r.strip() for r in str(form.get("rooms") or "").split(",") if r.strip()]
        body = service.ProjectIn(
            centre_id=centre_id,
            number=str(form.get("number") or ""),
            name=str(form.get("name") or ""),
            category=str(form.get("category") or "other"),
            sessions=[
                service.SessionIn(
                    key=str(form.get("key") or "1"),
                    kind=str(form.get("kind") or "evaluation"),  # type: ignore[arg-type]
                    rooms=rooms,
                    start=_local(str(form.get("start") or ""), page),
                    end=_local(str(form.get("end") or ""), page),
                    host_name=str(form.get("host_name") or ""),
                    host_phone=str(form.get("host_phone") or "") or None,
                )
            ],
        )
        applied = service.apply_project(
            session,
            body,
            actor=page.user,
            source="manual",
            ip=client_ip(page.request),
            tz=page.tz,
        )
    except (ValidationError, ValueError) as exc:
        session.rollback()
        message = str(exc) if isinstance(exc, service.ExpertsError) else "输入有误：" + str(exc)
        return page.render(
            "experts/message.html", status_code=422, message=message[:500], back="/experts/sessions"
        )
    session.commit()
    push_after_change(session, publisher, runtime, centre_id, page.user.username)
    return RedirectResponse(f"/experts/sessions/{applied.sessions[0].id}", status_code=303)


def _session_or_404(session: Session, page: PageContext, session_id: int) -> Any:
    found = service.get_session(session, session_id, page.visible)
    if found is None:
        raise HTTPException(404, page.t("not_found"))
    return found


@router.get(
    "/experts/sessions/{experts_session_id}", dependencies=[page_permission("experts.view")]
)
def session_page(page: Page, session: SessionDep, experts_session_id: int) -> Response:
    row, project = _session_or_404(session, page, experts_session_id)
    unmasked = _unmasked(page)
    done = service.signins(session, row.id or 0)
    people = [
        person_row(row, e, done.get(e.id or 0), unmasked=unmasked)
        for e in service.roster(session, row.id or 0)
    ]
    for person in people:
        signed = done.get(person["id"])
        person["signed_local"] = signed.signed_at if signed else None
    if unmasked and people:
        _audit_view(page, session, "experts_roster", str(row.id), len(people))
    log_rows, _ = access.search(
        session, {row.centre_id}, access.AccessFilter(session_id=row.id), limit=200
    )
    recordings = list(
        session.exec(
            select(Recording)
            .where(Recording.session_id == row.id)
            .order_by(col(Recording.started_at), col(Recording.index), col(Recording.id))
        )
    )
    return page.render(
        "experts/session.html",
        row=row,
        project=project,
        status=service.effective_status(row),
        rooms=service.room_names(session, row.rooms),
        people=people,
        log=[access.access_row(session, r, unmasked=unmasked) for r in log_rows],
        recordings=recordings,
        alerts=[a for a in access.list_alerts(session, {row.centre_id}) if a.session_id == row.id],
        can_manage=has_permission(page.user, "experts.manage"),
        can_log=has_permission(page.user, "experts.access_log"),
    )


def _person_from_form(form: Any) -> service.PersonIn:
    return service.PersonIn(
        kind=str(form.get("kind") or "expert"),  # type: ignore[arg-type]
        role=str(form.get("role") or "member"),  # type: ignore[arg-type]
        name=str(form.get("name") or ""),
        id_number=str(form.get("id_number") or "") or None,
        phone=str(form.get("phone") or "") or None,
        card_uid=str(form.get("card_uid") or "") or None,
        specialty=str(form.get("specialty") or ""),
        organisation=str(form.get("organisation") or ""),
    )


@router.post(
    "/experts/sessions/{experts_session_id}/people",
    dependencies=[page_permission("experts.manage")],
)
def person_add(
    page: Page,
    form: CheckedForm,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    experts_session_id: int,
) -> Response:
    row, _ = _session_or_404(session, page, experts_session_id)
    back = f"/experts/sessions/{row.id}"
    try:
        person = _person_from_form(form)
    except ValidationError as exc:
        msgs = "；".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        return page.render("experts/message.html", status_code=422, message=msgs, back=back)
    service.add_person(session, row, person, actor=page.user, ip=client_ip(page.request))
    push_after_change(session, publisher, runtime, row.centre_id, page.user.username)
    return RedirectResponse(back, status_code=303)


@router.post(
    "/experts/sessions/{experts_session_id}/people/{experts_entry_id}/delete",
    dependencies=[page_permission("experts.manage")],
)
def person_remove(
    page: Page,
    form: CheckedForm,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    experts_session_id: int,
    experts_entry_id: int,
) -> Response:
    row, _ = _session_or_404(session, page, experts_session_id)
    entry = session.get(RosterEntry, experts_entry_id)
    if entry is None or entry.session_id != row.id:
        raise HTTPException(404, page.t("not_found"))
    back = f"/experts/sessions/{row.id}"
    try:
        service.remove_person(session, entry, actor=page.user, ip=client_ip(page.request))
    except service.ExpertsError as exc:
        return page.render("experts/message.html", status_code=409, message=str(exc), back=back)
    push_after_change(session, publisher, runtime, row.centre_id, page.user.username)
    return RedirectResponse(back, status_code=303)


@router.get(
    "/experts/recordings/{experts_recording_id}/content",
    dependencies=[page_permission("experts.view")],
)
def recording_content(
    page: Page,
    session: SessionDep,
    files: FileServiceDep,
    experts_recording_id: int,
    range: Annotated[str | None, Header()] = None,
) -> Response:
    """A recording segment for the browser's player; ``Range`` makes seeking work."""
    rec = session.get(Recording, experts_recording_id)
    if rec is None or rec.centre_id not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    row = files.get_upload(session, rec.file_id)
    if row is None or row.state != UploadState.COMPLETE:
        raise HTTPException(404, page.t("not_found"))
    return range_response(
        range,
        row.size,
        lambda start, end: files.open_content(row, start, end),
        media_type=row.content_type or "video/mp4",
        headers={"ETag": f'"{row.sha256}"'},
    )


# -- rooms ----------------------------------------------------------------------------------------


@router.get("/experts/rooms", dependencies=[page_permission("experts.manage")])
def rooms_manage(page: Page, session: SessionDep) -> Response:
    return page.render(
        "experts/rooms.html",
        rooms=service.list_rooms(session, page.visible),
        centres=_centres(session, page.visible),
    )


@router.post("/experts/rooms", dependencies=[page_permission("experts.manage")])
def rooms_save(
    page: Page,
    form: CheckedForm,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> Response:
    centre_id = str(form.get("centre_id") or "")
    if centre_id not in page.visible:
        raise HTTPException(404, page.t("not_found"))

    def split(key: str) -> list[str]:
        return [v.strip() for v in str(form.get(key) or "").split(",") if v.strip()]

    try:
        body = service.RoomIn(
            centre_id=centre_id,
            code=str(form.get("code") or ""),
            name=str(form.get("name") or ""),
            kind=str(form.get("kind") or "evaluation"),  # type: ignore[arg-type]
            gates=split("gates"),
            terminals=split("terminals"),
        )
    except ValidationError as exc:
        return page.render(
            "experts/message.html", status_code=422, message=str(exc)[:500], back="/experts/rooms"
        )
    service.save_room(session, body, actor=page.user, ip=client_ip(page.request))
    push_after_change(session, publisher, runtime, centre_id, page.user.username)
    return RedirectResponse("/experts/rooms", status_code=303)


@router.post("/experts/push", dependencies=[page_permission("experts.manage")])
def push_now(
    page: Page,
    form: CheckedForm,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> Response:
    centre_id = str(form.get("centre_id") or "")
    if centre_id not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    settings = runtime.settings
    service.push_centre(
        session,
        publisher,
        settings.experts,
        settings.secret_key,
        centre_id,
        force=True,
        created_by=page.user.username,
    )
    return RedirectResponse("/experts/rooms", status_code=303)


# -- import ---------------------------------------------------------------------------------------


@router.get("/experts/import/template.xlsx", dependencies=[page_permission("experts.manage")])
def import_template(page: Page) -> Response:
    data = template(sheets.COLUMNS, sheet_title="项目与名单")
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": _disposition("交易项目与专家名单导入模板.xlsx")},
    )


@router.get("/experts/import", dependencies=[page_permission("experts.manage")])
def import_page(page: Page, session: SessionDep) -> Response:
    return page.render(
        "experts/import.html", centres=_centres(session, page.visible), errors=None, done=None
    )


@router.post("/experts/import", dependencies=[page_permission("experts.manage")])
def import_upload(
    page: Page,
    form: CheckedForm,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> Response:
    centre_id = str(form.get("centre_id") or "")
    if centre_id not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "file required")
    upload.file.seek(0)
    data = upload.file.read(sheets.MAX_UPLOAD_BYTES + 1)
    if len(data) > sheets.MAX_UPLOAD_BYTES:
        raise HTTPException(413, "file too large")
    centres = _centres(session, page.visible)
    try:
        projects = sheets.parse_import(session, data, centre_id, page.tz)
        done = []
        for body in projects:
            applied = service.apply_project(
                session,
                body,
                actor=page.user,
                source="import",
                ip=client_ip(page.request),
                tz=page.tz,
            )
            done.append(applied)
    except ImportErrors as exc:
        session.rollback()
        return page.render(
            "experts/import.html", status_code=422, centres=centres, errors=exc.errors, done=None
        )
    except service.ExpertsError as exc:
        session.rollback()
        return page.render(
            "experts/import.html",
            status_code=422,
            centres=centres,
            errors=[(0, "", str(exc))],
            done=None,
        )
    session.commit()
    push_after_change(session, publisher, runtime, centre_id, page.user.username)
    return page.render(
        "experts/import.html",
        centres=centres,
        errors=None,
        done=[(a.project.number, a.project.name, len(a.sessions)) for a in done],
    )


# -- access log -----------------------------------------------------------------------------------


@router.get("/experts/access-log", dependencies=[page_permission("experts.access_log")])
def access_page(
    page: Page,
    session: SessionDep,
    runtime: RuntimeDep,
    filters: Annotated[access.AccessFilter, Query()],
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    wanted = _wanted(filters.centre, page)
    unmasked = _unmasked(page)
    rows, total = access.search(
        session,
        wanted,
        filters,
        secret_key=runtime.settings.secret_key,
        tz=page.tz,
        limit=PAGE_SIZE,
        offset=offset,
    )
    if unmasked and rows:
        _audit_view(
            page, session, "experts_access_log", ",".join(str(r.id) for r in rows[:20]), len(rows)
        )
    query = "".join(
        f"{k}={quote(str(v))}&"
        for k, v in filters.model_dump(exclude_none=True, mode="json").items()
    )
    return page.render(
        "experts/access_log.html",
        rows=[access.access_row(session, r, unmasked=unmasked, tz=page.tz) for r in rows],
        total=total,
        offset=offset,
        limit=PAGE_SIZE,
        query=query,
        filters=filters,
        centres=_centres(session, page.visible),
        can_export=has_permission(page.user, "export"),
    )


@router.get("/experts/access-log.xlsx", dependencies=[page_permission("export")])
def access_export(
    page: Page,
    session: SessionDep,
    runtime: RuntimeDep,
    filters: Annotated[access.AccessFilter, Query()],
) -> Response:
    """The access log as xlsx (masked unless ``personal_data.view``); audited."""
    if not has_permission(page.user, "experts.access_log"):
        raise HTTPException(403, page.t("forbidden"))
    wanted = _wanted(filters.centre, page)
    unmasked = _unmasked(page)
    rows, total = access.search(
        session,
        wanted,
        filters,
        secret_key=runtime.settings.secret_key,
        tz=page.tz,
        limit=50000,
    )
    data = export(
        [access.access_row(session, r, unmasked=unmasked) for r in rows],
        access.ACCESS_COLUMNS,
        sheet_title="专家通行记录",
    )
    audit(
        session,
        actor=page.user,
        action="experts.access_export",
        target_type="experts_access_log",
        ip=client_ip(page.request),
        detail={
            "rows": total,
            "unmasked": unmasked,
            **filters.model_dump(exclude_none=True, exclude={"q"}, mode="json"),
        },
    )
    session.commit()
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": _disposition("专家通行记录.xlsx")},
    )


# -- alerts ---------------------------------------------------------------------------------------


@router.get("/experts/alerts", dependencies=[page_permission("experts.view")])
def alerts_page(page: Page, session: SessionDep) -> Response:
    return page.render(
        "experts/alerts.html",
        alerts=access.list_alerts(session, page.visible, limit=200),
        can_manage=has_permission(page.user, "experts.manage"),
    )


@router.post(
    "/experts/alerts/{experts_alert_id}/ack", dependencies=[page_permission("experts.manage")]
)
def alert_ack(page: Page, form: CheckedForm, session: SessionDep, experts_alert_id: int) -> Any:
    alert = session.get(ExpertAlert, experts_alert_id)
    if alert is None or alert.centre_id not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = utcnow(), page.user.username
        session.add(alert)
        audit(
            session,
            actor=page.user,
            action="experts.alert_ack",
            target_type="experts_alerts",
            target_id=alert.id or "",
            centre_id=alert.centre_id,
            ip=client_ip(page.request),
        )
        session.commit()
    return RedirectResponse("/experts/alerts", status_code=303)


# -- provincial sync and the sign-in export ----------------------------------------------


@router.get("/experts/sync", dependencies=[page_permission("experts.manage")])
def sync_page(page: Page, session: SessionDep, runtime: RuntimeDep) -> Response:
    cfg = runtime.settings.experts
    today = datetime.now(page.tz).date()
    return page.render(
        "experts/sync.html",
        url=cfg.sync_url,
        mapping=cfg.sync_field_map,
        counts=sync.outbox_counts(session, sorted(page.visible)),
        date_from=(today - timedelta(days=7)).isoformat(),
        date_to=today.isoformat(),
        can_export=has_permission(page.user, "export"),
    )


@router.get("/experts/signins.xlsx", dependencies=[page_permission("export")])
def signins_export(
    page: Page,
    session: SessionDep,
    date_from: date | None = None,
    date_to: date | None = None,
    centre: CentreParam = None,
) -> Response:
    """Experts of the sessions in the period with their sign-in state; audited."""
    if not has_permission(page.user, "experts.view"):
        raise HTTPException(403, page.t("forbidden"))
    wanted = _wanted(centre, page)
    today = datetime.now(page.tz).date()
    start = service.local_day_bounds(date_from or today, page.tz)[0]
    end = service.local_day_bounds(date_to or today, page.tz)[1]
    unmasked = _unmasked(page)
    rows = access.signin_rows(session, wanted, start, end, unmasked=unmasked)
    data = export(rows, access.SIGNIN_COLUMNS, sheet_title="专家签到")
    audit(
        session,
        actor=page.user,
        action="experts.signins_export",
        target_type="experts_signins",
        ip=client_ip(page.request),
        detail={
            "rows": len(rows),
            "unmasked": unmasked,
            "from": start.isoformat(),
            "to": end.astimezone(UTC).isoformat(),
        },
    )
    session.commit()
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": _disposition("专家签到表.xlsx")},
    )
