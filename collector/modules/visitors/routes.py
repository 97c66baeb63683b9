"""``/api/v1/visitors/...``: occupancy, visits, the daily register, tracing, rules."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from collector.api.deps import (
    CurrentPrincipal,
    PageParams,
    PublisherDep,
    RuntimeDep,
    SessionDep,
    VisibleCentres,
    actor_name,
    client_ip,
    require,
    require_visible,
    within,
)
from collector.auth.permissions import has_permission
from collector.auth.scope import subtree_ids
from collector.modules.visitors import reports, rules, service
from collector.modules.visitors.models import WatchedPerson
from collector.security.personal_data import PiiKind, mask
from collector.tabular import XLSX_MEDIA_TYPE

router = APIRouter(prefix="/visitors", tags=["visitors"])

CentreQuery = Annotated[str | None, Query(max_length=64, description="centre (and below)")]


def centres_of(session: Any, requested: str | None, visible: frozenset[str]) -> set[str]:
    """The visible subtree of ``requested`` (all visible centres if None)."""
    if requested is None:
        return set(visible)
    return subtree_ids(session, requested) & visible


def _tz(runtime: Any) -> ZoneInfo:
    return ZoneInfo(runtime.settings.timezone)


def _unmasked(principal: Any) -> bool:
    return has_permission(principal, "personal_data.view")


@router.get("/dashboard", dependencies=[require("visitors.view")])
def get_dashboard(
    session: SessionDep, visible: VisibleCentres, runtime: RuntimeDep, centre: CentreQuery = None
) -> dict[str, Any]:
    """People inside now, visits today, origins and flagged entries (city: over counties)."""
    tz = _tz(runtime)
    board = service.dashboard(session, centres_of(session, centre, visible), tz)
    return {
        "day": board.day.isoformat(),
        "inside": board.inside,
        "today": board.today,
        "flagged": board.flagged_today,
        "centres": [vars(c) for c in board.centres],
        "provinces": [{"name": n, "count": k} for n, k in board.provinces],
        "cities": [{"name": n, "count": k} for n, k in board.cities],
        "flagged_visits": [service.visit_row(v, tz) for v in board.flagged],
    }


@router.get("/visits", dependencies=[require("visitors.view")])
def list_visits(
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    page: PageParams,
    filters: Annotated[service.VisitFilter, Query()],
) -> dict[str, Any]:
    """Visits, newest first; ``q`` finds a name or ID number through its keyed hash."""
    tz = _tz(runtime)
    centre_ids = centres_of(session, filters.centre, visible)
    rows, total = service.search_visits(
        session, centre_ids, filters, tz, limit=page.limit, offset=page.offset
    )
    items = [service.visit_row(v, tz) for v in rows]  # masked: the console unmasks, audited
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/register.xlsx", dependencies=[require("export")])
def export_register(
    request: Request,
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    day: date | None = None,
    centre: CentreQuery = None,
) -> Response:
    """The daily register as xlsx (masked unless ``personal_data.view``); audited."""
    if not has_permission(principal, "visitors.view"):
        raise HTTPException(403, "permission 'visitors.view' required")
    if centre is not None and centre not in visible:
        raise HTTPException(404, f"unknown centre {centre!r}")
    tz = _tz(runtime)
    day = day or service.local_today(tz)
    data = reports.register_xlsx(
        session,
        centres_of(session, centre, visible),
        day,
        tz,
        actor=principal,
        unmasked=_unmasked(principal),
        ip=client_ip(request),
    )
    name = f"来访登记簿-{day.isoformat()}.xlsx"
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": reports.content_disposition(name)},
    )


def _trace(
    request: Request,
    session: Any,
    visible: frozenset[str],
    runtime: Any,
    body: Any,
    principal: Any,
    exported: bool,
) -> reports.TraceResult:
    try:
        return reports.run_trace(
            session,
            visible,
            body,
            _tz(runtime),
            actor=principal,
            unmasked=_unmasked(principal),
            default_days=runtime.settings.visitors.trace_default_days,
            ip=client_ip(request),
            exported=exported,
        )
    except reports.SubjectNotFound:
        raise HTTPException(404, "unknown visit") from None


@router.post("/trace", dependencies=[require("visitors.trace")])
def trace(
    request: Request,
    body: reports.TraceIn,
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Everyone whose presence overlapped the subject's at the same centre; audited."""
    result = _trace(request, session, visible, runtime, body, principal, exported=False)
    return {
        "subject": result.subject_label,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "visits": result.own_visits,
        "contacts": result.contacts,
    }


