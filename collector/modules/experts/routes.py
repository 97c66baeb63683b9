"""``/api/v1/experts/...``: the trading platform's push API, rooms, sessions, the access
log and alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from collector.api.deps import (
    CurrentPrincipal,
    PageParams,
    PublisherDep,
    RuntimeDep,
    SessionDep,
    VisibleCentres,
    client_ip,
    require,
    require_visible,
    within,
)
from collector.modules.experts import access, service
from collector.modules.experts.models import ExpertSession, Project, Room, RosterEntry, SignIn
from collector.publisher import Publisher
from collector.security.personal_data import PiiKind, mask

router = APIRouter(prefix="/experts", tags=["experts"])

CentreQuery = Annotated[str | None, Query(max_length=64, description="centre")]


def _tz(runtime: Any) -> ZoneInfo:
    return ZoneInfo(runtime.settings.timezone)


def push_after_change(
    session: Session, publisher: Publisher, runtime: Any, centre_id: str, by: str
) -> dict[str, int]:
    """Push the centre's roster and schedules; a failing push never undoes the change."""
    settings = runtime.settings
    return service.push_centre(
        session, publisher, settings.experts, settings.secret_key, centre_id, created_by=by
    )


# -- the trading platform's push --------------------------------------------------------------


class SessionOut(BaseModel):
    id: int
    key: str
    kind: str
    status: str
    rooms: list[str]
    start: datetime
    end: datetime
    previous_start: datetime | None
    roster: int


class ProjectOut(BaseModel):
    id: int
    centre_id: str
    number: str
    name: str
    category: str
    created: bool = False
    sessions: list[SessionOut] = Field(default_factory=list)


def _session_out(session: Session, row: ExpertSession) -> SessionOut:
    return SessionOut(
        id=row.id or 0,
        key=row.key,
        kind=row.kind,
        status=service.effective_status(row),
        rooms=service.room_names(session, row.rooms),
        start=row.planned_start,
        end=row.planned_end,
        previous_start=row.previous_start,
        roster=len(service.roster(session, row.id or 0)),
    )


