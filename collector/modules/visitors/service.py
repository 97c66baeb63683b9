"""Occupancy, visit search and the daily register: plain functions over a session, every
query restricted to the centre ids the caller may see (``centre_ids``)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from collector.auth.scope import scoped
from collector.centres.models import Centre
from collector.db_types import utcnow
from collector.modules.visitors.models import Visit
from collector.security.personal_data import PiiKind, lookup_hash, mask

FLAG_LABELS: dict[str, str] = {
    "id_invalid": "证件号校验失败",
    "card_expired": "证件过期",
    "region_class1": "一类地区",
    "region_class2": "二类地区",
    "watchlist": "重点人员",
    "fever": "体温异常",
    "no_temperature": "未测体温",
}
DOCUMENT_LABELS = {
    "resident": "居民身份证",
    "foreign_permanent": "外国人永久居留身份证",
    "hk_mo_tw": "港澳台居民居住证",
    "manual": "人工录入",
}
_ID_LIKE = re.compile(r"^[0-9A-Za-z\s]{15,20}$")


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """A local calendar day as a half-open UTC interval."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_today(tz: tzinfo, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(tz).date()


def _admitted() -> Any:
    return and_(col(Visit.decision) == "admitted", col(Visit.entered_at).is_not(None))


# -- dashboard ----------------------------------------------------------------------------


@dataclass
class CentreCounts:
    centre_id: str
    name: str
    inside: int = 0
    today: int = 0
    flagged: int = 0
    refused: int = 0


@dataclass
class Dashboard:
    day: date
    centres: list[CentreCounts]
    provinces: list[tuple[str, int]]
    cities: list[tuple[str, int]]
    flagged: list[Visit] = field(default_factory=list)

    @property
    def inside(self) -> int:
        return sum(c.inside for c in self.centres)

    @property
    def today(self) -> int:
        return sum(c.today for c in self.centres)

    @property
    def flagged_today(self) -> int:
        return sum(c.flagged for c in self.centres)


def _count_by_centre(session: Session, centre_ids: Collection[str], *where: Any) -> dict[str, int]:
    query = scoped(select(Visit.centre_id, func.count()), Visit.centre_id, centre_ids)
    rows = session.exec(query.where(*where).group_by(Visit.centre_id)).all()
    return {centre: int(n) for centre, n in rows}


def dashboard(
    session: Session,
    centre_ids: Collection[str],
    tz: tzinfo,
    *,
    now: datetime | None = None,
    flagged_limit: int = 20,
) -> Dashboard:
    """People inside now, visits today, origins and flagged entries of ``centre_ids``."""
    day = local_today(tz, now)
    start, end = day_bounds(day, tz)
    today = and_(col(Visit.entered_at) >= start, col(Visit.entered_at) < end)
    inside = _count_by_centre(session, centre_ids, _admitted(), col(Visit.exited_at).is_(None))
    total = _count_by_centre(session, centre_ids, _admitted(), today)
    flagged = _count_by_centre(session, centre_ids, today, col(Visit.flagged).is_(True))
    refused = _count_by_centre(session, centre_ids, today, Visit.decision == "refused")
    names = dict(session.exec(scoped(select(Centre.id, Centre.name), Centre.id, centre_ids)).all())
    centres = [
        CentreCounts(
            centre_id=cid,
            name=names.get(cid, cid),
            inside=inside.get(cid, 0),
            today=total.get(cid, 0),
            flagged=flagged.get(cid, 0),
            refused=refused.get(cid, 0),
        )
        for cid in sorted(names)
    ]
    return Dashboard(
        day=day,
        centres=centres,
        provinces=_origins(session, centre_ids, today, Visit.origin_province),
        cities=_origins(session, centre_ids, today, Visit.origin_province, Visit.origin_city),
        flagged=_flagged_list(session, centre_ids, today, flagged_limit),
    )


def _origins(
    session: Session, centre_ids: Collection[str], today: Any, *columns: Any, top: int = 12
) -> list[tuple[str, int]]:
    count = func.count().label("n")
    query = scoped(sa_select(*columns, count), Visit.centre_id, centre_ids)
    query = query.where(_admitted(), today).group_by(*columns).order_by(count.desc()).limit(top)
    found = []
    for row in session.execute(query).all():
        *parts, n = row
        found.append(("".join(p for p in parts if p) or "未知", int(n)))
    return found


def _flagged_list(
    session: Session, centre_ids: Collection[str], today: Any, limit: int
) -> list[Visit]:
    query = scoped(select(Visit), Visit.centre_id, centre_ids).where(
        today, col(Visit.flagged).is_(True)
    )
    return list(session.exec(query.order_by(col(Visit.entered_at).desc()).limit(limit)))


# -- search -------------------------------------------------------------------------------


