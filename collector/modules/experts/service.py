"""Public functions of the experts module: projects, sessions, rosters and rooms.

Projects come in three ways (the trading platform's push API, an xlsx import, the console);
all of them end in :func:`apply_project`, an idempotent upsert by ``(centre, number)``, and
:func:`push_centre` then sends the centre's gate roster and room recording schedules as
desired config.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from collector.auth.audit import audit
from collector.auth.models import ApiToken, User
from collector.db_types import utcnow
from collector.desired_config.models import ConfigScope
from collector.desired_config.service import layer_section, set_config
from collector.modules.experts.models import (
    CATEGORIES,
    ExpertSession,
    Project,
    RecorderState,
    Recording,
    Room,
    RosterEntry,
    SignIn,
)
from collector.modules.experts.settings import ExpertsSettings
from collector.publisher import Publisher
from collector.security.keys import derive_key
from collector.security.personal_data import PiiKind, lookup_hash, mask
from contract.payloads.access import GateRoster, RosterPerson, RosterSession, card_hash
from contract.payloads.entrance import person_hash

log = logging.getLogger(__name__)

Actor = User | ApiToken | None
GATE_SECTION = "expert_gate"
ACTIVE = ("scheduled", "postponed", "in_progress")


class ExpertsError(ValueError):
    """A request the module refuses; the message is Chinese, for people."""


# -- inputs ---------------------------------------------------------------------------------


class PersonIn(BaseModel):
    """One person allowed in for a session: a drawn expert, a supervisor or staff."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["expert", "supervisor", "staff"] = "expert"
    role: Literal["leader", "member"] = "member"
    name: str = Field(min_length=1, max_length=60)
    id_number: str | None = Field(default=None, min_length=6, max_length=40)
    phone: str | None = Field(default=None, max_length=20)
    card_uid: str | None = Field(default=None, max_length=40, description="IC card UID (hex)")
    specialty: str = Field(default="", max_length=100)
    organisation: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _credential(self) -> PersonIn:
        if not self.id_number and not self.card_uid:
            raise ValueError("身份证号和IC卡号至少填写一项")
        return self


class SessionIn(BaseModel):
    """A session (开评标场次) of a project; ``key`` is the platform's id of it."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(default="1", min_length=1, max_length=64)
    kind: Literal["evaluation", "opening"] = "evaluation"
    rooms: list[str] = Field(min_length=1, max_length=20, description="room codes")
    start: AwareDatetime
    end: AwareDatetime
    cancelled: bool = False
    host_name: str = Field(default="", max_length=60)
    host_phone: str | None = Field(default=None, max_length=20)
    roster: list[PersonIn] | None = Field(
        default=None, max_length=500, description="None keeps the stored roster"
    )

    @model_validator(mode="after")
    def _ordered(self) -> SessionIn:
        if self.end <= self.start:
            raise ValueError("结束时间必须晚于开始时间")
        return self


class ProjectIn(BaseModel):
    """A project with its sessions, as the trading platform pushes it."""

    model_config = ConfigDict(extra="forbid")

    centre_id: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    category: str = "other"
    sessions: list[SessionIn] = Field(default_factory=list, max_length=50)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return parse_category(value)


class RoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    centre_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["evaluation", "opening"] = "evaluation"
    gates: list[str] = Field(default_factory=list, max_length=20)
    terminals: list[str] = Field(default_factory=list, max_length=20)


def parse_category(value: str) -> str:
    text = value.strip()
    for key, (zh, en) in CATEGORIES.items():
        if text in (key, zh, en):
            return key
    raise ValueError(
        f"未知的交易类别「{value}」（可选：{'、'.join(z for z, _ in CATEGORIES.values())}）"
    )


# -- keys and references ----------------------------------------------------------------------


def gate_key(secret_key: str, centre_id: str) -> bytes:
    """The centre's key for the hashes in its gate roster (HKDF from the secret key)."""
    return derive_key(secret_key, f"experts/gate/{centre_id}")


def session_ref(row: ExpertSession) -> str:
    """The id of a session on the wire (gate roster, recorder schedule, admissions)."""
    return str(row.id)


