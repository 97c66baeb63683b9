"""Tables of the experts module.

- :class:`Room`: an evaluation or opening room of a centre, the gates that lead to it and
  the terminals that record in it;
- :class:`Project` (交易项目) and its :class:`ExpertSession` (开评标场次) in one or more rooms;
- :class:`RosterEntry`: a drawn expert, supervisor or staff member allowed in for a session
  (name, ID number, phone and card UID encrypted, with keyed hashes);
- :class:`AccessRecord`: every attempt at a gate (``access.admission``);
- :class:`SignIn`: the first admission of a roster entry for a session, once;
- :class:`Recording`: an uploaded recording segment linked to its session;
- :class:`RecorderState`: the last ``recorder.state`` of each room terminal;
- :class:`ExpertAlert`: absence, no recording, repeated refusals;
- :class:`SyncRecord`: the durable outbox towards the provincial expert database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from collector.db_types import JSONType, UTCDateTime, utcnow
from collector.security.personal_data import PiiKind, pii_field, pii_hash_field, sync_pii_hashes

CATEGORIES: dict[str, tuple[str, str]] = {
    "construction": ("工程建设", "Construction"),
    "procurement": ("政府采购", "Government procurement"),
    "land": ("土地矿业权", "Land and mining rights"),
    "state_property": ("国有产权", "State-owned property"),
    "other": ("其他", "Other"),
}
ROOM_KINDS: dict[str, tuple[str, str]] = {
    "evaluation": ("评标室", "Evaluation room"),
    "opening": ("开标室", "Opening room"),
}
SESSION_STATUSES: dict[str, tuple[str, str]] = {
    "scheduled": ("已安排", "Scheduled"),
    "postponed": ("已延期", "Postponed"),
    "in_progress": ("进行中", "In progress"),
    "finished": ("已结束", "Finished"),
    "cancelled": ("已取消", "Cancelled"),
}
PERSON_KINDS: dict[str, tuple[str, str]] = {
    "expert": ("评标专家", "Expert"),
    "supervisor": ("监督人员", "Supervisor"),
    "staff": ("工作人员", "Staff"),
}
EXPERT_ROLES: dict[str, tuple[str, str]] = {
    "leader": ("组长", "Leader"),
    "member": ("成员", "Member"),
}


def _ts() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime))


class Room(SQLModel, table=True):
    __tablename__ = "experts_rooms"
    __table_args__ = (UniqueConstraint("centre_id", "code", name="uq_experts_rooms_code"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    code: str = Field(max_length=64, description="the centre's own room number, e.g. 评标室1")
    name: str = Field(max_length=100)
    kind: str = Field(default="evaluation", max_length=16)
    gates: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    terminals: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))


class Project(SQLModel, table=True):
    __tablename__ = "experts_projects"
    __table_args__ = (UniqueConstraint("centre_id", "number", name="uq_experts_projects_number"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    number: str = Field(max_length=64)
    name: str = Field(max_length=200)
    category: str = Field(default="other", max_length=24)
    source: str = Field(default="manual", max_length=16, description="api, import or manual")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))


@sync_pii_hashes
class ExpertSession(SQLModel, table=True):
    __tablename__ = "experts_sessions"
    __table_args__ = (
        UniqueConstraint("project_id", "key", name="uq_experts_sessions_key"),
        Index("ix_experts_sessions_centre_start", "centre_id", "planned_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", max_length=64)
    project_id: int = Field(foreign_key="experts_projects.id", index=True)
    key: str = Field(default="1", max_length=64, description="the platform's id of the session")
    kind: str = Field(default="evaluation", max_length=16, description="evaluation or opening")
    rooms: list[int] = Field(default_factory=list, sa_column=Column(JSONType))
    planned_start: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    planned_end: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default="scheduled", max_length=16)
    previous_start: datetime | None = _ts()
    host_name: str = Field(default="", max_length=60, description="主持人 (staff, not PII)")
    host_phone: str | None = pii_field(PiiKind.PHONE, context="experts_sessions.host_phone")
    host_phone_hash: str | None = pii_hash_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))


@sync_pii_hashes
class RosterEntry(SQLModel, table=True):
    __tablename__ = "experts_roster"

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    session_id: int = Field(foreign_key="experts_sessions.id", index=True)
    kind: str = Field(default="expert", max_length=16, description="expert, supervisor, staff")
    role: str = Field(default="member", max_length=16, description="leader or member")
    name: str | None = pii_field(PiiKind.NAME, context="experts_roster.name")
    name_hash: str | None = pii_hash_field()
    id_number: str | None = pii_field(PiiKind.ID_NUMBER, context="experts_roster.id_number")
    id_number_hash: str | None = pii_hash_field()
    phone: str | None = pii_field(PiiKind.PHONE, context="experts_roster.phone")
    phone_hash: str | None = pii_hash_field()
    card_uid: str | None = pii_field(PiiKind.ID_NUMBER, context="experts_roster.card_uid")
    card_uid_hash: str | None = pii_hash_field()
    specialty: str = Field(default="", max_length=100)
    organisation: str = Field(default="", max_length=200)


class AccessRecord(SQLModel, table=True):
    __tablename__ = "experts_access_log"
    __table_args__ = (Index("ix_experts_access_centre_at", "centre_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", max_length=64)
    attempt_id: str = Field(max_length=64, unique=True)
    event_id: str = Field(max_length=64)
    gate: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    credential: str = Field(max_length=16)
    person_hash: str = Field(default="", max_length=64, index=True)
    card_hash: str = Field(default="", max_length=64)
    label: str = Field(default="", max_length=60)
    decision: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    gate_session: str | None = Field(default=None, max_length=64, description="as the gate said")
    session_id: int | None = Field(default=None, index=True)
    room: str | None = Field(default=None, max_length=64)
    roster_entry_id: int | None = Field(default=None)
    gate_opened: bool = False
    roster_version: int | None = None


class SignIn(SQLModel, table=True):
    __tablename__ = "experts_signins"
    __table_args__ = (
        UniqueConstraint("session_id", "roster_entry_id", name="uq_experts_signins_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    session_id: int = Field(foreign_key="experts_sessions.id", index=True)
    roster_entry_id: int = Field(foreign_key="experts_roster.id")
    access_id: int | None = Field(default=None)
    gate: str = Field(default="", max_length=64)
    signed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Recording(SQLModel, table=True):
    __tablename__ = "experts_recordings"

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str | None = Field(default=None, max_length=64, index=True)
    session_id: int | None = Field(default=None, index=True)
    gate_session: str = Field(default="", max_length=64)
    device_id: str = Field(default="", max_length=64)
    file_id: str = Field(max_length=64, unique=True)
    name: str = Field(default="", max_length=255)
    size: int = 0
    content_type: str = Field(default="", max_length=128)
    started_at: datetime | None = _ts()
    duration_s: float | None = None
    index: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))


class RecorderState(SQLModel, table=True):
    __tablename__ = "experts_recorder_state"

    device_id: str = Field(primary_key=True, max_length=64)
    centre_id: str = Field(max_length=64, index=True)
    state: str = Field(max_length=16)
    gate_session: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=64)
    error: str = Field(default="", max_length=500)
    changed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ExpertAlert(SQLModel, table=True):
    __tablename__ = "experts_alerts"

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    kind: str = Field(max_length=24, description="absence, no_recording, refused_attempts")
    dedup_key: str = Field(max_length=200, unique=True)
    session_id: int | None = Field(default=None, index=True)
    room_id: int | None = None
    gate: str = Field(default="", max_length=64)
    message: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    sms_sent: bool = False
    acknowledged_at: datetime | None = _ts()
    acknowledged_by: str = Field(default="", max_length=100)


class SyncRecord(SQLModel, table=True):
    """One record for the provincial expert database, delivered once after a 2xx."""

    __tablename__ = "experts_sync_outbox"
    __table_args__ = (Index("ix_experts_sync_due", "delivered_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    kind: str = Field(max_length=16, description="admission or signin")
    record_id: int
    idempotency_key: str = Field(max_length=100, unique=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    delivered_at: datetime | None = _ts()
    last_status: int | None = None
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