class VisitFilter(BaseModel):
    """Search criteria; dates are local calendar days, inclusive."""

    centre: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    door: str | None = Field(default=None, max_length=64)
    q: str | None = Field(default=None, max_length=60, description="name or ID number")
    flag: str | None = Field(default=None, max_length=24)
    decision: str | None = Field(default=None, max_length=16)
    inside: bool | None = None


def person_condition(q: str) -> Any:
    """Exact match on the keyed hash of an ID number or of a name."""
    if _ID_LIKE.match(q) and any(c.isdigit() for c in q):
        return Visit.id_number_hash == lookup_hash(q, PiiKind.ID_NUMBER)
    return Visit.name_hash == lookup_hash(q, PiiKind.NAME)


def _filter_conditions(f: VisitFilter, tz: tzinfo) -> list[Any]:
    where: list[Any] = []
    when = func.coalesce(Visit.entered_at, Visit.exited_at)
    if f.date_from:
        where.append(when >= day_bounds(f.date_from, tz)[0])
    if f.date_to:
        where.append(when < day_bounds(f.date_to, tz)[1])
    if f.door:
        where.append(or_(col(Visit.door_in) == f.door, col(Visit.door_out) == f.door))
    if f.q and f.q.strip():
        where.append(person_condition(f.q.strip()))
    if f.flag:
        where.append(col(Visit.flag_codes).contains(f",{f.flag},", autoescape=True))
    if f.decision:
        where.append(Visit.decision == f.decision)
    if f.inside is not None:
        inside = and_(_admitted(), col(Visit.exited_at).is_(None))
        where.append(inside if f.inside else ~inside)
    return where


def search_visits(
    session: Session,
    centre_ids: Collection[str],
    f: VisitFilter,
    tz: tzinfo,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Visit], int]:
    """One page of visits (newest first) and the total of the filter."""
    where = _filter_conditions(f, tz)
    total = session.exec(
        scoped(select(func.count()).select_from(Visit), Visit.centre_id, centre_ids).where(*where)
    ).one()
    when = func.coalesce(Visit.entered_at, Visit.exited_at)
    query = scoped(select(Visit), Visit.centre_id, centre_ids).where(*where)
    query = query.order_by(when.desc(), col(Visit.id).desc()).offset(offset).limit(limit)
    rows = session.exec(query)
    return list(rows), int(total)


def register_visits(
    session: Session, centre_ids: Collection[str], day: date, tz: tzinfo
) -> list[Visit]:
    """Every visit of a local day, in order of arrival: the daily register (来访登记簿)."""
    start, end = day_bounds(day, tz)
    when = func.coalesce(Visit.entered_at, Visit.exited_at)
    query = scoped(select(Visit), Visit.centre_id, centre_ids).where(when >= start, when < end)
    return list(session.exec(query.order_by(when, col(Visit.id))))


# -- presentation -------------------------------------------------------------------------


def _local(value: datetime | None, tz: tzinfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def origin_label(v: Visit) -> str:
    return "".join(p for p in (v.origin_province, v.origin_city, v.origin_county) if p)


def flag_text(flags: Iterable[dict[str, Any]]) -> str:
    return "；".join(f.get("reason") or FLAG_LABELS.get(f.get("code", ""), "") for f in flags)


def visit_row(v: Visit, tz: tzinfo, *, unmasked: bool = False) -> dict[str, Any]:
    """A visit as the console, the API and exports show it (masked unless ``unmasked``)."""
    purged = v.purged_at is not None
    return {
        "id": v.id,
        "centre_id": v.centre_id,
        "name": "(已清除)" if purged else (v.name if unmasked else mask(v.name, PiiKind.NAME)),
        "id_number": ""
        if purged
        else (v.id_number if unmasked else mask(v.id_number, PiiKind.ID_NUMBER)),
        "document_type": DOCUMENT_LABELS.get(v.document_type, v.document_type),
        "sex": v.sex,
        "birth_year": v.birth_year,
        "origin": origin_label(v),
        "origin_code": v.origin_code,
        "entered_at": _local(v.entered_at, tz),
        "door_in": v.door_in or "",
        "exited_at": _local(v.exited_at, tz),
        "door_out": v.door_out or "",
        "inside": v.decision == "admitted" and v.entered_at is not None and v.exited_at is None,
        "closed_automatically": v.closed_automatically,
        "exit_unmatched": v.exit_unmatched,
        "temperature_c": v.temperature_c,
        "flags": [f.get("code") for f in v.flags or []],
        "flag_text": flag_text(v.flags or []),
        "decision": v.decision,
        "decided_by": v.decided_by,
        "operator": v.operator,
        "device_id": v.device_id,
        "rules_version": v.rules_version,
    }
