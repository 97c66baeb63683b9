"""The venues module's business functions: registry, units, thresholds, scans, statistics,
alerts and the daily jobs. Routes and pages call these; they audit and commit."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import and_, case, delete, false, insert, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from collector.auth.audit import audit
from collector.auth.models import ApiToken, User
from collector.db_types import table_of, utcnow
from collector.modules.notify.service import find_sms, send_sms
from collector.modules.venues.importer import (
    CHINA,
    ImportResult,
    ScanHasher,
    import_scans,
    recompute_days,
)
from collector.modules.venues.models import (
    Venue,
    VenueAlert,
    VenueScan,
    VenueScanDay,
    VenueSyncState,
    VenueUnit,
    VenueUnitMember,
)
from collector.modules.venues.retention import china_today, import_boundary
from collector.modules.venues.scope import VenueScope
from collector.modules.venues.settings import VenuesSettings

log = logging.getLogger(__name__)

Actor = User | ApiToken | None
EMPTY_UNIT = "空"
REMINDER_PURPOSE = "venues.alert_reminder"


class VenueLocked(Exception):
    """Manual import and deletion are off while the front-database sync is enabled."""


def sync_enabled(settings: VenuesSettings) -> bool:
    return settings.front_db.enabled


def day_start_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - CHINA


# --- units --------------------------------------------------------------------------------


class UnitIn(BaseModel):
    centre_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    leader: str = Field(default="", max_length=50)
    phone: str = Field(default="", max_length=30)


def list_units(session: Session, centres: frozenset[str]) -> list[VenueUnit]:
    if not centres:
        return []
    return list(
        session.exec(
            select(VenueUnit)
            .where(col(VenueUnit.centre_id).in_(sorted(centres)))
            .order_by(col(VenueUnit.name))
        ).all()
    )


def unit_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(VenueUnit.id, VenueUnit.name).where(col(VenueUnit.id).in_(ids)))
    return {i: n for i, n in rows.all() if i is not None}


def save_unit(
    session: Session, body: UnitIn, *, actor: Actor, unit: VenueUnit | None = None
) -> VenueUnit:
    unit = unit or VenueUnit(centre_id=body.centre_id, name=body.name)
    unit.name = body.name
    unit.leader = body.leader or None
    unit.phone = body.phone or None
    session.add(unit)
    session.flush()
    audit(
        session,
        actor=actor,
        action="venues.unit_save",
        target_type="venue_unit",
        target_id=unit.id or "",
        centre_id=unit.centre_id,
        detail={"name": unit.name},
    )
    session.commit()
    return unit


def set_member(session: Session, user: User, unit: VenueUnit | None, *, actor: Actor) -> None:
    """Link a user to a unit (``None`` unlinks)."""
    member = session.get(VenueUnitMember, user.id)
    if unit is None:
        if member is not None:
            session.delete(member)
    elif member is None:
        session.add(VenueUnitMember(user_id=user.id or 0, unit_id=unit.id or 0))
    else:
        member.unit_id = unit.id or 0
        session.add(member)
    audit(
        session,
        actor=actor,
        action="venues.unit_member",
        target_type="user",
        target_id=user.id or "",
        centre_id=user.centre_id,
        detail={"unit_id": unit.id if unit else None},
    )
    session.commit()


def members(session: Session, centres: frozenset[str]) -> list[tuple[User, int | None]]:
    if not centres:
        return []
    users = session.exec(
        select(User)
        .where(User.role == "supervisor_unit", col(User.centre_id).in_(sorted(centres)))
        .order_by(col(User.username))
    ).all()
    links = {m.user_id: m.unit_id for m in session.exec(select(VenueUnitMember)).all()}
    return [(u, links.get(u.id or 0)) for u in users]


# --- venues -------------------------------------------------------------------------------


class VenueIn(BaseModel):
    centre_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    category: str = Field(default="", max_length=100)
    city: str = Field(default="", max_length=50)
    street: str = Field(default="", max_length=100)
    admin: str = Field(default="", max_length=100)
    location: str = Field(default="", max_length=300)
    unit_id: int | None = None


class ThresholdsIn(BaseModel):
    min_daily: int | None = Field(default=None, ge=0)
    max_daily: int | None = Field(default=None, ge=0)

    @field_validator("max_daily")
    @classmethod
    def _ordered(cls, value: int | None, info: Any) -> int | None:
        low = info.data.get("min_daily")
        if value is not None and low is not None and value < low:
            raise ValueError("最大值不能小于最小值")
        return value


@dataclass
class VenuePage:
    rows: list[Venue]
    total: int
    units: dict[int, str] = field(default_factory=dict)


def list_venues(
    session: Session,
    scope: VenueScope,
    *,
    tab: str = "",
    q: str = "",
    thresholds: str = "",
    limit: int = 50,
    offset: int = 0,
) -> VenuePage:
    """``tab``: ``unset`` (no unit, 未设置) / ``set`` (已设置); ``thresholds``: the same for
    thresholds (场所人流量阈值管理)."""
    query = select(Venue).where(scope.venue_filter())
    if tab == "unset":
        query = query.where(col(Venue.unit_id).is_(None))
    elif tab == "set":
        query = query.where(col(Venue.unit_id).is_not(None))
    if thresholds == "unset":
        query = query.where(col(Venue.min_daily).is_(None), col(Venue.max_daily).is_(None))
    elif thresholds == "set":
        query = query.where(
            or_(col(Venue.min_daily).is_not(None), col(Venue.max_daily).is_not(None))
        )
    if q:
        like = f"%{q}%"
        query = query.where(or_(col(Venue.code).like(like), col(Venue.name).like(like)))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = list(session.exec(query.order_by(col(Venue.code)).limit(limit).offset(offset)).all())
    return VenuePage(rows, int(total), unit_names(session, {v.unit_id for v in rows if v.unit_id}))


def get_venue(session: Session, scope: VenueScope, venue_id: int) -> Venue | None:
    venue = session.get(Venue, venue_id)
    return venue if scope.sees_venue(venue) else None


def _check_unit(session: Session, scope: VenueScope, unit_id: int | None) -> None:
    if unit_id is None:
        return
    unit = session.get(VenueUnit, unit_id)
    if unit is None or unit.centre_id not in scope.centres:
        raise ValueError("监管单位不存在")


def save_venue(
    session: Session,
    scope: VenueScope,
    body: VenueIn,
    *,
    actor: Actor,
    venue: Venue | None = None,
    default_city: str = "开平市",
) -> Venue:
    """Create (``venue`` None) or change a venue; raises ValueError on a clash."""
    _check_unit(session, scope, body.unit_id)
    clash = session.exec(
        select(Venue).where(Venue.centre_id == body.centre_id, Venue.code == body.code)
    ).first()
    if clash is not None and (venue is None or clash.id != venue.id):
        if venue is None and clash.discovered:
            venue = clash  # completing a venue the nightly job found in the scans
        else:
            raise ValueError(f"公共场所ID {body.code} 已存在")
    new = venue is None
    venue = venue or Venue(centre_id=body.centre_id, code=body.code)
    for key, value in body.model_dump(exclude={"centre_id"}).items():
        setattr(venue, key, value)
    venue.city = venue.city or default_city
    venue.discovered = False
    venue.updated_at = utcnow()
    session.add(venue)
    session.flush()
    audit(
        session,
        actor=actor,
        action="venues.create" if new else "venues.update",
        target_type="venue",
        target_id=venue.id or "",
        centre_id=venue.centre_id,
        detail={"code": venue.code, "unit_id": venue.unit_id},
    )
    session.commit()
    return venue


def delete_venue(session: Session, venue: Venue, *, actor: Actor) -> None:
    session.execute(delete(VenueAlert).where(col(VenueAlert.venue_id) == venue.id))
    audit(
        session,
        actor=actor,
        action="venues.delete",
        target_type="venue",
        target_id=venue.id or "",
        centre_id=venue.centre_id,
        detail={"code": venue.code},
    )
    session.delete(venue)
    session.commit()


def set_thresholds(session: Session, venue: Venue, body: ThresholdsIn, *, actor: Actor) -> Venue:
    venue.min_daily = body.min_daily
    venue.max_daily = body.max_daily
    venue.updated_at = utcnow()
    session.add(venue)
    audit(
        session,
        actor=actor,
        action="venues.thresholds",
        target_type="venue",
        target_id=venue.id or "",
        centre_id=venue.centre_id,
        detail=body.model_dump(),
    )
    session.commit()
    return venue


# --- scans --------------------------------------------------------------------------------


def import_scan_file(
    session: Session,
    data: bytes,
    *,
    centre_id: str,
    actor: Actor,
    actor_label: str,
    settings: VenuesSettings,
    filename: str = "",
) -> ImportResult:
    """All-or-nothing import; commits with an audit line, or rolls back and re-raises."""
    if sync_enabled(settings):
        raise VenueLocked()
    try:
        result = import_scans(
            session,
            data,
            centre_id=centre_id,
            actor=actor_label,
            batch=settings.import_batch,
            keep_from=import_boundary(session, settings),
        )
    except BaseException:
        session.rollback()
        raise
    audit(
        session,
        actor=actor,
        action="venues.scans_import",
        target_type="venue_scans",
        centre_id=centre_id,
        detail={
            "file": filename[:100],
            "rows": result.rows,
            "inserted": result.inserted,
            "expired": result.expired,
        },
    )
    session.commit()
    return result


def latest_collected(session: Session, centres: frozenset[str]) -> datetime | None:
    """The newest 采集时间 already imported in the centres (one index lookup per centre)."""
    latest = None
    for centre_id in sorted(centres):
        value = session.exec(
            select(func.max(VenueScan.collected_at)).where(VenueScan.centre_id == centre_id)
        ).one()
        if value is not None and (latest is None or value > latest):
            latest = value
    return latest


class ScanFilters(BaseModel):
    venue_code: str = ""
    venue_name: str = ""
    category: str = ""
    street: str = ""
    id_number: str = ""
    phone: str = ""
    collect_result: str = ""
    health_code: str = ""
    start: datetime | None = None
    end: datetime | None = None


def _scan_query(session: Session, scope: VenueScope, f: ScanFilters) -> Any:
    query = select(VenueScan).where(
        scope.code_filter(session, VenueScan.centre_id, VenueScan.venue_code)
    )
    if f.venue_code:
        query = query.where(VenueScan.venue_code == f.venue_code)
    if f.venue_name:
        query = query.where(col(VenueScan.venue_name).like(f"%{f.venue_name}%"))
    if f.category:
        query = query.where(VenueScan.category == f.category)
    if f.street:
        query = query.where(col(VenueScan.street).like(f"%{f.street}%"))
    if f.collect_result:
        query = query.where(VenueScan.collect_result == f.collect_result)
    if f.health_code:
        query = query.where(VenueScan.health_code == f.health_code)
    if f.id_number or f.phone:
        hasher = ScanHasher()
        if f.id_number:
            query = query.where(VenueScan.id_number_hash == hasher.id_number(f.id_number))
        if f.phone:
            query = query.where(VenueScan.phone_hash == hasher.phone(f.phone))
    if f.start:
        query = query.where(col(VenueScan.collected_at) >= f.start)
    if f.end:
        query = query.where(col(VenueScan.collected_at) < f.end)
    return query


PURGED = "(已清除)"


def person_of(scan: VenueScan) -> tuple[str, str, str]:
    """(身份证, 姓名, 电话) of a scan, decrypted; ``(已清除)`` each once purged."""
    if scan.purged_at is not None:
        return PURGED, PURGED, PURGED
    if not scan.person:
        return "", "", ""
    values = json.loads(scan.person)
    return values[0], values[1], values[2]


def unit_by_code(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(centre, 公共场所ID) → 监管单位 name, for the pairs in the registry with a unit."""
    if not pairs:
        return {}
    by_centre: dict[str, set[str]] = defaultdict(set)
    for centre_id, code in pairs:
        by_centre[centre_id].add(code)
    clause = or_(
        *(
            and_(col(Venue.centre_id) == c, col(Venue.code).in_(sorted(codes)))
            for c, codes in by_centre.items()
        )
    )
    rows = session.exec(
        select(Venue.centre_id, Venue.code, VenueUnit.name)
        .join(VenueUnit, col(VenueUnit.id) == col(Venue.unit_id))
        .where(clause)
    ).all()
    return {(c, code): name for c, code, name in rows}


