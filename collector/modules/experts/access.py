"""The access log (every attempt at an expert-area gate), alerts, and their xlsx exports."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from collector.modules.experts import service
from collector.modules.experts.models import (
    AccessRecord,
    ExpertAlert,
    ExpertSession,
    Project,
    RosterEntry,
    SignIn,
)
from collector.security.personal_data import PiiKind, lookup_hash, mask
from collector.tabular import SheetColumn
from contract.payloads.entrance import person_hash

DECISIONS = {"admitted": ("放行", "Admitted"), "refused": ("拒绝", "Refused")}
REASONS = {
    "not_on_roster": ("不在名单", "Not on the roster"),
    "too_early": ("未到入场时间", "Too early"),
    "too_late": ("已过入场时间", "Too late"),
    "wrong_gate": ("非本场次通道", "Wrong gate"),
    "unreadable": ("读卡失败", "Unreadable"),
}


class AccessFilter(BaseModel):
    centre: str | None = Field(default=None, max_length=64)
    q: str | None = Field(default=None, max_length=60, description="name or ID number")
    gate: str | None = Field(default=None, max_length=64)
    decision: Literal["admitted", "refused"] | None = None
    session_id: int | None = None
    start: date | None = None
    end: date | None = None


def search(
    session: Session,
    centre_ids: Collection[str],
    filters: AccessFilter,
    *,
    secret_key: str = "",
    tz: tzinfo | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AccessRecord], int]:
    if not centre_ids:
        return [], 0
    query = select(AccessRecord).where(col(AccessRecord.centre_id).in_(sorted(centre_ids)))
    if filters.gate:
        query = query.where(AccessRecord.gate == filters.gate)
    if filters.decision:
        query = query.where(AccessRecord.decision == filters.decision)
    if filters.session_id is not None:
        query = query.where(AccessRecord.session_id == filters.session_id)
    if tz is not None and filters.start is not None:
        query = query.where(col(AccessRecord.at) >= service.local_day_bounds(filters.start, tz)[0])
    if tz is not None and filters.end is not None:
        query = query.where(col(AccessRecord.at) < service.local_day_bounds(filters.end, tz)[1])
    if filters.q:
        q = filters.q.strip()
        entries = list(
            session.exec(
                select(RosterEntry.id).where(
                    or_(
                        col(RosterEntry.name_hash) == lookup_hash(q, PiiKind.NAME),
                        col(RosterEntry.id_number_hash) == lookup_hash(q, PiiKind.ID_NUMBER),
                    )
                )
            )
        )
        hashes = (
            [person_hash(service.gate_key(secret_key, c), q) for c in centre_ids]
            if secret_key
            else []
        )
        query = query.where(
            or_(
                col(AccessRecord.roster_entry_id).in_(entries or [-1]),
                col(AccessRecord.person_hash).in_(hashes or ["-"]),
            )
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AccessRecord.at).desc(), col(AccessRecord.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def access_row(
    session: Session, record: AccessRecord, *, unmasked: bool, tz: tzinfo | None = None
) -> dict[str, Any]:
    entry = session.get(RosterEntry, record.roster_entry_id) if record.roster_entry_id else None
    row = session.get(ExpertSession, record.session_id) if record.session_id else None
    project = session.get(Project, row.project_id) if row else None
    name = entry.name if entry and entry.name else ""
    id_number = entry.id_number if entry and entry.id_number else ""
    return {
        "id": record.id,
        "centre_id": record.centre_id,
        "at": record.at.astimezone(tz) if tz else record.at,
        "gate": record.gate,
        "credential": record.credential,
        "name": (name if unmasked else mask(name, PiiKind.NAME)) if name else record.label,
        "id_number": (id_number if unmasked else mask(id_number, PiiKind.ID_NUMBER))
        if id_number
        else "",
        "decision": record.decision,
        "decision_text": DECISIONS.get(record.decision, (record.decision,))[0],
        "reason": record.reason or "",
        "reason_text": REASONS.get(record.reason or "", (record.reason or "",))[0],
        "session_id": record.session_id,
        "project_number": project.number if project else "",
        "room": record.room or "",
        "gate_opened": record.gate_opened,
    }


ACCESS_COLUMNS = [
    SheetColumn("at", "通行时间", "Time", width=20),
    SheetColumn("gate", "门禁", "Gate"),
    SheetColumn("name", "姓名", "Name"),
    SheetColumn("id_number", "身份证号", "ID number", width=22),
    SheetColumn("credential", "凭证", "Credential"),
    SheetColumn("decision_text", "结果", "Decision"),
    SheetColumn("reason_text", "拒绝原因", "Reason"),
    SheetColumn("project_number", "项目编号", "Project"),
    SheetColumn("session_id", "场次", "Session"),
    SheetColumn("centre_id", "中心", "Centre"),
]

SIGNIN_COLUMNS = [
    SheetColumn("project_number", "项目编号", "Project"),
    SheetColumn("project_name", "项目名称", "Project name", width=30),
    SheetColumn("session_key", "场次编号", "Session"),
    SheetColumn("planned_start", "计划开始", "Planned start", width=20),
    SheetColumn("name", "姓名", "Name"),
    SheetColumn("id_number", "身份证号", "ID number", width=22),
    SheetColumn("specialty", "专业", "Specialty"),
    SheetColumn("role", "角色", "Role"),
    SheetColumn("signed_at", "签到时间", "Signed in at", width=20),
    SheetColumn("gate", "门禁", "Gate"),
    SheetColumn("attendance", "状态", "State"),
]
ATTENDANCE = {
    "expected": ("待签到", "Expected"),
    "on_time": ("已签到", "Signed in"),
    "late": ("迟到", "Late"),
    "absent": ("缺席", "Absent"),
}


def signin_rows(
    session: Session,
    centre_ids: Collection[str],
    start: datetime,
    end: datetime,
    *,
    unmasked: bool,
) -> list[dict[str, Any]]:
    """Every expert of the sessions starting in ``[start, end)`` with sign-in state."""
    out = []
    for row, project in reversed(
        service.list_sessions(session, centre_ids, start=start, end=end, limit=5000)
    ):
        done = service.signins(session, row.id or 0)
        for entry in service.roster(session, row.id or 0):
            signed: SignIn | None = done.get(entry.id or 0)
            name, idn = entry.name or "", entry.id_number or ""
            out.append(
                {
                    "project_number": project.number,
                    "project_name": project.name,
                    "session_key": row.key,
                    "planned_start": row.planned_start,
                    "name": name if unmasked else mask(name, PiiKind.NAME),
                    "id_number": idn if unmasked else mask(idn, PiiKind.ID_NUMBER),
                    "specialty": entry.specialty,
                    "role": "组长" if entry.role == "leader" else entry.kind,
                    "signed_at": signed.signed_at if signed else None,
                    "gate": signed.gate if signed else "",
                    "attendance": ATTENDANCE[service.attendance(row, entry, signed)][0],
                }
            )
    return out


def list_alerts(
    session: Session, centre_ids: Collection[str], *, open_only: bool = False, limit: int = 100
) -> list[ExpertAlert]:
    if not centre_ids:
        return []
    query = select(ExpertAlert).where(col(ExpertAlert.centre_id).in_(sorted(centre_ids)))
    if open_only:
        query = query.where(col(ExpertAlert.acknowledged_at).is_(None))
    return list(session.exec(query.order_by(col(ExpertAlert.created_at).desc()).limit(limit)))