@router.put("/projects", dependencies=[require("experts.push")])
def push_project(
    body: service.ProjectIn,
    request: Request,
    session: SessionDep,
    visible: VisibleCentres,
    principal: CurrentPrincipal,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> ProjectOut:
    """Insert or update a project by ``(centre_id, number)`` with its sessions (by ``key``)
    and their rosters; sending the same body again changes nothing. A later ``start`` marks
    the session postponed. The gate rosters and recording schedules follow at once."""
    require_visible(body.centre_id, visible)
    try:
        applied = service.apply_project(
            session, body, actor=principal, source="api", ip=client_ip(request), tz=_tz(runtime)
        )
    except service.ExpertsError as exc:
        session.rollback()
        raise HTTPException(422, str(exc)) from exc
    session.commit()
    push_after_change(session, publisher, runtime, body.centre_id, "experts.push")
    project = applied.project
    return ProjectOut(
        id=project.id or 0,
        centre_id=project.centre_id,
        number=project.number,
        name=project.name,
        category=project.category,
        created=applied.created,
        sessions=[_session_out(session, s) for s in applied.sessions],
    )


@router.get("/projects", dependencies=[require("experts.view")])
def list_projects(
    session: SessionDep, visible: VisibleCentres, centre: CentreQuery = None
) -> list[ProjectOut]:
    rows = service.list_projects(session, within(centre, visible))
    return [
        ProjectOut(
            id=p.id or 0, centre_id=p.centre_id, number=p.number, name=p.name, category=p.category
        )
        for p in rows
    ]


# -- sessions ---------------------------------------------------------------------------------


@router.get("/sessions", dependencies=[require("experts.view")])
def list_sessions(
    session: SessionDep,
    visible: VisibleCentres,
    runtime: RuntimeDep,
    page: PageParams,
    centre: CentreQuery = None,
    day: date | None = None,
) -> dict[str, Any]:
    """Sessions, latest start first; ``day`` (local date) limits them to one day."""
    start = end = None
    if day is not None:
        start, end = service.local_day_bounds(day, _tz(runtime))
    rows = service.list_sessions(
        session,
        within(centre, visible),
        start=start,
        end=end,
        limit=page.limit,
        offset=page.offset,
    )
    return {
        "items": [
            {"project_number": p.number, "project_name": p.name, "centre_id": s.centre_id}
            | _session_out(session, s).model_dump(mode="json")
            for s, p in rows
        ],
        "limit": page.limit,
        "offset": page.offset,
    }


def _visible_session(
    session: Session, session_id: int, visible: frozenset[str]
) -> tuple[ExpertSession, Project]:
    found = service.get_session(session, session_id, visible)
    if found is None:
        raise HTTPException(404, f"unknown session {session_id}")
    return found


def person_row(
    row: ExpertSession, entry: RosterEntry, signed: SignIn | None, *, unmasked: bool
) -> dict[str, Any]:
    def show(value: str | None, kind: PiiKind) -> str:
        if not value:
            return ""
        return value if unmasked else mask(value, kind)

    return {
        "id": entry.id,
        "kind": entry.kind,
        "role": entry.role,
        "name": show(entry.name, PiiKind.NAME),
        "id_number": show(entry.id_number, PiiKind.ID_NUMBER),
        "phone": show(entry.phone, PiiKind.PHONE),
        "card": bool(entry.card_uid),
        "specialty": entry.specialty,
        "organisation": entry.organisation,
        "signed_at": signed.signed_at.isoformat() if signed else None,
        "attendance": service.attendance(row, entry, signed),
    }


@router.get("/sessions/{experts_session_id}", dependencies=[require("experts.view")])
def get_session(
    experts_session_id: int, session: SessionDep, visible: VisibleCentres
) -> dict[str, Any]:
    """One session with its roster (masked) and sign-ins."""
    row, project = _visible_session(session, experts_session_id, visible)
    done = service.signins(session, row.id or 0)
    return {
        "project_number": project.number,
        "project_name": project.name,
        "centre_id": row.centre_id,
        **_session_out(session, row).model_dump(mode="json"),
        "people": [
            person_row(row, e, done.get(e.id or 0), unmasked=False)
            for e in service.roster(session, row.id or 0)
        ],
    }


# -- rooms ------------------------------------------------------------------------------------


def room_out(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "centre_id": room.centre_id,
        "code": room.code,
        "name": room.name,
        "kind": room.kind,
        "gates": room.gates,
        "terminals": room.terminals,
    }


@router.get("/rooms", dependencies=[require("experts.view")])
def rooms_board(
    session: SessionDep, visible: VisibleCentres, centre: CentreQuery = None
) -> list[dict[str, Any]]:
    """Each room: current session, terminals online, recording, experts signed in/expected."""
    return [
        room_out(s.room)
        | {
            "session_id": s.current.id if s.current else None,
            "project_number": s.project.number if s.project else None,
            "terminals_online": s.terminals_online,
            "recording": s.recording,
            "signed_in": s.signed_in,
            "expected": s.expected,
        }
        for s in service.rooms_board(session, within(centre, visible))
    ]


@router.post("/rooms", dependencies=[require("experts.manage")])
def save_room(
    body: service.RoomIn,
    request: Request,
    session: SessionDep,
    visible: VisibleCentres,
    principal: CurrentPrincipal,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """Create or update a room by ``(centre_id, code)``: its gates and terminals."""
    require_visible(body.centre_id, visible)
    room = service.save_room(session, body, actor=principal, ip=client_ip(request))
    push_after_change(session, publisher, runtime, body.centre_id, "experts.rooms")
    return room_out(room)


class PushIn(BaseModel):
    centre_id: str = Field(max_length=64)


@router.post("/push", dependencies=[require("experts.manage")])
def push_rosters(
    body: PushIn,
    session: SessionDep,
    visible: VisibleCentres,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> dict[str, int]:
    """Push the centre's gate roster and recording schedules now (even if unchanged)."""
    require_visible(body.centre_id, visible)
    settings = runtime.settings
    return service.push_centre(
        session,
        publisher,
        settings.experts,
        settings.secret_key,
        body.centre_id,
        force=True,
        created_by="experts.manual",
    )


# -- access log and alerts ----------------------------------------------------------------------


@router.get("/access-log", dependencies=[require("experts.access_log")])
def access_log(
    session: SessionDep,
    visible: VisibleCentres,
    page: PageParams,
    runtime: RuntimeDep,
    filters: Annotated[access.AccessFilter, Query()],
) -> dict[str, Any]:
    """Gate attempts, newest first; ``q`` finds a name or ID number through keyed hashes.
    Names are masked here whatever the permissions (the console unmasks, audited)."""
    rows, total = access.search(
        session,
        within(filters.centre, visible),
        filters,
        secret_key=runtime.settings.secret_key,
        tz=_tz(runtime),
        limit=page.limit,
        offset=page.offset,
    )
    return {
        "items": [access.access_row(session, r, unmasked=False) for r in rows],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get("/alerts", dependencies=[require("experts.view")])
def alerts(
    session: SessionDep, visible: VisibleCentres, page: PageParams, centre: CentreQuery = None
) -> list[dict[str, Any]]:
    return [
        a.model_dump(mode="json", exclude={"dedup_key"})
        for a in access.list_alerts(session, within(centre, visible), limit=page.limit)
    ]
