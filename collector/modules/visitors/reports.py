"""Audited reads: the daily register export and contact-tracing queries (with their export).

Every tracing query and every export writes one audit line (committed here, since they are
reads): who asked, why (the mandatory reason), about whom (masked) and how many rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote

from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlmodel import Session, col, select

from collector.auth.audit import audit
from collector.auth.models import ApiToken, User
from collector.db_types import utcnow
from collector.modules.visitors.models import Visit
from collector.modules.visitors.service import register_visits, visit_row
from collector.modules.visitors.tracing import Contact, Subject, subject_visits, trace_contacts
from collector.security.personal_data import PiiKind, lookup_hash, mask
from collector.tabular import SheetColumn, export

Actor = User | ApiToken

REGISTER_COLUMNS = [
    SheetColumn("centre_id", "中心", "Centre"),
    SheetColumn("name", "姓名", "Name"),
    SheetColumn("document_type", "证件类型", "Document"),
    SheetColumn("id_number", "证件号码", "ID number"),
    SheetColumn("sex", "性别", "Sex"),
    SheetColumn("birth_year", "出生年份", "Birth year"),
    SheetColumn("origin", "户籍地", "Origin"),
    SheetColumn("entered_at", "进入时间", "Entered"),
    SheetColumn("door_in", "进入通道", "Entry door"),
    SheetColumn("exited_at", "离开时间", "Left"),
    SheetColumn("door_out", "离开通道", "Exit door"),
    SheetColumn("closed_automatically", "闭馆自动离场", "Closed automatically"),
    SheetColumn("temperature_c", "体温(℃)", "Temperature"),
    SheetColumn("flag_text", "提示", "Flags"),
    SheetColumn("decision_label", "核验结果", "Decision"),
    SheetColumn("operator", "操作员", "Operator"),
]

TRACE_COLUMNS = [
    SheetColumn("centre_id", "中心", "Centre"),
    SheetColumn("name", "姓名", "Name"),
    SheetColumn("id_number", "证件号码", "ID number"),
    SheetColumn("origin", "户籍地", "Origin"),
    SheetColumn("visits", "重叠来访次数", "Visits"),
    SheetColumn("overlap_minutes", "重叠时长(分钟)", "Overlap (min)"),
    SheetColumn("first_contact", "首次接触", "First contact"),
    SheetColumn("last_contact", "最后接触", "Last contact"),
]

DECISIONS = {"admitted": "放行", "refused": "拒绝"}


def content_disposition(name: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _register_row(v: Visit, tz: tzinfo, unmasked: bool) -> dict[str, Any]:
    row = visit_row(v, tz, unmasked=unmasked)
    row["decision_label"] = DECISIONS.get(v.decision, v.decision)
    if v.exit_unmatched:
        row["flag_text"] = "；".join(x for x in (row["flag_text"], "无进入记录") if x)
    return row


def register_xlsx(
    session: Session,
    centre_ids: Collection[str],
    day: date,
    tz: tzinfo,
    *,
    actor: Actor,
    unmasked: bool,
    ip: str = "",
) -> bytes:
    """The daily register (来访登记簿) as xlsx; masked unless ``unmasked``; audited."""
    visits = register_visits(session, centre_ids, day, tz)
    data = export([_register_row(v, tz, unmasked) for v in visits], REGISTER_COLUMNS)
    audit(
        session,
        actor=actor,
        action="visitors.export",
        target_type="visits",
        target_id=day.isoformat(),
        centre_id=next(iter(centre_ids)) if len(centre_ids) == 1 else None,
        ip=ip,
        detail={"rows": len(visits), "day": day.isoformat(), "unmasked": unmasked},
    )
    session.commit()
    return data


# -- contact tracing ----------------------------------------------------------------------


class TraceIn(BaseModel):
    """A tracing request: a person (ID number) or one visit, a time range and the reason."""

    id_number: str | None = Field(default=None, max_length=40)
    visit_id: int | None = Field(default=None, ge=1)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    reason: str = Field(min_length=2, max_length=200, description="why (mandatory, audited)")

    @model_validator(mode="after")
    def _one_subject(self) -> TraceIn:
        if not (self.id_number and self.id_number.strip()) and self.visit_id is None:
            raise ValueError("请填写证件号码或来访记录编号")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("结束时间须晚于开始时间")
        return self


@dataclass
class TraceResult:
    subject_label: str
    start: datetime
    end: datetime
    own_visits: list[dict[str, Any]]
    contacts: list[dict[str, Any]]


class SubjectNotFound(LookupError):
    pass


def _subject(session: Session, centre_ids: Collection[str], body: TraceIn) -> Subject:
    if body.visit_id is not None:
        visit = session.get(Visit, body.visit_id)
        if visit is None or visit.centre_id not in centre_ids:
            raise SubjectNotFound(body.visit_id)
        return Subject(visit_id=visit.id)
    return Subject(id_number_hash=lookup_hash(body.id_number or "", PiiKind.ID_NUMBER))


def _range(body: TraceIn, default_days: int, now: datetime) -> tuple[datetime, datetime]:
    if body.visit_id is not None and body.start is None:
        start = now - timedelta(days=366)
    else:
        start = body.start or now - timedelta(days=default_days)
    return start, body.end or now


def run_trace(
    session: Session,
    centre_ids: Collection[str],
    body: TraceIn,
    tz: tzinfo,
    *,
    actor: Actor,
    unmasked: bool,
    default_days: int = 14,
    ip: str = "",
    exported: bool = False,
    now: datetime | None = None,
) -> TraceResult:
    """Run one tracing query and audit it (who, why, whom masked, how many)."""
    now = now or utcnow()
    subject = _subject(session, centre_ids, body)
    start, end = _range(body, default_days, now)
    contacts = trace_contacts(session, centre_ids, subject, start, end, now=now)
    own = subject_visits(session, centre_ids, subject, start, end)
    label = mask(body.id_number, PiiKind.ID_NUMBER) if body.id_number else f"visit {body.visit_id}"
    audit(
        session,
        actor=actor,
        action="visitors.trace_export" if exported else "visitors.trace",
        target_type="visit" if body.visit_id else "person",
        target_id=body.visit_id or label,
        centre_id=own[0].centre_id if own else None,
        ip=ip,
        detail={
            "reason": body.reason,
            "subject": label,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "contacts": len(contacts),
            "unmasked": unmasked,
        },
    )
    session.commit()
    return TraceResult(
        subject_label=label,
        start=start,
        end=end,
        own_visits=[visit_row(v, tz, unmasked=unmasked) for v in own],
        contacts=_contact_rows(session, contacts, tz, unmasked),
    )


def _contact_rows(
    session: Session, contacts: Iterable[Contact], tz: tzinfo, unmasked: bool
) -> list[dict[str, Any]]:
    contacts = list(contacts)
    ids = [c.visit_id for c in contacts]
    visits = (
        {v.id: v for v in session.exec(select(Visit).where(col(Visit.id).in_(ids)))} if ids else {}
    )
    rows = []
    for c in contacts:
        shown = visit_row(visits[c.visit_id], tz, unmasked=unmasked)
        rows.append(
            {
                "centre_id": c.centre_id,
                "visit_id": c.visit_id,
                "name": shown["name"],
                "id_number": shown["id_number"],
                "origin": shown["origin"],
                "visits": c.visits,
                "overlap_minutes": c.overlap_minutes,
                "first_contact": c.first_contact.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                "last_contact": c.last_contact.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    return rows


def trace_xlsx(result: TraceResult) -> bytes:
    return export(result.contacts, TRACE_COLUMNS, sheet_title="密切接触人员")
