"""Console pages of the venues module, one menu entry (and permission) per function of the
users' specification: 场所信息管理, 监管单位管理, 场所人流量阈值管理, 扫码进场信息管理,
扫码进场信息查询, 扫码统计查询, “扫码”预警."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from collector.api.deps import RuntimeDep, SessionDep
from collector.auth.models import User
from collector.auth.permissions import has_permission
from collector.console.deps import CheckedForm, Page, PageContext, page_permission
from collector.console.i18n import add_labels
from collector.console.menu import MenuEntry, register_menu
from collector.modules.venues import service
from collector.modules.venues.columns import SCAN_COLUMNS, VENUE_COLUMNS
from collector.modules.venues.importer import CHINA
from collector.modules.venues.models import Venue, VenueUnit
from collector.modules.venues.registry import parse_registry
from collector.modules.venues.routes import REASONS, scan_rows, xlsx
from collector.modules.venues.scope import ScopeRefused, VenueScope, scan_centres, scope_of
from collector.modules.venues.sync import sync_state
from collector.tabular import ImportErrors, template

router = APIRouter(include_in_schema=False)
add_labels(
    {
        "venues.registry": ("场所信息管理", "Venue registry"),
        "venues.units": ("监管单位管理", "Supervising units"),
        "venues.thresholds": ("场所人流量阈值管理", "Flow thresholds"),
        "venues.import": ("扫码进场信息管理", "Scan records"),
        "venues.scans": ("扫码进场信息查询", "Scan query"),
        "venues.stats": ("扫码统计查询", "Scan statistics"),
        "venues.alerts": ("“扫码”预警", "Scan alerts"),
        "venues.total_more": ("共 {n}+ 条", "More than {n}"),
    }
)
register_menu(
    MenuEntry("venues.registry", "/venues", "venues.manage", order=60),
    MenuEntry("venues.units", "/venue-units", "venues.units", order=61),
    MenuEntry("venues.thresholds", "/venue-thresholds", "venues.thresholds", order=62),
    MenuEntry("venues.import", "/venue-import", "venues.import", order=63),
    MenuEntry("venues.scans", "/venue-scans", "venues.scans", order=64),
    MenuEntry("venues.stats", "/venue-stats", "venues.stats", order=65),
    MenuEntry("venues.alerts", "/venue-alerts", "venues.alerts", order=66),
)
LIMIT = 50


def _scope(page: PageContext, session: Session) -> VenueScope:
    return scope_of(session, page.user, page.visible)


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _count(form: Any, key: str, label: str) -> int | None:
    """A threshold field: empty is None (not set); anything but a whole number ≥ 0 is an
    error naming the field, never read as empty (that would clear the threshold)."""
    text = str(form.get(key) or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{label}应为不小于 0 的整数（填写的是“{text}”）")
    return int(text)


_PYDANTIC_MESSAGES = {
    "missing": "必填",
    "string_too_short": "必填",
    "string_too_long": "长度不能超过 {max_length} 个字符",
}


def _form_error(exc: ValidationError, labels: dict[str, str]) -> str:
    """A form's validation errors in Chinese, each naming its field."""
    parts = []
    for error in exc.errors():
        key = str(error["loc"][-1]) if error["loc"] else ""
        label = labels.get(key, key)
        template_ = _PYDANTIC_MESSAGES.get(error["type"])
        if template_ is not None:
            message = template_.format(**(error.get("ctx") or {}))
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(message if message.startswith(label) else f"{label}：{message}")
    return "；".join(parts)


UNIT_LABELS = {
    "centre_id": "中心",
    "name": "监管单位",
    "leader": "监管单位负责人",
    "phone": "监管单位负责人手机号",
}
VENUE_LABELS = {
    "centre_id": "中心",
    "code": "公共场所ID",
    "name": "公共场所",
    "category": "类别",
    "city": "所在市区",
    "street": "所在街道",
    "admin": "公共场所管理员",
    "location": "所在位置",
    "unit_id": "监管单位",
}
THRESHOLD_LABELS = {
    "min_daily": "场所日人流量阈值（最小值）",
    "max_daily": "场所日人流量阈值（最大值）",
}


def _offset(value: int) -> int:
    return max(value, 0)