def query_scans(
    session: Session, scope: VenueScope, filters: ScanFilters, *, limit: int, offset: int
) -> tuple[list[VenueScan], int, dict[tuple[str, str], str]]:
    query = _scan_query(session, scope, filters)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = list(
        session.exec(
            query.order_by(col(VenueScan.collected_at).desc(), col(VenueScan.id).desc())
            .limit(limit)
            .offset(offset)
        ).all()
    )
    units = unit_by_code(session, {(r.centre_id, r.venue_code) for r in rows})
    return rows, int(total), units


def delete_scans(
    session: Session,
    centres: frozenset[str],
    *,
    by: str,
    start: datetime,
    end: datetime,
    actor: Actor,
    settings: VenuesSettings,
) -> int:
    """Delete the scans whose 采集时间 (``by="collected"``) or 数据导入时间 (``"imported"``) is
    in [start, end), in the given centres; the daily counts follow. Audited."""
    if sync_enabled(settings):
        raise VenueLocked()
    column = VenueScan.collected_at if by == "collected" else VenueScan.imported_at
    total = 0
    for centre_id in sorted(centres):
        where = and_(col(VenueScan.centre_id) == centre_id, col(column) >= start, col(column) < end)
        days = set(session.exec(select(col(VenueScan.day)).where(where).distinct()).all())
        if not days:
            continue
        result = session.execute(delete(VenueScan).where(where))
        total += result.rowcount or 0  # type: ignore[attr-defined]
        recompute_days(session, centre_id, days)
    audit(
        session,
        actor=actor,
        action="venues.scans_delete",
        target_type="venue_scans",
        detail={"by": by, "start": start.isoformat(), "end": end.isoformat(), "deleted": total},
    )
    session.commit()
    return total


