"""API of the venues module (under ``/api/v1``). Every route is scoped by the caller's
centres and, for a supervising unit's user, by its unit's venues: ids outside answer 404."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from collector.api.deps import (
    CurrentPrincipal,
    PageParams,
    RuntimeDep,
    SessionDep,
    VisibleCentres,
    actor_name,
    client_ip,
    require,
)
from collector.auth.audit import audit
from collector.auth.permissions import has_permission
from collector.modules.venues import service
from collector.modules.venues.columns import SCAN_EXPORT_COLUMNS, STATS_COLUMNS
from collector.modules.venues.importer import CHINA
from collector.modules.venues.models import Venue, VenueScan
from collector.modules.venues.scope import ScopeRefused, VenueScope, scan_centres, scope_of
from collector.security.personal_data import mask_id_number, mask_name, mask_phone
from collector.tabular import XLSX_MEDIA_TYPE, ImportErrors, export

router = APIRouter(tags=["venues"])


def venue_scope(
    session: SessionDep, principal: CurrentPrincipal, visible: VisibleCentres
) -> VenueScope:
    return scope_of(session, principal, visible)


ScopeDep = Annotated[VenueScope, Depends(venue_scope)]
LOCKED = "前置库同步已启用：扫码进场信息的导入与删除已停用"


class VenueOut(BaseModel):
    id: int
    centre_id: str
    code: str
    name: str
    category: str
    city: str
    street: str
    admin: str
    location: str
    unit_id: int | None
    unit: str
    min_daily: int | None
    max_daily: int | None
    discovered: bool


class VenuePageOut(BaseModel):
    items: list[VenueOut]
    total: int


def venue_out(venue: Venue, units: dict[int, str]) -> VenueOut:
    return VenueOut(
        id=venue.id or 0,
        centre_id=venue.centre_id,
        code=venue.code,
        name=venue.name,
        category=venue.category,
        city=venue.city,
        street=venue.street,
        admin=venue.admin,
        location=venue.location,
        unit_id=venue.unit_id,
        unit=units.get(venue.unit_id or 0, service.EMPTY_UNIT),
        min_daily=venue.min_daily,
        max_daily=venue.max_daily,
        discovered=venue.discovered,
    )


def _venue(session: Session, scope: VenueScope, venue_id: int) -> Venue:
    venue = service.get_venue(session, scope, venue_id)
    if venue is None:
        raise HTTPException(404, f"unknown venue {venue_id}")
    return venue


@router.get("/venues", dependencies=[require("venues.view")])
def list_venues(
    session: SessionDep, scope: ScopeDep, page: PageParams, tab: str = "", q: str = ""
) -> VenuePageOut:
    found = service.list_venues(session, scope, tab=tab, q=q, limit=page.limit, offset=page.offset)
    return VenuePageOut(items=[venue_out(v, found.units) for v in found.rows], total=found.total)


@router.post("/venues", status_code=201, dependencies=[require("venues.manage")])
def create_venue(
    body: service.VenueIn,
    session: SessionDep,
    scope: ScopeDep,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> VenueOut:
    if body.centre_id not in scope.centres:
        raise HTTPException(404, f"unknown centre {body.centre_id!r}")
    try:
        venue = service.save_venue(
            session,
            scope,
            body,
            actor=principal,
            default_city=runtime.settings.venues.default_city,
        )
    except ValueError as exc:
        raise _refused(exc) from exc
    return venue_out(venue, service.unit_names(session, {venue.unit_id or 0}))


def _refused(exc: ValueError) -> HTTPException:
    """409 for a 公共场所ID already taken, 422 for other bad input (a wrong 监管单位)."""
    return HTTPException(409 if isinstance(exc, service.VenueClash) else 422, str(exc))


def _scan_centres(scope: VenueScope, centre_id: str | None) -> frozenset[str]:
    try:
        return scan_centres(scope, centre_id)
    except ScopeRefused as exc:
        raise HTTPException(exc.status, exc.message) from exc


@router.get("/venues/{venue_id}", dependencies=[require("venues.view")])
def get_venue(venue_id: int, session: SessionDep, scope: ScopeDep) -> VenueOut:
    venue = _venue(session, scope, venue_id)
    return venue_out(venue, service.unit_names(session, {venue.unit_id or 0}))


@router.put("/venues/{venue_id}", dependencies=[require("venues.manage")])
def update_venue(
    venue_id: int,
    body: service.VenueIn,
    session: SessionDep,
    scope: ScopeDep,
    principal: CurrentPrincipal,
) -> VenueOut:
    venue = _venue(session, scope, venue_id)
    if body.centre_id != venue.centre_id:
        raise HTTPException(422, "a venue cannot move to another centre")
    try:
        venue = service.save_venue(session, scope, body, actor=principal, venue=venue)
    except ValueError as exc:
        raise _refused(exc) from exc
    return venue_out(venue, service.unit_names(session, {venue.unit_id or 0}))


@router.delete("/venues/{venue_id}", status_code=204, dependencies=[require("venues.manage")])
def delete_venue(
    venue_id: int, session: SessionDep, scope: ScopeDep, principal: CurrentPrincipal
) -> Response:
    service.delete_venue(session, _venue(session, scope, venue_id), actor=principal)
    return Response(status_code=204)


@router.put("/venues/{venue_id}/thresholds", dependencies=[require("venues.thresholds")])
def set_thresholds(
    venue_id: int,
    body: service.ThresholdsIn,
    session: SessionDep,
    scope: ScopeDep,
    principal: CurrentPrincipal,
) -> VenueOut:
    venue = service.set_thresholds(session, _venue(session, scope, venue_id), body, actor=principal)
    return venue_out(venue, service.unit_names(session, {venue.unit_id or 0}))


class UnitOut(BaseModel):
    id: int
    centre_id: str
    name: str
    leader: str
    phone: str


@router.get("/venue-units", dependencies=[require("venues.units")])
def list_units(session: SessionDep, scope: ScopeDep) -> list[UnitOut]:
    return [
        UnitOut(
            id=u.id or 0,
            centre_id=u.centre_id,
            name=u.name,
            leader=mask_name(u.leader) if u.leader else "",
            phone=mask_phone(u.phone) if u.phone else "",
        )
        for u in service.list_units(session, scope.centres)
    ]


@router.post("/venue-units", status_code=201, dependencies=[require("venues.units")])
def create_unit(
    body: service.UnitIn, session: SessionDep, scope: ScopeDep, principal: CurrentPrincipal
) -> UnitOut:
    if body.centre_id not in scope.centres:
        raise HTTPException(404, f"unknown centre {body.centre_id!r}")
    try:
        unit = service.save_unit(session, body, actor=principal)
    except ValueError as exc:
        raise _refused(exc) from exc
    return UnitOut(
        id=unit.id or 0,
        centre_id=unit.centre_id,
        name=unit.name,
        leader=mask_name(unit.leader) if unit.leader else "",
        phone=mask_phone(unit.phone) if unit.phone else "",
    )


# --- scans ------------------------------------------------------------------------------


class ScanOut(BaseModel):
    id: int
    venue_code: str
    venue_name: str
    category: str
    city: str
    street: str
    venue_admin: str
    id_number: str
    person_name: str
    phone: str
    collect_result: str
    nucleic_result: str
    nucleic_time: str
    health_code: str
    location: str
    collected_at: datetime
    unit: str
    imported_by: str
    imported_at: datetime
    purged: bool = False  # personal data purged after the retention: the three fields say so


class ScanPageOut(BaseModel):
    items: list[ScanOut]
    total: int
    total_is_lower_bound: bool = False
    """True when ``total`` is a lower bound (at least that many records match): the count
    stops at ``service.COUNT_LIMIT`` (10,000). When another page follows, ``total`` is more
    than ``offset`` plus this page's items, so a client paging while ``offset < total`` asks
    for it and reaches the end, where ``total`` is exact (and this false)."""


def scan_rows(
    scans: list[VenueScan], units: dict[tuple[str, str], str], unmasked: bool
) -> list[dict[str, Any]]:
    out = []
    for s in scans:
        idn, name, phone = service.person_of(s)
        if not unmasked and s.purged_at is None:
            idn, name, phone = mask_id_number(idn), mask_name(name), mask_phone(phone)
        out.append(
            {
                **s.model_dump(
                    exclude={"person", "id_number_hash", "phone_hash", "record_hash", "purged_at"}
                ),
                "purged": s.purged_at is not None,
                "id_number": idn,
                "person_name": name,
                "phone": phone,
                "unit": units.get((s.centre_id, s.venue_code), service.EMPTY_UNIT),
            }
        )
    return out


def scan_filters(
    venue_code: str = "",
    venue_name: str = "",
    category: str = "",
    city: str = "",
    street: str = "",
    venue_admin: str = "",
    id_number: str = "",
    phone: str = "",
    collect_result: str = "",
    health_code: str = "",
    nucleic_result: str = "",
    unit_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> service.ScanFilters:
    return service.ScanFilters(
        venue_code=venue_code,
        venue_name=venue_name,
        category=category,
        city=city,
        street=street,
        venue_admin=venue_admin,
        id_number=id_number,
        phone=phone,
        collect_result=collect_result,
        health_code=health_code,
        nucleic_result=nucleic_result,
        unit_id=unit_id,
        start=_aware(start),
        end=_aware(end),
    )


def _aware(value: datetime | None) -> datetime | None:
    """A time without an offset is China time, as people type it."""
    if value is None or value.tzinfo is not None:
        return value
    return (value - CHINA).replace(tzinfo=UTC)


FiltersDep = Annotated[service.ScanFilters, Depends(scan_filters)]


def _unmasked(session: Session, principal: Any, request: Request, what: str, n: int) -> bool:
    if not has_permission(principal, "personal_data.view"):
        return False
    audit(
        session,
        actor=principal,
        action="personal_data.view",
        target_type=what,
        ip=client_ip(request),
        detail={"rows": n},
    )
    session.commit()
    return True


@router.get("/venue-scans", dependencies=[require("venues.scans")])
def list_scans(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    principal: CurrentPrincipal,
    page: PageParams,
    filters: FiltersDep,
) -> ScanPageOut:
    found = service.query_scans(session, scope, filters, limit=page.limit, offset=page.offset)
    rows = found.rows
    unmasked = bool(rows) and _unmasked(session, principal, request, "venue_scans", len(rows))
    total = found.total  # the pager's number: at offset 9,950 of more, still 10,000
    if found.has_next:  # one more than the records up to here, and at least the bound
        total = max(total, page.offset + len(rows) + 1)
    return ScanPageOut(
        items=[ScanOut(**r) for r in scan_rows(rows, found.units, unmasked)],
        total=total,
        total_is_lower_bound=found.more,
    )


def xlsx(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


EXPORT_LIMIT = 200_000


@router.get("/venue-scans/export", dependencies=[require("venues.scans")])
def export_scans(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    principal: CurrentPrincipal,
    filters: FiltersDep,
) -> Response:
    if not has_permission(principal, "export"):
        raise HTTPException(403, "permission 'export' required")
    found = service.query_scans(session, scope, filters, limit=EXPORT_LIMIT, offset=0)
    rows = found.rows
    unmasked = has_permission(principal, "personal_data.view")
    data = export(scan_rows(rows, found.units, unmasked), SCAN_EXPORT_COLUMNS)
    audit(
        session,
        actor=principal,
        action="export",
        target_type="venue_scans",
        ip=client_ip(request),
        detail={"rows": len(rows), "unmasked": unmasked},
    )
    session.commit()
    return xlsx(data, "扫码进场信息.xlsx")


class ImportOut(BaseModel):
    rows: int
    inserted: int
    duplicates: int
    expired: int  # collected before the retention boundary: not stored
    latest: datetime | None
    alerts: int  # new alerts of the evaluation run right after the import


@router.post("/venue-scans/import/{centre_id}", dependencies=[require("venues.import")])
async def import_scans(
    centre_id: str,
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> Any:
    """The request body is the xlsx or CSV file itself."""
    _scan_centres(scope, centre_id)
    settings = runtime.settings.venues
    if service.sync_enabled(settings):
        raise HTTPException(409, LOCKED)
    data = await request.body()
    try:
        result = service.import_scan_file(
            session,
            data,
            centre_id=centre_id,
            actor=principal,
            actor_label=actor_name(principal),
            settings=settings,
        )
    except ImportErrors as exc:
        raise HTTPException(
            422, {"message": exc.summary(), "errors": [list(e) for e in exc.errors]}
        ) from exc
    return ImportOut(
        rows=result.rows,
        inserted=result.inserted,
        duplicates=result.duplicates,
        expired=result.expired,
        latest=result.latest,
        alerts=result.alerts,
    )


class DeleteIn(BaseModel):
    by: str = Field(pattern="^(collected|imported)$")
    start: datetime
    end: datetime
    centre_id: str | None = None
    confirm: bool = False


@router.post("/venue-scans/delete", dependencies=[require("venues.import")])
def delete_scans(
    body: DeleteIn,
    session: SessionDep,
    scope: ScopeDep,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> dict[str, int]:
    centres = _scan_centres(scope, body.centre_id)
    if service.sync_enabled(runtime.settings.venues):
        raise HTTPException(409, LOCKED)
    if not body.confirm:
        raise HTTPException(422, "confirm must be true")
    start, end = _aware(body.start), _aware(body.end)
    assert start is not None and end is not None
    deleted = service.delete_scans(
        session,
        centres,
        by=body.by,
        start=start,
        end=end,
        actor=principal,
        settings=runtime.settings.venues,
    )
    return {"deleted": deleted}


class ScanStatusOut(BaseModel):
    latest_collected_at: datetime | None  # over the caller's centres
    latest_by_centre: dict[str, datetime | None]  # what an import into each would follow
    sync_enabled: bool


@router.get("/venue-scans/status", dependencies=[require("venues.import")])
def scan_status(session: SessionDep, scope: ScopeDep, runtime: RuntimeDep) -> ScanStatusOut:
    latest = service.latest_by_centre(session, frozenset() if scope.restricted else scope.centres)
    return ScanStatusOut(
        latest_collected_at=max((v for v in latest.values() if v is not None), default=None),
        latest_by_centre=latest,
        sync_enabled=service.sync_enabled(runtime.settings.venues),
    )


# --- statistics and alerts ----------------------------------------------------------------


class StatOut(BaseModel):
    venue_code: str
    name: str
    category: str
    unit: str
    city: str
    street: str
    count: int


class StatPageOut(BaseModel):
    items: list[StatOut]
    total: int


def stats_filters(
    start: date | None = None,
    end: date | None = None,
    venue_code: str = "",
    name: str = "",
    category: str = "",
    city: str = "",
    street: str = "",
    unit_id: int | None = None,
) -> service.StatsFilters:
    """[start, end] in China days, inclusive; the last 7 days by default."""
    end = end or service.china_today()
    start = start or end - timedelta(days=6)
    return service.StatsFilters(
        start=start,
        end=end,
        venue_code=venue_code,
        name=name,
        category=category,
        city=city,
        street=street,
        unit_id=unit_id,
    )


StatsDep = Annotated[service.StatsFilters, Depends(stats_filters)]


@router.get("/venue-stats", dependencies=[require("venues.stats")])
def stats(session: SessionDep, scope: ScopeDep, page: PageParams, f: StatsDep) -> StatPageOut:
    rows, total = service.venue_stats(session, scope, f, limit=page.limit, offset=page.offset)
    return StatPageOut(items=[StatOut(**r.__dict__) for r in rows], total=total)


@router.get("/venue-stats/export", dependencies=[require("venues.stats")])
def export_stats(
    request: Request, session: SessionDep, scope: ScopeDep, principal: CurrentPrincipal, f: StatsDep
) -> Response:
    if not has_permission(principal, "export"):
        raise HTTPException(403, "permission 'export' required")
    rows, _ = service.venue_stats(session, scope, f, limit=None)
    audit(
        session,
        actor=principal,
        action="export",
        target_type="venue_stats",
        ip=client_ip(request),
        detail={"rows": len(rows), "start": f.start.isoformat(), "end": f.end.isoformat()},
    )
    session.commit()
    return xlsx(export([r.__dict__ for r in rows], STATS_COLUMNS), "扫码统计.xlsx")


class AlertOut(BaseModel):
    id: int
    venue_id: int
    venue_code: str
    name: str
    category: str
    city: str
    street: str
    period: str
    reason: str
    direction: str
    threshold: int
    start_day: date
    end_day: date
    counts: list[int]
    received: bool
    received_by: str
    received_at: datetime | None


REASONS = {"low": "小于阈值", "high": "大于阈值"}


def alert_out(alert: Any, venue: Venue) -> AlertOut:
    return AlertOut(
        id=alert.id,
        venue_id=venue.id or 0,
        venue_code=venue.code,
        name=venue.name,
        category=venue.category,
        city=venue.city,
        street=venue.street,
        period=f"{alert.start_day.isoformat()}至{alert.end_day.isoformat()}",
        reason=REASONS[alert.direction],
        direction=alert.direction,
        threshold=alert.threshold,
        start_day=alert.start_day,
        end_day=alert.end_day,
        counts=list(alert.counts),
        received=alert.received,
        received_by=alert.received_by,
        received_at=alert.received_at,
    )


class AlertPageOut(BaseModel):
    items: list[AlertOut]
    total: int


@router.get("/venue-alerts", dependencies=[require("venues.alerts")])
def list_alerts(
    session: SessionDep, scope: ScopeDep, page: PageParams, received: bool = False
) -> AlertPageOut:
    rows, total = service.list_alerts(
        session, scope, received=received, limit=page.limit, offset=page.offset
    )
    return AlertPageOut(items=[alert_out(a, v) for a, v in rows], total=total)


@router.get("/venue-alerts/{alert_id}", dependencies=[require("venues.alerts")])
def get_alert(alert_id: int, session: SessionDep, scope: ScopeDep) -> AlertOut:
    found = service.get_alert(session, scope, alert_id)
    if found is None:
        raise HTTPException(404, f"unknown alert {alert_id}")
    return alert_out(*found)


@router.post("/venue-alerts/{alert_id}/receive", dependencies=[require("venues.alerts")])
def receive_alert(
    alert_id: int, session: SessionDep, scope: ScopeDep, principal: CurrentPrincipal
) -> AlertOut:
    found = service.get_alert(session, scope, alert_id)
    if found is None:
        raise HTTPException(404, f"unknown alert {alert_id}")
    service.receive_alert(session, found[0], actor=principal, actor_label=actor_name(principal))
    return alert_out(*found)