def parse_ref(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    return int(value)


def effective_status(row: ExpertSession, now: datetime | None = None) -> str:
    now = now or utcnow()
    if row.status in ("cancelled", "finished"):
        return row.status
    if now >= row.planned_end:
        return "finished"
    if now >= row.planned_start:
        return "in_progress"
    return row.status


# -- rooms ------------------------------------------------------------------------------------


def list_rooms(session: Session, centre_ids: Collection[str]) -> list[Room]:
    if not centre_ids:
        return []
    return list(
        session.exec(
            select(Room)
            .where(col(Room.centre_id).in_(sorted(centre_ids)))
            .order_by(col(Room.centre_id), col(Room.code))
        )
    )


def save_room(session: Session, body: RoomIn, *, actor: Actor, ip: str | None = None) -> Room:
    """Create or update the room ``(centre, code)``; commits."""
    row = session.exec(
        select(Room).where(Room.centre_id == body.centre_id, Room.code == body.code)
    ).first()
    row = row or Room(centre_id=body.centre_id, code=body.code, name=body.name)
    row.name, row.kind = body.name, body.kind
    row.gates = sorted({g.strip() for g in body.gates if g.strip()})
    row.terminals = sorted({t.strip() for t in body.terminals if t.strip()})
    session.add(row)
    session.flush()
    audit(
        session,
        actor=actor,
        action="experts.room_save",
        target_type="experts_rooms",
        target_id=row.id or "",
        centre_id=row.centre_id,
        ip=ip,
        detail={"code": row.code, "gates": row.gates, "terminals": row.terminals},
    )
    session.commit()
    return row


# -- projects and sessions ----------------------------------------------------------------------


@dataclass
class Applied:
    project: Project
    sessions: list[ExpertSession]
    created: bool
    postponed: list[str]


def apply_project(
    session: Session,
    body: ProjectIn,
    *,
    actor: Actor,
    source: str,
    ip: str | None = None,
    tz: tzinfo = UTC,
) -> Applied:
    """Insert or update a project and its sessions (by ``key``) without committing.

    A session whose start moved later is marked ``postponed`` (the old start is kept); a
    roster given replaces the stored one (people matched by ID number or card are kept, so
    their sign-ins stay; removed people without a sign-in are deleted).
    """
    project = session.exec(
        select(Project).where(Project.centre_id == body.centre_id, Project.number == body.number)
    ).first()
    created = project is None
    if project is None:
        project = Project(centre_id=body.centre_id, number=body.number, name=body.name)
    project.name, project.category, project.source = body.name, body.category, source
    project.updated_at = utcnow()
    session.add(project)
    session.flush()
    rooms = {r.code: r for r in session.exec(select(Room).where(Room.centre_id == body.centre_id))}
    touched: list[ExpertSession] = []
    postponed: list[str] = []
    for item in body.sessions:
        unknown = [code for code in item.rooms if code not in rooms]
        if unknown:
            raise ExpertsError(f"未知的评标室：{'、'.join(unknown)}（请先在“评标室管理”中登记）")
        row = session.exec(
            select(ExpertSession).where(
                ExpertSession.project_id == project.id, ExpertSession.key == item.key
            )
        ).first()
        start, end = item.start.astimezone(UTC), item.end.astimezone(UTC)
        if row is None:
            row = ExpertSession(
                centre_id=body.centre_id,
                project_id=project.id or 0,
                key=item.key,
                planned_start=start,
                planned_end=end,
            )
        elif row.planned_start != start and start > row.planned_start:
            row.previous_start = row.previous_start or row.planned_start
            row.status = "postponed"
            postponed.append(item.key)
        row.kind = item.kind
        row.rooms = [rooms[code].id or 0 for code in item.rooms]
        row.planned_start, row.planned_end = start, end
        if item.cancelled:
            row.status = "cancelled"
        elif row.status == "cancelled":
            row.status = "scheduled"
        row.host_name = item.host_name
        row.host_phone = item.host_phone or None
        row.updated_at = utcnow()
        session.add(row)
        session.flush()
        if item.roster is not None:
            _replace_roster(session, row, item.roster)
        touched.append(row)
    audit(
        session,
        actor=actor,
        action="experts.project_upsert",
        target_type="experts_projects",
        target_id=project.id or "",
        centre_id=project.centre_id,
        ip=ip,
        detail={
            "number": project.number,
            "source": source,
            "created": created,
            "sessions": [s.key for s in touched],
            "postponed": postponed,
        },
    )
    _hand_to_burn(session, project, touched, tz)
    return Applied(project, touched, created, postponed)


def _person_key(id_number: str | None, card_uid: str | None) -> str:
    if id_number:
        return "id:" + lookup_hash(id_number, PiiKind.ID_NUMBER)
    if card_uid:
        return "card:" + lookup_hash(card_uid, PiiKind.ID_NUMBER)
    return "purged"


def _replace_roster(session: Session, row: ExpertSession, people: list[PersonIn]) -> None:
    existing = {
        _person_key(e.id_number, e.card_uid): e
        for e in session.exec(select(RosterEntry).where(RosterEntry.session_id == row.id))
    }
    signed = set(session.exec(select(SignIn.roster_entry_id).where(SignIn.session_id == row.id)))
    wanted: set[str] = set()
    for person in people:
        key = _person_key(person.id_number, person.card_uid)
        wanted.add(key)
        entry = existing.get(key) or RosterEntry(centre_id=row.centre_id, session_id=row.id or 0)
        _fill_entry(entry, person)
        session.add(entry)
    for key, entry in existing.items():
        if key not in wanted and entry.id not in signed:
            session.delete(entry)
    session.flush()


def _fill_entry(entry: RosterEntry, person: PersonIn) -> None:
    entry.kind, entry.role = person.kind, person.role if person.kind == "expert" else "member"
    entry.name = person.name
    entry.id_number = person.id_number or None
    entry.phone = person.phone or None
    entry.card_uid = person.card_uid or None
    entry.specialty, entry.organisation = person.specialty, person.organisation


def add_person(
    session: Session, row: ExpertSession, person: PersonIn, *, actor: Actor, ip: str | None
) -> RosterEntry:
    """Add (or update, matched by ID number or card) one person of a session; commits."""
    key = _person_key(person.id_number, person.card_uid)
    entry = next(
        (
            e
            for e in session.exec(select(RosterEntry).where(RosterEntry.session_id == row.id))
            if _person_key(e.id_number, e.card_uid) == key
        ),
        None,
    ) or RosterEntry(centre_id=row.centre_id, session_id=row.id or 0)
    _fill_entry(entry, person)
    session.add(entry)
    session.flush()
    audit(
        session,
        actor=actor,
        action="experts.roster_add",
        target_type="experts_roster",
        target_id=entry.id or "",
        centre_id=row.centre_id,
        ip=ip,
        detail={"session": row.id, "kind": person.kind, "name": mask(person.name, PiiKind.NAME)},
    )
    session.commit()
    return entry


def remove_person(session: Session, entry: RosterEntry, *, actor: Actor, ip: str | None) -> None:
    """Remove a person from a roster (refused once they signed in); commits."""
    signed = session.exec(select(SignIn).where(SignIn.roster_entry_id == entry.id)).first()
    if signed is not None:
        raise ExpertsError("该人员已签到，不能从名单中删除")
    audit(
        session,
        actor=actor,
        action="experts.roster_remove",
        target_type="experts_roster",
        target_id=entry.id or "",
        centre_id=entry.centre_id,
        ip=ip,
        detail={"session": entry.session_id},
    )
    session.delete(entry)
    session.commit()


def _hand_to_burn(
    session: Session, project: Project, sessions: list[ExpertSession], tz: tzinfo
) -> None:
    """Give the project to the burn module's archive too, when that module offers it."""
    try:
        burn = importlib.import_module("collector.modules.burn.service")
    except ImportError:
        return
    upsert = getattr(burn, "upsert_project", None)
    if upsert is None:
        return
    del sessions  # the archive's opening date and rooms come from all of the project's sessions
    every = list(session.exec(select(ExpertSession).where(ExpertSession.project_id == project.id)))
    opening = min((s.planned_start for s in every), default=utcnow()).astimezone(tz).date()
    room_ids = sorted({r for s in every for r in s.rooms})
    codes = (
        [r.code for r in session.exec(select(Room).where(col(Room.id).in_(room_ids)))]
        if room_ids
        else []
    )
    try:
        upsert(
            session,
            {
                "centre_id": project.centre_id,
                "number": project.number,
                "name": project.name,
                "category": project.category,
                "opening_date": opening,
                "rooms": codes,
            },
            commit=False,
        )
    except ValueError:  # the archive refused it (pydantic errors are ValueErrors): log only
        log.exception("the burn archive refused project %s", project.number)


def list_projects(session: Session, centre_ids: Collection[str], limit: int = 200) -> list[Project]:
    if not centre_ids:
        return []
    return list(
        session.exec(
            select(Project)
            .where(col(Project.centre_id).in_(sorted(centre_ids)))
            .order_by(col(Project.updated_at).desc())
            .limit(limit)
        )
    )


def list_sessions(
    session: Session,
    centre_ids: Collection[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[tuple[ExpertSession, Project]]:
    if not centre_ids:
        return []
    query = (
        select(ExpertSession, Project)
        .join(Project, col(Project.id) == col(ExpertSession.project_id))
        .where(col(ExpertSession.centre_id).in_(sorted(centre_ids)))
    )
    if start is not None:
        query = query.where(col(ExpertSession.planned_end) >= start)
    if end is not None:
        query = query.where(col(ExpertSession.planned_start) < end)
    rows = session.exec(
        query.order_by(col(ExpertSession.planned_start).desc()).limit(limit).offset(offset)
    )
    return [(s, p) for s, p in rows]


def get_session(
    session: Session, session_id: int, centre_ids: Collection[str]
) -> tuple[ExpertSession, Project] | None:
    row = session.get(ExpertSession, session_id)
    if row is None or row.centre_id not in centre_ids:
        return None
    project = session.get(Project, row.project_id)
    return (row, project) if project is not None else None


def roster(session: Session, session_id: int) -> list[RosterEntry]:
    return list(
        session.exec(
            select(RosterEntry)
            .where(RosterEntry.session_id == session_id)
            .order_by(col(RosterEntry.kind), col(RosterEntry.role).desc(), col(RosterEntry.id))
        )
    )


def signins(session: Session, session_id: int) -> dict[int, SignIn]:
    return {
        s.roster_entry_id: s
        for s in session.exec(select(SignIn).where(SignIn.session_id == session_id))
    }


def attendance(
    row: ExpertSession, entry: RosterEntry, signed: SignIn | None, now: datetime | None = None
) -> str:
    """expected, on_time, late or absent."""
    now = now or utcnow()
    if signed is not None:
        return "late" if signed.signed_at > row.planned_start else "on_time"
    return "absent" if now >= row.planned_start else "expected"


# -- the gate roster and the recording schedule -------------------------------------------------


def upcoming_sessions(
    session: Session, settings: ExpertsSettings, centre_id: str, now: datetime
) -> list[ExpertSession]:
    horizon = now + timedelta(days=settings.roster_days_ahead + 1)
    since = now - timedelta(minutes=settings.grace_minutes)
    return list(
        session.exec(
            select(ExpertSession)
            .where(
                ExpertSession.centre_id == centre_id,
                col(ExpertSession.status).in_(ACTIVE),
                col(ExpertSession.planned_end) >= since,
                col(ExpertSession.planned_start) <= horizon,
            )
            .order_by(col(ExpertSession.planned_start), col(ExpertSession.id))
        )
    )


def gate_roster(
    session: Session,
    settings: ExpertsSettings,
    secret_key: str,
    centre_id: str,
    now: datetime | None = None,
) -> GateRoster:
    """The ``expert_gate`` section for a centre's gates: keyed hashes, masked labels only."""
    now = now or utcnow()
    key = gate_key(secret_key, centre_id)
    behind: dict[str, list[str]] = {}
    for room in session.exec(select(Room).where(Room.centre_id == centre_id)):
        for gate in room.gates:
            behind.setdefault(gate, []).append(str(room.id))
    rows = upcoming_sessions(session, settings, centre_id, now)
    people: dict[str, RosterPerson] = {}
    for row in rows:
        ref = session_ref(row)
        for entry in roster(session, row.id or 0):
            pkey = _person_key(entry.id_number, entry.card_uid)
            person = people.get(pkey)
            if person is None:
                role = (
                    entry.kind
                    if entry.kind != "expert"
                    else ("leader" if entry.role == "leader" else "expert")
                )
                person = RosterPerson(
                    person_hash=person_hash(key, entry.id_number) if entry.id_number else "",
                    card_hashes=[card_hash(key, entry.card_uid)] if entry.card_uid else [],
                    role=role,  # type: ignore[arg-type]
                    label=mask(entry.name, PiiKind.NAME)[:60],
                    sessions=[],
                )
                people[pkey] = person
            if ref not in person.sessions:
                person.sessions.append(ref)
    return GateRoster(
        version=int(now.timestamp()),
        hash_key=key.hex(),
        rooms_behind_gate={g: sorted(r) for g, r in sorted(behind.items())},
        lead_minutes=settings.lead_minutes,
        grace_minutes=settings.grace_minutes,
        sessions=[
            RosterSession(
                session_id=session_ref(row),
                project_number=_project_number(session, row),
                rooms=[str(r) for r in row.rooms],
                start=row.planned_start,
                end=row.planned_end,
            )
            for row in rows
        ],
        people=list(people.values()),
    )


def _project_number(session: Session, row: ExpertSession) -> str:
    project = session.get(Project, row.project_id)
    return project.number if project is not None else ""


def recording_schedules(
    session: Session, settings: ExpertsSettings, centre_id: str, now: datetime | None = None
) -> dict[str, list[dict[str, str]]]:
    """Terminal device id → its recording schedule ``[{session_id, start, end}]``."""
    now = now or utcnow()
    rooms = {r.id: r for r in session.exec(select(Room).where(Room.centre_id == centre_id))}
    plans: dict[str, list[dict[str, str]]] = {
        t: [] for room in rooms.values() for t in room.terminals
    }
    for row in upcoming_sessions(session, settings, centre_id, now):
        for room_id in row.rooms:
            room = rooms.get(room_id)
            for terminal in room.terminals if room else []:
                plans[terminal].append(
                    {
                        "session_id": session_ref(row),
                        "start": row.planned_start.isoformat(),
                        "end": row.planned_end.isoformat(),
                    }
                )
    return plans


def _without_version(section: Any) -> Any:
    if isinstance(section, dict):
        return {k: v for k, v in section.items() if k != "version"}
    return section


def push_centre(
    session: Session,
    publisher: Publisher,
    settings: ExpertsSettings,
    secret_key: str,
    centre_id: str,
    *,
    created_by: str = "experts",
    force: bool = False,
    now: datetime | None = None,
) -> dict[str, int]:
    """Push the centre's gate roster (centre scope) and each room terminal's recording
    schedule (device scope) when they changed; returns ``{target: config version}``."""
    pushed: dict[str, int] = {}
    wire = gate_roster(session, settings, secret_key, centre_id, now).model_dump(mode="json")
    config, section = layer_section(session, ConfigScope.CENTRE, centre_id, GATE_SECTION)
    if force or _without_version(section.get("roster")) != _without_version(wire):
        config[GATE_SECTION] = {**section, "roster": wire}
        done = set_config(
            session,
            publisher,
            scope="centre",
            target=centre_id,
            config=config,
            created_by=created_by,
        )
        pushed[centre_id] = done.version
    name = settings.recorder_instance
    for terminal, schedule in recording_schedules(session, settings, centre_id, now).items():
        config, section = layer_section(session, ConfigScope.DEVICE, terminal, name)
        if not force and section.get("schedule") == schedule:
            continue
        config[name] = {**section, "schedule": schedule}
        done = set_config(
            session,
            publisher,
            scope="device",
            target=terminal,
            config=config,
            created_by=created_by,
        )
        pushed[terminal] = done.version
    return pushed


def centres_with_rooms(session: Session) -> list[str]:
    return sorted(set(session.exec(select(Room.centre_id))))


# -- rooms board --------------------------------------------------------------------------------


@dataclass
class RoomStatus:
    room: Room
    current: ExpertSession | None
    project: Project | None
    terminals_online: int
    terminals: int
    recording: bool
    signed_in: int
    expected: int


def rooms_board(
    session: Session, centre_ids: Collection[str], now: datetime | None = None
) -> list[RoomStatus]:
    """Each room: its session under way (or the next one today), terminals online,
    recording, experts signed in of expected."""
    from collector.devices.models import Device

    now = now or utcnow()
    rooms = list_rooms(session, centre_ids)
    if not rooms:
        return []
    window = list(
        session.exec(
            select(ExpertSession)
            .where(
                col(ExpertSession.centre_id).in_(sorted(centre_ids)),
                col(ExpertSession.status).in_(ACTIVE),
                col(ExpertSession.planned_end) >= now,
                col(ExpertSession.planned_start) <= now + timedelta(hours=12),
            )
            .order_by(col(ExpertSession.planned_start))
        )
    )
    terminals = sorted({t for r in rooms for t in r.terminals})
    online = (
        {d.id: d.online for d in session.exec(select(Device).where(col(Device.id).in_(terminals)))}
        if terminals
        else {}
    )
    states = (
        {
            s.device_id: s
            for s in session.exec(
                select(RecorderState).where(col(RecorderState.device_id).in_(terminals))
            )
        }
        if terminals
        else {}
    )
    board = []
    for room in rooms:
        current = next((s for s in window if room.id in s.rooms), None)
        expected = signed = 0
        if current is not None:
            entries = [e for e in roster(session, current.id or 0) if e.kind == "expert"]
            done = signins(session, current.id or 0)
            expected = len(entries)
            signed = sum(1 for e in entries if e.id in done)
        board.append(
            RoomStatus(
                room=room,
                current=current,
                project=session.get(Project, current.project_id) if current else None,
                terminals_online=sum(1 for t in room.terminals if online.get(t)),
                terminals=len(room.terminals),
                recording=any(
                    states[t].state == "recording" for t in room.terminals if t in states
                ),
                signed_in=signed,
                expected=expected,
            )
        )
    return board


def room_names(session: Session, room_ids: Iterable[int]) -> list[str]:
    ids = sorted(set(room_ids))
    if not ids:
        return []
    return [r.name for r in session.exec(select(Room).where(col(Room.id).in_(ids)))]


def local_day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    return start, start + timedelta(days=1)


# -- recordings, for other modules (the burn archive) ----------------------------------------


def project_recording_ids(
    centre_id: str | None = None, project_number: str | None = None
) -> SelectOfScalar[str]:
    """File-store ids of the recording segments linked to a session of a project (of one
    project when given), as a subquery for ``col(StoredFile.id).in_(...)``.

    The room terminals upload segments tagged with their session only; this link, made when
    the upload is reported, is the only way from a recording to its project."""
    query = (
        select(Recording.file_id)
        .join(ExpertSession, col(ExpertSession.id) == col(Recording.session_id))
        .join(Project, col(Project.id) == col(ExpertSession.project_id))
        .where(col(Project.centre_id) == col(Recording.centre_id))
    )
    if centre_id is not None:
        query = query.where(Project.centre_id == centre_id)
    if project_number is not None:
        query = query.where(Project.number == project_number)
    return query


class RoomWindow(NamedTuple):
    """A session of a project in one room: the time its video is wanted for."""

    room: str  # the room's code (房间编号), as the burn module's camera map names it
    start: datetime
    end: datetime


def project_room_windows(session: Session, centre_id: str, project_number: str) -> list[RoomWindow]:
    """The planned time of each session of a project in each of its rooms, oldest first (a
    session moved to another day keeps only its new time)."""
    rows = session.exec(
        select(ExpertSession.rooms, ExpertSession.planned_start, ExpertSession.planned_end)
        .join(Project, col(Project.id) == col(ExpertSession.project_id))
        .where(Project.centre_id == centre_id, Project.number == project_number)
        .order_by(col(ExpertSession.planned_start))
    ).all()
    room_ids = {room for rooms, _, _ in rows for room in rooms or ()}
    codes = dict(
        session.exec(
            select(Room.id, Room.code).where(
                col(Room.id).in_(room_ids), Room.centre_id == centre_id
            )
        ).all()
    )
    return [
        RoomWindow(codes[room], start, end)
        for rooms, start, end in rows
        for room in rooms or ()
        if room in codes
    ]


def recording_project(session: Session, file_id: str) -> tuple[str, str] | None:
    """(centre id, project number) of the project whose session a recording segment in the
    file store belongs to; None for a file that is no linked recording."""
    row = session.exec(
        select(Project.centre_id, Project.number)
        .join(ExpertSession, col(ExpertSession.project_id) == col(Project.id))
        .join(Recording, col(Recording.session_id) == col(ExpertSession.id))
        .where(Recording.file_id == file_id, col(Recording.centre_id) == col(Project.centre_id))
    ).first()
    return (row[0], row[1]) if row is not None else None


# -- retention ----------------------------------------------------------------------------------


def purge_personal_data(session: Session, retention_days: int, now: datetime | None = None) -> int:
    """Clear the personal data of the rosters (and host phones) of sessions that ended more
    than ``retention_days`` ago; commits. Returns the roster entries purged."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    old = list(session.exec(select(ExpertSession).where(col(ExpertSession.planned_end) < cutoff)))
    purged = 0
    for row in old:
        if row.host_phone is not None:
            row.host_phone = None
            session.add(row)
        for entry in session.exec(
            select(RosterEntry).where(
                RosterEntry.session_id == row.id,
                col(RosterEntry.name).is_not(None),
            )
        ):
            entry.name = entry.id_number = entry.phone = entry.card_uid = None
            session.add(entry)
            purged += 1
    if purged:
        audit(
            session,
            actor=None,
            action="experts.purge_personal_data",
            target_type="experts_roster",
            detail={"entries": purged, "cutoff": cutoff.isoformat()},
        )
    session.commit()
    return purged