# --- statistics ---------------------------------------------------------------------------


class StatsFilters(BaseModel):
    start: date
    end: date
    venue_code: str = ""
    name: str = ""
    street: str = ""
    unit_id: int | None = None


@dataclass
class StatRow:
    centre_id: str
    venue_code: str
    count: int
    name: str = ""
    category: str = ""
    unit: str = EMPTY_UNIT
    city: str = ""
    street: str = ""


def venue_stats(
    session: Session, scope: VenueScope, f: StatsFilters, *, limit: int | None, offset: int = 0
) -> tuple[list[StatRow], int]:
    """扫码量 per venue over [start, end] (China days, inclusive), from the daily counts."""
    days = VenueScanDay
    where = [
        scope.code_filter(session, days.centre_id, days.venue_code),
        col(days.day) >= f.start,
        col(days.day) <= f.end,
    ]
    if f.venue_code:
        where.append(days.venue_code == f.venue_code)
    if f.name or f.street or f.unit_id is not None:
        registry = select(Venue.code).where(scope.venue_filter())
        if f.name:
            registry = registry.where(col(Venue.name).like(f"%{f.name}%"))
        if f.street:
            registry = registry.where(col(Venue.street).like(f"%{f.street}%"))
        if f.unit_id is not None:
            registry = registry.where(Venue.unit_id == f.unit_id)
        where.append(col(days.venue_code).in_(registry))
    grouped = (
        select(days.centre_id, days.venue_code, func.sum(days.count).label("n"))
        .where(*where)
        .group_by(days.centre_id, days.venue_code)
    )
    # One pass over the daily counts: the number of groups comes with the page.
    ordered = grouped.add_columns(func.count().over().label("total")).order_by(
        days.venue_code, days.centre_id
    )
    if limit is not None:
        ordered = ordered.limit(limit).offset(offset)
    rows = session.execute(ordered).all()
    found = [StatRow(c, code, int(n)) for c, code, n, _total in rows]
    if rows:
        total = rows[0][3]
    elif offset:  # past the end: count separately
        total = session.exec(select(func.count()).select_from(grouped.subquery())).one()
    else:
        total = 0
    _describe(session, found)
    return found, int(total)


