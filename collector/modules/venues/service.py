"""The venues module's business functions: registry, units, thresholds, scans, statistics,
alerts and the daily jobs. Routes and pages call these; they audit and commit."""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import String, and_, delete, false, or_, type_coerce, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from collector.auth.audit import audit
from collector.auth.models import ApiToken, User
from collector.db_types import utcnow
from collector.modules.notify.service import find_sms, send_sms
from collector.modules.venues.alerts import evaluate_after_change, reopen_days
from collector.modules.venues.alerts import evaluate_alerts as evaluate_alerts
from collector.modules.venues.alerts import evaluate_pending as evaluate_pending
from collector.modules.venues.importer import (
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


class VenueClash(ValueError):
    """The 公共场所ID is already in the registry (the API answers 409; other ValueErrors
    are bad input, 422)."""


def sync_enabled(settings: VenuesSettings) -> bool:
    return settings.front_db.enabled


# --- units --------------------------------------------------------------------------------


_PHONE_NOISE = re.compile(r"[\s\-()（）]")
_MOBILE = re.compile(r"1[0-9]{10}")


def mobile_number(value: str) -> str:
    """A mainland mobile number as its 11 digits (spaces, hyphens, brackets and a +86,
    0086 or 86 prefix dropped); ValueError otherwise. The daily reminder SMS goes to it, so
    a landline or a typo is refused when the unit is saved, not when the modem refuses it."""
    digits = _PHONE_NOISE.sub("", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if not _MOBILE.fullmatch(digits):
        raise ValueError("监管单位负责人手机号应为 11 位手机号码，如 13800138000")
    return digits


class UnitIn(BaseModel):
    centre_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    leader: str = Field(default="", max_length=50)
    phone: str = Field(default="", max_length=30)

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        return mobile_number(value) if value.strip() else ""


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
    """Create or change a unit; :class:`VenueClash` when the name is taken in the centre."""
    clash = session.exec(
        select(VenueUnit.id).where(
            VenueUnit.centre_id == body.centre_id, VenueUnit.name == body.name
        )
    ).first()
    if clash is not None and (unit is None or clash != unit.id):
        raise VenueClash(f"监管单位“{body.name}”已存在")
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


def _check_unit(session: Session, scope: VenueScope, unit_id: int | None, centre_id: str) -> None:
    """The unit must exist, be visible, and belong to the venue's own centre (its users
    see only their centre's venues, and its 负责人 is that centre's contact)."""
    if unit_id is None:
        return
    unit = session.get(VenueUnit, unit_id)
    if unit is None or unit.centre_id not in scope.centres:
        raise ValueError("监管单位不存在")
    if unit.centre_id != centre_id:
        raise ValueError(f"监管单位“{unit.name}”不属于场所所在的中心 {centre_id}")


def _apply_venue(body: VenueIn, venue: Venue | None, default_city: str) -> Venue:
    venue = venue or Venue(centre_id=body.centre_id, code=body.code)
    for key, value in body.model_dump(exclude={"centre_id"}).items():
        setattr(venue, key, value)
    venue.city = venue.city or default_city
    venue.discovered = False
    venue.updated_at = utcnow()
    return venue


def save_venue(
    session: Session,
    scope: VenueScope,
    body: VenueIn,
    *,
    actor: Actor,
    venue: Venue | None = None,
    default_city: str = "开平市",
) -> Venue:
    """Create (``venue`` None) or change a venue; raises :class:`VenueClash` when the
    公共场所ID is taken, ValueError for a wrong 监管单位."""
    _check_unit(session, scope, body.unit_id, body.centre_id)
    clash = session.exec(
        select(Venue).where(Venue.centre_id == body.centre_id, Venue.code == body.code)
    ).first()
    if clash is not None and (venue is None or clash.id != venue.id):
        if venue is None and clash.discovered:
            venue = clash  # completing a venue the nightly job found in the scans
        else:
            raise VenueClash(f"公共场所ID {body.code} 已存在")
    new = venue is None
    venue = _apply_venue(body, venue, default_city)
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


def import_venues(
    session: Session,
    bodies: list[VenueIn],
    *,
    centre_id: str,
    actor: Actor,
    default_city: str = "开平市",
) -> int:
    """Store the rows of a registry import (checked by ``registry.parse_registry``) in one
    transaction with one audit line: all of them or, on any error, none. A row whose
    公共场所ID the nightly job found in the scans (未设置) completes that venue."""
    found = session.exec(select(Venue).where(Venue.centre_id == centre_id)).all()
    discovered = {v.code: v for v in found if v.discovered}
    for body in bodies:
        session.add(_apply_venue(body, discovered.get(body.code), default_city))
    audit(
        session,
        actor=actor,
        action="venues.registry_import",
        target_type="venue",
        centre_id=centre_id,
        detail={"rows": len(bodies), "completed": sum(b.code in discovered for b in bodies)},
    )
    try:
        session.commit()
    except IntegrityError as exc:  # a venue saved meanwhile by someone else
        session.rollback()
        raise VenueClash("公共场所ID 与刚保存的场所冲突，未导入任何数据，请重试") from exc
    return len(bodies)


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
    if result.inserted:
        reopen_days(session, centre_id, result.days)
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
    if result.inserted:
        result.alerts = evaluate_after_change(session, settings, centre_id)
    return result


def latest_by_centre(session: Session, centres: frozenset[str]) -> dict[str, datetime | None]:
    """The newest 采集时间 already imported, per centre (one index lookup each): what the
    import page shows so that a file is not imported twice into the same centre."""
    return {
        centre_id: session.exec(
            select(func.max(VenueScan.collected_at)).where(VenueScan.centre_id == centre_id)
        ).one()
        for centre_id in sorted(centres)
    }


class ScanFilters(BaseModel):
    venue_code: str = ""
    venue_name: str = ""
    category: str = ""
    city: str = ""
    street: str = ""
    venue_admin: str = ""
    id_number: str = ""
    phone: str = ""
    collect_result: str = ""
    health_code: str = ""
    nucleic_result: str = ""
    unit_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None


def scan_conditions(f: ScanFilters) -> list[Any]:
    """The WHERE clauses over :class:`VenueScan` of the filters (the scope comes on top)."""
    where: list[Any] = []
    if f.venue_code:
        where.append(VenueScan.venue_code == f.venue_code)
    if f.venue_name:
        where.append(col(VenueScan.venue_name).like(f"%{f.venue_name}%"))
    if f.category:
        where.append(VenueScan.category == f.category)
    if f.street:
        where.append(col(VenueScan.street).like(f"%{f.street}%"))
    if f.city:
        where.append(col(VenueScan.city).like(f"%{f.city}%"))
    if f.venue_admin:
        where.append(col(VenueScan.venue_admin).like(f"%{f.venue_admin}%"))
    if f.nucleic_result:
        where.append(VenueScan.nucleic_result == f.nucleic_result)
    if f.unit_id is not None:  # 监管单位 comes from the registry, as the page shows it
        where.append(
            sa_select(col(Venue.id))
            .where(
                col(Venue.centre_id) == col(VenueScan.centre_id),
                col(Venue.code) == col(VenueScan.venue_code),
                col(Venue.unit_id) == f.unit_id,
            )
            .exists()
        )
    if f.collect_result:
        where.append(VenueScan.collect_result == f.collect_result)
    if f.health_code:
        where.append(VenueScan.health_code == f.health_code)
    if f.id_number or f.phone:
        hasher = ScanHasher()
        if f.id_number:
            where.append(VenueScan.id_number_hash == hasher.id_number(f.id_number))
        if f.phone:
            where.append(VenueScan.phone_hash == hasher.phone(f.phone))
    if f.start:
        where.append(col(VenueScan.collected_at) >= f.start)
    if f.end:
        where.append(col(VenueScan.collected_at) < f.end)
    return where


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


COUNT_LIMIT = 10_000
"""The scan lists count the matching records up to this many; beyond it they say so
(“10,000+ 条”, ``total_is_lower_bound``) instead of counting millions on every view."""
_MERGE_CENTRES = 200  # at most this many per-centre branches (SQLite allows 500)
_FETCH = 500  # records read by id per statement


@dataclass
class ScanPage:
    """One page of scan records, newest 采集时间 first.

    ``total`` is exact when ``more`` is false; otherwise more than ``total`` records match
    (the count stopped at :data:`COUNT_LIMIT`, or the page is further on than that)."""

    rows: list[VenueScan]
    total: int
    units: dict[tuple[str, str], str]
    more: bool = False
    has_next: bool = False


def query_scans(
    session: Session, scope: VenueScope, filters: ScanFilters, *, limit: int, offset: int
) -> ScanPage:
    """The records of 扫码进场信息查询 (and the list of 扫码进场信息管理, and the export).

    First the keys (采集时间, id) of at most ``COUNT_LIMIT + 1`` matching records are read,
    in whatever order the database finds them fastest. If that is all of them, the count is
    exact and the page is cut from those keys, sorted here: a rare match on a field without an
    index costs one pass over the scope, whatever the page. Otherwise the page's ids are read
    in order along the ``(centre_id, collected_at)`` index, so a page far on skips index
    entries only (SQLite: the entries end with the id, no sort; PostgreSQL: an incremental
    sort of the ids within one second), one branch per centre merged in order when the scope
    spans several centres; then the page's records by id."""
    scope_clause = scope.code_filter(session, VenueScan.centre_id, VenueScan.venue_code)
    where = scan_conditions(filters)
    bound = COUNT_LIMIT
    # 采集时间 as the driver gives it (SQLite: the stored text), compared as the database
    # orders it, without parsing up to 10,001 datetimes on every view.
    stored_time = type_coerce(col(VenueScan.collected_at), String)
    keys: list[tuple[Any, int]] = [
        (at, i)
        for at, i in session.execute(
            sa_select(stored_time, col(VenueScan.id)).where(scope_clause, *where).limit(bound + 1)
        ).all()
    ]
    counted = len(keys) <= bound  # all the matches read: the count is exact
    if counted:
        keys.sort(reverse=True)  # newest first, the later id first on the same second
        ids = [i for _, i in keys[offset : offset + limit + 1]]
    else:
        ids = _ordered_ids(session, scope, scope_clause, where, limit + 1, offset)
    has_next, ids = len(ids) > limit, ids[:limit]
    rows = _scans_by_id(session, ids)
    if counted:
        total, more = len(keys), False
    elif not rows:  # past the end: more than the bound, no more is known
        total, more = bound, True
    elif has_next:  # more than the rows up to here, and at least more than the bound
        total, more = max(bound, offset + len(rows)), True
    else:  # the last page: now the number is known
        total, more = offset + len(rows), False
    units = unit_by_code(session, {(r.centre_id, r.venue_code) for r in rows})
    return ScanPage(rows, total, units, more=more, has_next=has_next)


def _ordered_ids(
    session: Session,
    scope: VenueScope,
    scope_clause: Any,
    where: list[Any],
    limit: int,
    offset: int,
) -> list[int]:
    """Ids of a page, newest 采集时间 first, read along the ``(centre_id, collected_at)``
    index: an ``IN`` list of centres cannot be read in that order (the database would sort the
    whole scope), so each centre is a branch of a ``UNION ALL``, limited to the rows up to the
    end of the page, and the branches are merged in order (SQLite ``MERGE (UNION ALL)``,
    PostgreSQL ``Merge Append``; a branch without its own limit would make PostgreSQL sort
    the whole scope, as its index gives the time order but not the id order within a second)."""
    newest: tuple[Any, ...] = (col(VenueScan.collected_at).desc(), col(VenueScan.id).desc())
    centres = sorted(scope.centres)
    if not scope.restricted and 1 < len(centres) <= _MERGE_CENTRES:
        branches = []
        for centre_id in centres:
            branch = (
                sa_select(col(VenueScan.id), col(VenueScan.collected_at))
                .where(col(VenueScan.centre_id) == centre_id, *where)
                .order_by(*newest)
                .limit(offset + limit)
                .subquery()
            )
            branches.append(sa_select(branch.c.id, branch.c.collected_at))
        merged = union_all(*branches)
        columns = merged.selected_columns
        statement: Any = merged.order_by(columns.collected_at.desc(), columns.id.desc())
    else:
        statement = sa_select(col(VenueScan.id)).where(scope_clause, *where).order_by(*newest)
    statement = statement.limit(limit).offset(offset)
    return [row[0] for row in session.execute(statement).all()]


def _scans_by_id(session: Session, ids: list[int]) -> list[VenueScan]:
    """The records of ``ids``, in that order (one deleted meanwhile is left out)."""
    found: dict[int, VenueScan] = {}
    for i in range(0, len(ids), _FETCH):
        chunk = ids[i : i + _FETCH]
        for scan in session.exec(select(VenueScan).where(col(VenueScan.id).in_(chunk))).all():
            found[scan.id or 0] = scan
    return [found[i] for i in ids if i in found]


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
        # Judged at the next evaluation (03:00 or the next import), not now: a correction is
        # usually a deletion followed by the right file, which is then judged at once.
        reopen_days(session, centre_id, days)
    audit(
        session,
        actor=actor,
        action="venues.scans_delete",
        target_type="venue_scans",
        detail={
            "by": by,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "centres": sorted(centres),
            "deleted": total,
        },
    )
    session.commit()
    return total


# --- statistics ---------------------------------------------------------------------------


class StatsFilters(BaseModel):
    start: date
    end: date
    venue_code: str = ""
    name: str = ""
    category: str = ""
    city: str = ""
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
    if f.name or f.category or f.city or f.street or f.unit_id is not None:
        registry = select(Venue.code).where(scope.venue_filter())
        if f.name:
            registry = registry.where(col(Venue.name).like(f"%{f.name}%"))
        if f.category:
            registry = registry.where(Venue.category == f.category)
        if f.city:
            registry = registry.where(col(Venue.city).like(f"%{f.city}%"))
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