@router.post("/trace.xlsx", dependencies=[require("visitors.trace")])
def trace_export(
    request: Request,
    body: reports.TraceIn,
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
) -> Response:
    result = _trace(request, session, visible, runtime, body, principal, exported=True)
    return Response(
        reports.trace_xlsx(result),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": reports.content_disposition("密切接触人员.xlsx")},
    )


# -- rules --------------------------------------------------------------------------------


def _rules_out(row: Any) -> dict[str, Any]:
    return row.model_dump(mode="json")


@router.get("/rules", dependencies=[require("visitors.rules")])
def list_rules(
    session: SessionDep, visible: VisibleCentres, centre: CentreQuery = None
) -> list[dict[str, Any]]:
    """The current rules revision of each visible centre that has one."""
    found = (rules.current_rules(session, c) for c in sorted(within(centre, visible)))
    return [_rules_out(r) for r in found if r is not None]


@router.post("/rules", dependencies=[require("visitors.rules")])
def save_rules(
    request: Request,
    body: rules.RulesIn,
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    publisher: PublisherDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Save a new revision and push it to the centre's entrance agents."""
    require_visible(body.centre_id, visible)
    row = rules.save_rules(
        session, publisher, runtime.settings.secret_key, body, **_who(request, principal)
    )
    return _rules_out(row)


class CentreIn(BaseModel):
    centre_id: str = Field(max_length=64)


@router.post("/rules/push", dependencies=[require("visitors.rules")])
def push_rules(
    request: Request,
    body: CentreIn,
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    publisher: PublisherDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Push the current revision again (e.g. after enrolling a new entrance agent)."""
    current = rules.current_rules(session, body.centre_id) if body.centre_id in visible else None
    if current is None:
        raise HTTPException(404, f"no rules for centre {body.centre_id!r}")
    row = rules.push(
        session, publisher, runtime.settings.secret_key, current, **_who(request, principal)
    )
    return _rules_out(row)


@router.get("/agents", dependencies=[require("visitors.rules")])
def list_agents(
    session: SessionDep, visible: VisibleCentres, centre: CentreQuery = None
) -> list[dict[str, Any]]:
    """Entrance agents and the configuration / rules version each applied."""
    return rules.agents(session, within(centre, visible))


def _watched_out(p: WatchedPerson) -> dict[str, Any]:
    return {
        "id": p.id,
        "centre_id": p.centre_id,
        "name": mask(p.name, PiiKind.NAME),
        "id_number": mask(p.id_number, PiiKind.ID_NUMBER),
        "reason": p.reason,
        "action": p.action,
    }


@router.get("/watchlist", dependencies=[require("visitors.rules")])
def list_watchlist(
    session: SessionDep, visible: VisibleCentres, centre: CentreQuery = None
) -> list[dict[str, Any]]:
    return [_watched_out(p) for p in rules.watchlist(session, within(centre, visible))]


@router.post("/watchlist", dependencies=[require("visitors.rules")], status_code=201)
def add_watched(
    request: Request,
    body: rules.WatchedPersonIn,
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    publisher: PublisherDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Add a person to the centre's watch list and push the rules (as hashes)."""
    require_visible(body.centre_id, visible)
    person = rules.add_watched(
        session, publisher, runtime.settings.secret_key, body, **_who(request, principal)
    )
    return _watched_out(person)


class WatchedId(BaseModel):
    id: int = Field(ge=1)


@router.post("/watchlist/delete", dependencies=[require("visitors.rules")])
def remove_watched(
    request: Request,
    body: WatchedId,
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    publisher: PublisherDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    person = session.get(WatchedPerson, body.id)
    if person is None or person.centre_id not in visible:
        raise HTTPException(404, "unknown watch-list entry")
    rules.remove_watched(
        session, publisher, runtime.settings.secret_key, person, **_who(request, principal)
    )
    return {"removed": body.id}


def _who(request: Request, principal: Any) -> dict[str, Any]:
    return {"actor": principal, "by": actor_name(principal), "ip": client_ip(request)}