def _describe(session: Session, rows: list[StatRow]) -> None:
    """Fill name, category, unit, city, street from the registry, else from a scan."""
    if not rows:
        return
    by_centre: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_centre[r.centre_id].append(r.venue_code)
    venues: dict[tuple[str, str], Venue] = {}
    for centre_id, codes in by_centre.items():
        for i in range(0, len(codes), 500):
            for venue in session.exec(
                select(Venue).where(
                    col(Venue.centre_id) == centre_id, col(Venue.code).in_(codes[i : i + 500])
                )
            ).all():
                venues[(venue.centre_id, venue.code)] = venue
    units = unit_names(session, {v.unit_id for v in venues.values() if v.unit_id})
    for r in rows:
        v = venues.get((r.centre_id, r.venue_code))
        if v is not None and v.name:
            r.name, r.category, r.city, r.street = v.name, v.category, v.city, v.street
            r.unit = units.get(v.unit_id or 0, EMPTY_UNIT)
            continue
        scan = session.exec(
            select(VenueScan.venue_name, VenueScan.category, VenueScan.city, VenueScan.street)
            .where(VenueScan.centre_id == r.centre_id, VenueScan.venue_code == r.venue_code)
            .order_by(col(VenueScan.collected_at).desc())
            .limit(1)
        ).first()
        if scan is not None:
            r.name, r.category, r.city, r.street = scan
        if v is not None:
            r.unit = units.get(v.unit_id or 0, EMPTY_UNIT)