def _venue_or_404(session: Session, scope: VenueScope, venue_id: int) -> Venue:
    venue = service.get_venue(session, scope, venue_id)
    if venue is None:
        from fastapi import HTTPException

        raise HTTPException(404, "not found")
    return venue


# --- 场所信息管理 ---------------------------------------------------------------------------


def _registry(
    page: PageContext,
    session: Session,
    tab: str,
    offset: int,
    q: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    scope = _scope(page, session)
    found = service.list_venues(session, scope, tab=tab, q=q, limit=LIMIT, offset=offset)
    return page.render(
        "venues/registry.html",
        status_code=status,
        venues=found.rows,
        units=found.units,
        all_units=service.list_units(session, scope.centres),
        total=found.total,
        offset=offset,
        limit=LIMIT,
        tab=tab,
        q=q,
        query=urlencode({"tab": tab, "q": q}) + "&",
        centres=sorted(page.visible),
        error=error,
    )


@router.get("/venues", dependencies=[page_permission("venues.manage")])
def registry_page(
    page: Page, session: SessionDep, tab: str = "unset", q: str = "", offset: int = 0
) -> Response:
    return _registry(page, session, tab, _offset(offset), q)


def _venue_body(form: Any) -> service.VenueIn:
    return service.VenueIn(
        centre_id=str(form.get("centre_id") or ""),
        code=str(form.get("code") or "").strip(),
        name=str(form.get("name") or "").strip(),
        category=str(form.get("category") or "").strip(),
        city=str(form.get("city") or "").strip(),
        street=str(form.get("street") or "").strip(),
        admin=str(form.get("admin") or "").strip(),
        location=str(form.get("location") or "").strip(),
        unit_id=_int(form.get("unit_id")),
    )


@router.post("/venues", dependencies=[page_permission("venues.manage")])
def registry_create(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    scope = _scope(page, session)
    try:
        body = _venue_body(form)
        if body.centre_id not in scope.centres:
            raise ValueError("中心不可见")
        service.save_venue(
            session,
            scope,
            body,
            actor=page.user,
            default_city=runtime.settings.venues.default_city,
        )
    except ValidationError as exc:
        return _registry(page, session, "set", 0, error=_form_error(exc, VENUE_LABELS), status=422)
    except ValueError as exc:
        return _registry(page, session, "set", 0, error=str(exc), status=422)
    return RedirectResponse("/venues?tab=set", status_code=303)


@router.get("/venues/template", dependencies=[page_permission("venues.manage")])
def registry_template(page: Page) -> Response:
    return xlsx(template(VENUE_COLUMNS), "场所信息导入模板.xlsx")


@router.post("/venues/import", dependencies=[page_permission("venues.manage")])
async def registry_import(
    request: Request, page: Page, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The one-off initial import of the registry from the template: every row is checked
    first (errors by row number), then all are stored in one transaction, or none."""
    form = await request.form()
    upload = form.get("file")
    centre_id = str(form.get("centre_id") or "")
    scope = _scope(page, session)
    if centre_id not in scope.centres or upload is None or isinstance(upload, str):
        return _registry(page, session, "set", 0, error="请选择中心和文件", status=422)
    try:
        bodies = parse_registry(session, await upload.read(), centre_id)
        service.import_venues(
            session,
            bodies,
            centre_id=centre_id,
            actor=page.user,
            default_city=runtime.settings.venues.default_city,
        )
    except ImportErrors as exc:
        return _registry(page, session, "set", 0, error=exc.summary(), status=422)
    except ValueError as exc:
        return _registry(page, session, "set", 0, error=str(exc), status=422)
    return RedirectResponse("/venues?tab=set", status_code=303)


@router.get("/venues/{venue_id}", dependencies=[page_permission("venues.manage")])
def venue_page(page: Page, session: SessionDep, venue_id: int) -> Response:
    scope = _scope(page, session)
    venue = _venue_or_404(session, scope, venue_id)
    unit = session.get(VenueUnit, venue.unit_id) if venue.unit_id else None
    return page.render(
        "venues/venue.html",
        venue=venue,
        unit=unit,
        units=service.list_units(session, scope.centres),
        error="",
    )


@router.post("/venues/{venue_id}", dependencies=[page_permission("venues.manage")])
def venue_update(page: Page, form: CheckedForm, session: SessionDep, venue_id: int) -> Response:
    scope = _scope(page, session)
    venue = _venue_or_404(session, scope, venue_id)
    if form.get("action") == "delete":
        service.delete_venue(session, venue, actor=page.user)
        return RedirectResponse("/venues", status_code=303)
    try:
        body = _venue_body({**form, "centre_id": venue.centre_id})
        service.save_venue(session, scope, body, actor=page.user, venue=venue)
    except (ValidationError, ValueError) as exc:
        session.rollback()
        error = _form_error(exc, VENUE_LABELS) if isinstance(exc, ValidationError) else str(exc)
        return page.render(
            "venues/venue.html",
            status_code=422,
            venue=venue,
            unit=None,
            units=service.list_units(session, scope.centres),
            error=error,
        )
    return RedirectResponse(f"/venues/{venue_id}", status_code=303)


# --- 监管单位管理 -------------------------------------------------------------------------


def _units_page(page: PageContext, session: Session, error: str = "", status: int = 200):
    scope = _scope(page, session)
    return page.render(
        "venues/units.html",
        status_code=status,
        units=service.list_units(session, scope.centres),
        members=service.members(session, scope.centres),
        centres=sorted(page.visible),
        error=error,
    )


@router.get("/venue-units", dependencies=[page_permission("venues.units")])
def units_page(page: Page, session: SessionDep) -> Response:
    return _units_page(page, session)


@router.post("/venue-units", dependencies=[page_permission("venues.units")])
def units_create(page: Page, form: CheckedForm, session: SessionDep) -> Response:
    try:
        body = service.UnitIn(
            centre_id=str(form.get("centre_id") or ""),
            name=str(form.get("name") or "").strip(),
            leader=str(form.get("leader") or "").strip(),
            phone=str(form.get("phone") or "").strip(),
        )
    except ValidationError as exc:
        return _units_page(page, session, error=_form_error(exc, UNIT_LABELS), status=422)
    if body.centre_id not in page.visible:
        return _units_page(page, session, error="中心不可见", status=422)
    try:
        service.save_unit(session, body, actor=page.user)
    except ValueError as exc:
        return _units_page(page, session, error=str(exc), status=422)
    return RedirectResponse("/venue-units", status_code=303)


@router.post("/venue-units/members", dependencies=[page_permission("venues.units")])
def units_member(page: Page, form: CheckedForm, session: SessionDep) -> Response:
    user = session.get(User, _int(form.get("user_id")) or 0)
    unit_id = _int(form.get("unit_id"))
    unit = session.get(VenueUnit, unit_id) if unit_id else None
    if (
        user is None
        or user.centre_id not in page.visible
        or (unit is not None and unit.centre_id not in page.visible)
        or (unit_id and unit is None)
    ):
        return _units_page(page, session, error="用户或监管单位不存在", status=422)
    service.set_member(session, user, unit, actor=page.user)
    return RedirectResponse("/venue-units", status_code=303)


# --- 场所人流量阈值管理 ---------------------------------------------------------------------


@router.get("/venue-thresholds", dependencies=[page_permission("venues.thresholds")])
def thresholds_page(
    page: Page, session: SessionDep, tab: str = "unset", offset: int = 0
) -> Response:
    scope = _scope(page, session)
    found = service.list_venues(session, scope, thresholds=tab, limit=LIMIT, offset=_offset(offset))
    return page.render(
        "venues/thresholds.html",
        venues=found.rows,
        units=found.units,
        total=found.total,
        offset=_offset(offset),
        limit=LIMIT,
        tab=tab,
        query=f"tab={tab}&",
    )


@router.get("/venue-thresholds/{venue_id}", dependencies=[page_permission("venues.thresholds")])
def threshold_page(page: Page, session: SessionDep, venue_id: int) -> Response:
    scope = _scope(page, session)
    venue = _venue_or_404(session, scope, venue_id)
    unit = session.get(VenueUnit, venue.unit_id) if venue.unit_id else None
    return page.render("venues/threshold.html", venue=venue, unit=unit, error="")


@router.post("/venue-thresholds/{venue_id}", dependencies=[page_permission("venues.thresholds")])
def threshold_update(page: Page, form: CheckedForm, session: SessionDep, venue_id: int) -> Response:
    scope = _scope(page, session)
    venue = _venue_or_404(session, scope, venue_id)
    try:
        body = service.ThresholdsIn(
            min_daily=_count(form, "min_daily", THRESHOLD_LABELS["min_daily"]),
            max_daily=_count(form, "max_daily", THRESHOLD_LABELS["max_daily"]),
        )
    except (ValidationError, ValueError) as exc:
        unit = session.get(VenueUnit, venue.unit_id) if venue.unit_id else None
        error = _form_error(exc, THRESHOLD_LABELS) if isinstance(exc, ValidationError) else str(exc)
        return page.render(
            "venues/threshold.html",
            status_code=422,
            venue=venue,
            unit=unit,
            error=error,
            entered={k: str(form.get(k) or "") for k in THRESHOLD_LABELS},
        )
    service.set_thresholds(session, venue, body, actor=page.user)
    return RedirectResponse(f"/venue-thresholds/{venue_id}", status_code=303)


# --- 扫码进场信息管理 -----------------------------------------------------------------------


def _import_page(
    page: PageContext,
    session: Session,
    runtime: Any,
    *,
    offset: int = 0,
    message: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    """扫码进场信息管理: the newest 采集时间 of each centre (so a file is not imported twice),
    import and deletion, and the records (the query page's table, newest first)."""
    settings = runtime.settings.venues
    scope = _scope(page, session)
    found = service.query_scans(session, scope, service.ScanFilters(), limit=LIMIT, offset=offset)
    return page.render(
        "venues/import.html",
        status_code=status,
        latest=service.latest_by_centre(
            session, frozenset() if scope.restricted else scope.centres
        ),
        locked=service.sync_enabled(settings),
        state=sync_state(session),
        centres=sorted(page.visible),
        message=message,
        error=error,
        **_scan_list(found, offset, "/venue-import?"),
    )


@router.get("/venue-import", dependencies=[page_permission("venues.import")])
def import_page(page: Page, session: SessionDep, runtime: RuntimeDep, offset: int = 0) -> Response:
    return _import_page(page, session, runtime, offset=_offset(offset))


@router.get("/venue-import/template", dependencies=[page_permission("venues.import")])
def import_template(page: Page) -> Response:
    return xlsx(template(SCAN_COLUMNS), "扫码进场信息导入模板.xlsx")


def _target(page: PageContext, session: Session, centre_id: str) -> str | ScopeRefused:
    """The one centre an import or deletion of this page acts on, checked as the API
    checks it (``scope.scan_centres``), or why not."""
    if not centre_id:
        return ScopeRefused(422, "请选择中心")
    try:
        (target,) = scan_centres(_scope(page, session), centre_id)
    except ScopeRefused as exc:
        return exc
    return target


@router.post("/venue-import", dependencies=[page_permission("venues.import")])
async def import_upload(
    request: Request, page: Page, session: SessionDep, runtime: RuntimeDep
) -> Response:
    if service.sync_enabled(runtime.settings.venues):
        return _import_page(
            page, session, runtime, error="前置库同步已启用，不能手工导入", status=409
        )
    form = await request.form()
    upload = form.get("file")
    from collector.security.csrf import FORM_FIELD

    csrf = request.app.state.csrf
    from collector.api.deps import SESSION_COOKIE

    if not csrf.verify(request.cookies.get(SESSION_COOKIE), str(form.get(FORM_FIELD) or "")):
        return _import_page(page, session, runtime, error="CSRF", status=403)
    target = _target(page, session, str(form.get("centre_id") or ""))
    if isinstance(target, ScopeRefused):
        return _import_page(page, session, runtime, error=target.message, status=target.status)
    if upload is None or isinstance(upload, str):
        return _import_page(page, session, runtime, error="请选择文件", status=422)
    data = await upload.read()
    try:
        result = service.import_scan_file(
            session,
            data,
            centre_id=target,
            actor=page.user,
            actor_label=page.user.username,
            settings=runtime.settings.venues,
            filename=upload.filename or "",
        )
    except ImportErrors as exc:
        return _import_page(page, session, runtime, error=exc.summary(), status=422)
    message = (
        f"导入完成（{target}）：共 {result.rows} 行，新增 {result.inserted} 条，"
        f"重复 {result.duplicates} 条"
    )
    if result.expired:
        message += f"，超过个人信息保存期限未导入 {result.expired} 条"
    if result.alerts:
        message += f"；按新数据产生“扫码”预警 {result.alerts} 条"
    return _import_page(page, session, runtime, message=message)


def _day_bound(text: str, end: bool) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time()).replace(tzinfo=None) - CHINA


@router.post("/venue-import/delete", dependencies=[page_permission("venues.import")])
def import_delete(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    if service.sync_enabled(runtime.settings.venues):
        return _import_page(page, session, runtime, error="前置库同步已启用，不能删除", status=409)
    target = _target(page, session, str(form.get("centre_id") or ""))
    if isinstance(target, ScopeRefused):
        return _import_page(page, session, runtime, error=target.message, status=target.status)
    by = str(form.get("by") or "")
    start = _day_bound(str(form.get("start") or ""), end=False)
    end = _day_bound(str(form.get("end") or ""), end=True)
    if by not in ("collected", "imported") or start is None or end is None or start >= end:
        return _import_page(page, session, runtime, error="请选择删除依据和日期范围", status=422)
    if form.get("confirm") != "yes":
        return _import_page(page, session, runtime, error="请勾选确认删除", status=422)
    deleted = service.delete_scans(
        session,
        frozenset({target}),
        by=by,
        start=start.replace(tzinfo=UTC),
        end=end.replace(tzinfo=UTC),
        actor=page.user,
        settings=runtime.settings.venues,
    )
    message = f"已删除 {target} 的 {deleted} 条扫码进场信息"
    return _import_page(page, session, runtime, message=message)


# --- 扫码进场信息查询 -----------------------------------------------------------------------


FILTER_KEYS = (
    "venue_code",
    "venue_name",
    "category",
    "city",
    "street",
    "venue_admin",
    "id_number",
    "phone",
    "collect_result",
    "health_code",
    "nucleic_result",
    "unit_id",
)


def _filters(request: Request) -> tuple[service.ScanFilters, dict[str, str]]:
    params = {k: request.query_params.get(k, "").strip() for k in (*FILTER_KEYS, "start", "end")}
    if not params["unit_id"].isdigit():
        params["unit_id"] = ""
    start = _day_bound(params["start"], end=False)
    end = _day_bound(params["end"], end=True)
    filters = service.ScanFilters(
        **{k: params[k] for k in FILTER_KEYS if k != "unit_id"},
        unit_id=int(params["unit_id"]) if params["unit_id"] else None,
        start=start.replace(tzinfo=UTC) if start else None,
        end=end.replace(tzinfo=UTC) if end else None,
    )
    return filters, params


def _export_query(params: dict[str, str], filters: service.ScanFilters) -> str:
    """The page's filters for ``GET /api/v1/venue-scans/export``: the same fields, and the
    whole China days of the page as the API's [start, end) instants."""
    query = {k: params[k] for k in FILTER_KEYS if params[k]}
    if filters.start is not None:
        query["start"] = filters.start.isoformat()
    if filters.end is not None:
        query["end"] = filters.end.isoformat()
    return urlencode(query)


@router.get("/venue-scans", dependencies=[page_permission("venues.scans")])
def scans_page(
    request: Request, page: Page, session: SessionDep, runtime: RuntimeDep, offset: int = 0
) -> Response:
    filters, params = _filters(request)
    scope = _scope(page, session)
    found = service.query_scans(session, scope, filters, limit=LIMIT, offset=_offset(offset))
    return page.render(
        "venues/scans.html",
        units=_unit_choices(session, scope),
        **_scan_list(found, _offset(offset), "?" + urlencode(params) + "&"),
        filters=params,
        can_export=has_permission(page.user, "export"),
        export_query=_export_query(params, filters),
        retention_days=runtime.settings.venues.retention_days,
    )


def _scan_list(found: service.ScanPage, offset: int, href: str) -> dict[str, Any]:
    """The table and pager (``venues/_scan_pager.html``) of the two scan lists: ``total``
    is shown as “共 10,000+ 条” when ``more`` (the count stopped at ``COUNT_LIMIT``)."""
    return {
        "scans": scan_rows(found.rows, found.units, unmasked=False),
        "total": found.total,
        "more": found.more,
        "has_next": found.has_next,
        "offset": offset,
        "limit": LIMIT,
        "pager_href": href,
    }


def _unit_choices(session: Session, scope: VenueScope) -> list[VenueUnit]:
    """The 监管单位 a user may filter by: none for a unit's own user (it sees only its own)."""
    return [] if scope.restricted else service.list_units(session, scope.centres)


# --- 扫码统计查询 ---------------------------------------------------------------------------


@router.get("/venue-stats", dependencies=[page_permission("venues.stats")])
def stats_page(
    page: Page,
    session: SessionDep,
    start: str = "",
    end: str = "",
    venue_code: str = "",
    name: str = "",
    category: str = "",
    city: str = "",
    street: str = "",
    unit_id: str = "",
    offset: int = 0,
) -> Response:
    today = service.china_today()
    try:
        first = date.fromisoformat(start) if start else today - timedelta(days=6)
        last = date.fromisoformat(end) if end else today
    except ValueError:
        first, last = today - timedelta(days=6), today
    f = service.StatsFilters(
        start=first,
        end=last,
        venue_code=venue_code.strip(),
        name=name.strip(),
        category=category.strip(),
        city=city.strip(),
        street=street.strip(),
        unit_id=int(unit_id) if unit_id.strip().isdigit() else None,
    )
    scope = _scope(page, session)
    rows, total = service.venue_stats(session, scope, f, limit=LIMIT, offset=_offset(offset))
    params = {
        "start": first.isoformat(),
        "end": last.isoformat(),
        "venue_code": f.venue_code,
        "name": f.name,
        "category": f.category,
        "city": f.city,
        "street": f.street,
        "unit_id": str(f.unit_id or ""),
    }
    return page.render(
        "venues/stats.html",
        units=_unit_choices(session, scope),
        rows=rows,
        total=total,
        offset=_offset(offset),
        limit=LIMIT,
        filters=params,
        query=urlencode({k: v for k, v in params.items() if v}) + "&",
        can_export=has_permission(page.user, "export"),
    )


# --- “扫码”预警 ---------------------------------------------------------------------------


@router.get("/venue-alerts", dependencies=[page_permission("venues.alerts")])
def alerts_page(page: Page, session: SessionDep, tab: str = "open", offset: int = 0) -> Response:
    rows, total = service.list_alerts(
        session,
        _scope(page, session),
        received=tab == "received",
        limit=LIMIT,
        offset=_offset(offset),
    )
    return page.render(
        "venues/alerts.html",
        alerts=rows,
        reasons=REASONS,
        total=total,
        offset=_offset(offset),
        limit=LIMIT,
        tab=tab,
        query=f"tab={tab}&",
    )


@router.get("/venue-alerts/{alert_id}", dependencies=[page_permission("venues.alerts")])
def alert_page(page: Page, session: SessionDep, alert_id: int) -> Response:
    found = service.get_alert(session, _scope(page, session), alert_id)
    if found is None:
        from fastapi import HTTPException

        raise HTTPException(404, "not found")
    alert, venue = found
    days = [alert.start_day + timedelta(days=i) for i in range(len(alert.counts))]
    return page.render(
        "venues/alert.html",
        alert=alert,
        venue=venue,
        reason=REASONS[alert.direction],
        days=list(zip(days, alert.counts, strict=True)),
    )


@router.post("/venue-alerts/{alert_id}/receive", dependencies=[page_permission("venues.alerts")])
def alert_receive(page: Page, form: CheckedForm, session: SessionDep, alert_id: int) -> Response:
    found = service.get_alert(session, _scope(page, session), alert_id)
    if found is None:
        from fastapi import HTTPException

        raise HTTPException(404, "not found")
    service.receive_alert(session, found[0], actor=page.user, actor_label=page.user.username)
    return RedirectResponse(f"/venue-alerts/{alert_id}", status_code=303)