def daily_counts(session: Session, venue: Venue, start: date, end: date) -> list[tuple[date, int]]:
    """Every day of [start, end] with its count (0 for days without scans)."""
    found: dict[date, int] = dict(
        session.exec(
            select(col(VenueScanDay.day), col(VenueScanDay.count)).where(
                VenueScanDay.centre_id == venue.centre_id,
                VenueScanDay.venue_code == venue.code,
                col(VenueScanDay.day) >= start,
                col(VenueScanDay.day) <= end,
            )
        ).all()
    )
    span = (end - start).days + 1
    return [(start + timedelta(d), found.get(start + timedelta(d), 0)) for d in range(span)]


# --- alerts -------------------------------------------------------------------------------


def evaluate_alerts(session: Session, as_of: date, *, days: int = 7) -> int:
    """Raise alerts for the window of ``days`` calendar days ending on ``as_of``.

    A venue with a minimum alerts ``low`` when each day of the window had fewer scans than
    the minimum; with a maximum, ``high`` when each day had more. Days without scans count 0.
    Windows never overlap per venue and direction: no new alert while an existing one (read
    or not) ends inside the window, so a run of bad days gives one alert per full 7 days.

    Set-based: one grouped query over the daily counts of the window (venues with a
    threshold, outer-joined so a day without a row counts 0) finds the violating venues;
    the daily series are read for those venues only and the alerts inserted in one
    statement. Commits; returns the number of new alerts.
    """
    start = as_of - timedelta(days=days - 1)
    v = table_of(Venue)
    d = table_of(VenueScanDay)
    a = table_of(VenueAlert)
    present = func.count(d.c.day)  # days of the window with a row; the others count 0
    low_days = func.sum(case((d.c.count < v.c.min_daily, 1), else_=0))
    high_days = func.sum(case((d.c.count > v.c.max_daily, 1), else_=0))
    missing = days - present
    low = and_(
        v.c.min_daily.is_not(None),
        low_days + missing * case((v.c.min_daily > 0, 1), else_=0) == days,
    )
    high = and_(
        v.c.max_daily.is_not(None),
        high_days + missing * case((v.c.max_daily < 0, 1), else_=0) == days,
    )

    def recent(direction: str) -> Any:
        return (
            select(a.c.id)
            .where(a.c.venue_id == v.c.id, a.c.direction == direction, a.c.end_day >= start)
            .exists()
        )

    found = session.execute(
        sa_select(
            v.c.id,
            v.c.centre_id,
            v.c.code,
            v.c.min_daily,
            v.c.max_daily,
            case((low, 1), else_=0),
            case((high, 1), else_=0),
        )
        .select_from(
            v.outerjoin(
                d,
                and_(
                    d.c.centre_id == v.c.centre_id,
                    d.c.venue_code == v.c.code,
                    d.c.day >= start,
                    d.c.day <= as_of,
                ),
            )
        )
        .where(or_(v.c.min_daily.is_not(None), v.c.max_daily.is_not(None)))
        .group_by(v.c.id, v.c.centre_id, v.c.code, v.c.min_daily, v.c.max_daily)
        .having(or_(and_(low, ~recent("low")), and_(high, ~recent("high"))))
    ).all()
    if not found:
        session.commit()
        return 0
    # A venue that violates may still have an alert ending inside the window in the other
    # direction only; the HAVING let it through for one direction, check each one here.
    ids = [row[0] for row in found]
    blocked: set[tuple[int, str]] = set()
    series: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        blocked.update(
            session.execute(
                select(a.c.venue_id, a.c.direction).where(
                    a.c.venue_id.in_(chunk), a.c.end_day >= start
                )
            ).all()
        )
        for centre_id, code, day, n in session.execute(
            select(d.c.centre_id, d.c.venue_code, d.c.day, d.c.count)
            .join(v, and_(v.c.centre_id == d.c.centre_id, v.c.code == d.c.venue_code))
            .where(v.c.id.in_(chunk), d.c.day >= start, d.c.day <= as_of)
        ).all():
            series[(centre_id, code)][day] = n
    window = [start + timedelta(n) for n in range(days)]
    now = utcnow()
    values = []
    for venue_id, centre_id, code, minimum, maximum, is_low, is_high in found:
        by_day = series.get((centre_id, code), {})
        counts = [by_day.get(day, 0) for day in window]
        for direction, threshold, hit in (("low", minimum, is_low), ("high", maximum, is_high)):
            if hit and (venue_id, direction) not in blocked:
                values.append(
                    {
                        "centre_id": centre_id,
                        "venue_id": venue_id,
                        "direction": direction,
                        "threshold": threshold,
                        "start_day": start,
                        "end_day": as_of,
                        "counts": counts,
                        "received": False,
                        "received_by": "",
                        "received_at": None,
                        "created_at": now,
                    }
                )
    if values:
        session.execute(insert(a), values)
    session.commit()
    return len(values)


ALERTS_STATE = "alerts"  # venue_sync_state row: the last China day evaluated


def last_evaluated_day(session: Session) -> date | None:
    state = session.get(VenueSyncState, ALERTS_STATE)
    if state is None or state.watermark is None:
        return None
    return (state.watermark.astimezone(UTC).replace(tzinfo=None) + CHINA).date()


def evaluate_pending(
    session: Session, settings: VenuesSettings, *, today: date | None = None
) -> dict[date, int]:
    """Evaluate, oldest first, every complete China day since the last one evaluated (at
    most ``alert_lookback_days`` back; only yesterday when none was evaluated yet), each as
    the end of a window of ``alert_days``, and remember each day once done (a crash resumes
    after it). The windows' de-duplication makes re-evaluating a day harmless. Commits;
    returns the new alerts per evaluated day."""
    yesterday = (today or china_today()) - timedelta(days=1)
    last = last_evaluated_day(session)
    if last is None:
        first = yesterday
    else:
        first = max(
            last + timedelta(days=1), yesterday - timedelta(settings.alert_lookback_days - 1)
        )
    created: dict[date, int] = {}
    day = first
    while day <= yesterday:
        created[day] = evaluate_alerts(session, day, days=settings.alert_days)
        state = session.get(VenueSyncState, ALERTS_STATE) or VenueSyncState(name=ALERTS_STATE)
        state.watermark = day_start_utc(day)
        state.last_run_at = utcnow()
        session.add(state)
        session.commit()
        day += timedelta(days=1)
    return created


def list_alerts(
    session: Session, scope: VenueScope, *, received: bool, limit: int, offset: int
) -> tuple[list[tuple[VenueAlert, Venue]], int]:
    query = (
        select(VenueAlert, Venue)
        .join(Venue, col(Venue.id) == col(VenueAlert.venue_id))
        .where(scope.venue_filter(), VenueAlert.received == received)
    )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(VenueAlert.end_day).desc(), col(VenueAlert.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(a, v) for a, v in rows], int(total)


def get_alert(
    session: Session, scope: VenueScope, alert_id: int
) -> tuple[VenueAlert, Venue] | None:
    alert = session.get(VenueAlert, alert_id)
    if alert is None:
        return None
    venue = session.get(Venue, alert.venue_id)
    if venue is None or not scope.sees_venue(venue):
        return None
    return alert, venue


def receive_alert(session: Session, alert: VenueAlert, *, actor: Actor, actor_label: str) -> None:
    if alert.received:
        return
    alert.received = True
    alert.received_by = actor_label
    alert.received_at = utcnow()
    session.add(alert)
    audit(
        session,
        actor=actor,
        action="venues.alert_receive",
        target_type="venue_alert",
        target_id=alert.id or "",
        centre_id=alert.centre_id,
    )
    session.commit()


# --- jobs ---------------------------------------------------------------------------------


def find_unknown_venues(session: Session) -> int:
    """Add the 公共场所ID values seen in scans but missing from the registry (未设置).
    Commits; returns how many were added."""
    known = select(Venue.code).where(Venue.centre_id == VenueScanDay.centre_id)
    missing = session.exec(
        select(VenueScanDay.centre_id, VenueScanDay.venue_code)
        .where(col(VenueScanDay.venue_code).not_in(known.scalar_subquery()))
        .distinct()
    ).all()
    for centre_id, code in missing:
        latest = session.execute(
            sa_select(
                col(VenueScan.venue_name),
                col(VenueScan.category),
                col(VenueScan.city),
                col(VenueScan.street),
                col(VenueScan.venue_admin),
            )
            .where(col(VenueScan.centre_id) == centre_id, col(VenueScan.venue_code) == code)
            .order_by(col(VenueScan.collected_at).desc())
            .limit(1)
        ).first()
        name, category, city, street, admin = latest or ("", "", "", "", "")
        session.add(
            Venue(
                centre_id=centre_id,
                code=code,
                name=name,
                category=category,
                city=city,
                street=street,
                admin=admin,
                discovered=True,
                source="scans",
            )
        )
    session.commit()
    if missing:
        log.info("venues: %d venue IDs found in scans only", len(missing))
    return len(missing)


def send_daily_reminders(
    session: Session,
    notify: Any,
    settings: VenuesSettings,
    *,
    today: date | None = None,
) -> int:
    """One SMS per unit with 未接收 alerts, to its responsible person, once per day (the
    send log's key ``venues.alert_reminder:<unit>:<day>`` makes a second run a no-op)."""
    today = today or china_today()
    unit_ids = set(
        session.exec(
            select(Venue.unit_id)
            .join(VenueAlert, col(VenueAlert.venue_id) == col(Venue.id))
            .where(VenueAlert.received == false(), col(Venue.unit_id).is_not(None))
            .distinct()
        ).all()
    )
    sent = 0
    for unit_id in sorted(u for u in unit_ids if u is not None):
        unit = session.get(VenueUnit, unit_id)
        if unit is None or not unit.phone:
            log.warning("venues: unit %s has unreceived alerts but no phone", unit_id)
            continue
        key = f"{REMINDER_PURPOSE}:{unit_id}:{today.isoformat()}"
        if find_sms(session, key) is not None:
            continue
        send_sms(
            session,
            unit.phone,
            settings.sms_text,
            purpose=REMINDER_PURPOSE,
            settings=notify,
            dedup_key=key,
            centre_id=unit.centre_id,
        )
        sent += 1
    return sent
