"""“扫码”预警 (seed 001, (六)): the 7-day rule over the daily counts, and which days it judges.

Scans are imported by hand, late and in pieces, so a day without any scan of a centre is
not a day on which nobody came: it is a day whose data has not arrived. A window is
therefore judged only when the centre has at least one scan on **every** day of it (a
*known* day); days after the newest 采集时间, gaps and days before the first import are
unknown. Within a judged window, a venue without scans on a day counts 0 that day.

Each centre keeps a mark, the last day considered (``venue_sync_state`` row
``alerts:<centre>``). :func:`evaluate_pending` considers every day after the mark up to
yesterday (at most ``alert_lookback_days`` back), judges the ones whose window is known and
moves the mark. An import, a sync or a deletion moves the mark back before the earliest day
it touched (:func:`reopen_days`), so those days are judged again with the new data at the
next evaluation: right after an import or sync, and at 03:00.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, func

from collector.db_types import table_of, utcnow
from collector.modules.venues.importer import CHINA
from collector.modules.venues.models import Venue, VenueAlert, VenueScan, VenueScanDay
from collector.modules.venues.models import VenueSyncState as State
from collector.modules.venues.retention import china_today
from collector.modules.venues.settings import VenuesSettings

log = logging.getLogger(__name__)

LEGACY_STATE = "alerts"  # the one mark for every centre, before marks were per centre
MARK_PREFIX = "alerts:"
STATE_NAME_MAX = 32  # venue_sync_state.name


def day_start_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - CHINA


def _as_day(watermark: datetime) -> date:
    return (watermark.astimezone(UTC).replace(tzinfo=None) + CHINA).date()


# --- the rule for one window --------------------------------------------------------------


def evaluate_alerts(
    session: Session, as_of: date, *, days: int = 7, centre_id: str | None = None
) -> int:
    """Raise alerts for the window of ``days`` calendar days ending on ``as_of`` (in one
    centre, or all). Does not ask whether the days are known: :func:`evaluate_pending` does.

    A venue with a minimum alerts ``low`` when each day of the window had fewer scans than
    the minimum; with a maximum, ``high`` when each day had more. Days without scans count 0.
    Windows never overlap per venue and direction: no new alert while an existing one (read
    or not) shares a day with the window, so a run of bad days gives one alert per full 7 days.

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
    # Re-judged days can lie before an existing alert: overlap, not just "ends after start".
    overlaps = and_(a.c.end_day >= start, a.c.start_day <= as_of)

    def recent(direction: str) -> Any:
        return (
            select(a.c.id)
            .where(a.c.venue_id == v.c.id, a.c.direction == direction, overlaps)
            .exists()
        )

    candidates = [or_(v.c.min_daily.is_not(None), v.c.max_daily.is_not(None))]
    if centre_id is not None:
        candidates.append(v.c.centre_id == centre_id)
    found = session.execute(
        select(
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
        .where(*candidates)
        .group_by(v.c.id, v.c.centre_id, v.c.code, v.c.min_daily, v.c.max_daily)
        .having(or_(and_(low, ~recent("low")), and_(high, ~recent("high"))))
    ).all()
    if not found:
        session.commit()
        return 0
    # A venue that violates may still have an alert overlapping the window in the other
    # direction only; the HAVING let it through for one direction, check each one here.
    ids = [row[0] for row in found]
    blocked: set[tuple[int, str]] = set()
    series: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        blocked.update(
            session.execute(
                select(a.c.venue_id, a.c.direction).where(a.c.venue_id.in_(chunk), overlaps)
            ).all()
        )
        for c, code, day, n in session.execute(
            select(d.c.centre_id, d.c.venue_code, d.c.day, d.c.count)
            .join(v, and_(v.c.centre_id == d.c.centre_id, v.c.code == d.c.venue_code))
            .where(v.c.id.in_(chunk), d.c.day >= start, d.c.day <= as_of)
        ).all():
            series[(c, code)][day] = n
    window = [start + timedelta(n) for n in range(days)]
    now = utcnow()
    values = []
    for venue_id, c, code, minimum, maximum, is_low, is_high in found:
        by_day = series.get((c, code), {})
        counts = [by_day.get(day, 0) for day in window]
        for direction, threshold, hit in (("low", minimum, is_low), ("high", maximum, is_high)):
            if hit and (venue_id, direction) not in blocked:
                values.append(
                    {
                        "centre_id": c,
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


# --- known days and the per-centre mark ---------------------------------------------------


def known_days(session: Session, centre_id: str, first: date, last: date) -> set[date]:
    """The days of [first, last] on which the centre has at least one scan: one seek per
    day on the ``(centre_id, collected_at)`` index (a China day is a fixed UTC interval)."""
    scans = table_of(VenueScan)
    found: set[date] = set()
    day = first
    while day <= last:
        hit = session.execute(
            select(scans.c.id)
            .where(
                scans.c.centre_id == centre_id,
                scans.c.collected_at >= day_start_utc(day),
                scans.c.collected_at < day_start_utc(day + timedelta(days=1)),
            )
            .limit(1)
        ).first()
        if hit is not None:
            found.add(day)
        day += timedelta(days=1)
    return found


def mark_name(centre_id: str) -> str:
    """The ``venue_sync_state`` row of a centre's mark (a digest when the id is too long)."""
    name = MARK_PREFIX + centre_id
    if len(name) <= STATE_NAME_MAX:
        return name
    digest = hashlib.blake2b(centre_id.encode(), digest_size=12).hexdigest()
    return f"{MARK_PREFIX}#{digest}"


@dataclass(frozen=True)
class Mark:
    """A centre's mark as read: the last day considered, and the own row's raw values, which
    a compare-and-set checks (``changed`` is stamped by every writer, so a reopening that
    leaves the day where it was is seen too)."""

    day: date | None
    watermark: datetime | None = None
    changed: datetime | None = None
    own: bool = False


def read_mark(session: Session, centre_id: str) -> Mark:
    """The centre's mark (the old shared one until it has its own), read afresh."""
    own = session.get(State, mark_name(centre_id), populate_existing=True)
    if own is not None and own.watermark is not None:
        return Mark(_as_day(own.watermark), own.watermark, own.last_run_at, own=True)
    legacy = session.get(State, LEGACY_STATE, populate_existing=True)
    day = _as_day(legacy.watermark) if legacy is not None and legacy.watermark else None
    if own is None:
        return Mark(day)
    return Mark(day, None, own.last_run_at, own=True)


def judged_through(session: Session, centre_id: str) -> date | None:
    """The last day considered for the centre; None when never evaluated."""
    return read_mark(session, centre_id).day


def _set_mark(session: Session, centre_id: str, day: date) -> None:
    state = session.get(State, mark_name(centre_id)) or State(name=mark_name(centre_id))
    state.watermark = day_start_utc(day)
    state.last_run_at = utcnow()  # a new stamp: evaluations that read the old one stop
    session.add(state)


def _advance_mark(session: Session, centre_id: str, mark: Mark, day: date) -> Mark | None:
    """Move the centre's mark to ``day`` unless anyone wrote it since ``mark`` was read (an
    import, sync or deletion reopening days, or another evaluation): compare and set, so a
    change that lands while days are being judged is never overwritten. The mark as written,
    or None when it had changed. Does not commit."""
    table = table_of(State)
    name = mark_name(centre_id)
    now = utcnow()
    new = Mark(day, day_start_utc(day), now, own=True)
    if mark.own:
        moved = session.execute(
            update(table)
            .where(
                table.c.name == name,
                table.c.watermark.is_not_distinct_from(mark.watermark),
                table.c.last_run_at.is_not_distinct_from(mark.changed),
            )
            .values(watermark=new.watermark, last_run_at=now)
        )
        return new if moved.rowcount == 1 else None  # type: ignore[attr-defined]
    try:  # the centre's first own mark (its days came from none or the old shared one)
        with session.begin_nested():
            session.add(State(name=name, watermark=new.watermark, last_run_at=now))
    except IntegrityError:  # someone made it first
        return None
    return new


def reopen_days(session: Session, centre_id: str, days: Iterable[date]) -> None:
    """Scans of ``days`` were added or deleted: judge them again at the next evaluation (the
    mark moves back before the earliest; days after it are new to the mark anyway, but the
    mark is stamped all the same, so an evaluation under way, which may have found them
    unknown, stops instead of moving past them). Does not commit: it belongs to the change.
    A centre never evaluated needs nothing: its first evaluation covers the look-back."""
    earliest = min(days, default=None)
    mark = judged_through(session, centre_id)
    if earliest is None or mark is None:
        return
    _set_mark(session, centre_id, min(mark, earliest - timedelta(days=1)))


# --- the job ------------------------------------------------------------------------------


def alert_centres(session: Session, centres: frozenset[str] | None = None) -> list[str]:
    """The centres with a venue that has a threshold (the others cannot alert)."""
    v = table_of(Venue)
    query = select(v.c.centre_id).where(or_(v.c.min_daily.is_not(None), v.c.max_daily.is_not(None)))
    if centres is not None:
        query = query.where(v.c.centre_id.in_(sorted(centres)))
    return sorted(session.execute(query.distinct()).scalars().all())


def evaluate_pending(
    session: Session,
    settings: VenuesSettings,
    *,
    today: date | None = None,
    centres: frozenset[str] | None = None,
) -> dict[date, int]:
    """For each centre (or those given), consider every day after its mark up to yesterday
    (at most ``alert_lookback_days`` back), oldest first; judge a day when all days of its
    window (``alert_days``) are known, and move the mark past it (each day committed with
    its mark: a crash resumes after it; the windows' de-duplication makes a repeat
    harmless). Returns the new alerts per judged day."""
    yesterday = (today or china_today()) - timedelta(days=1)
    floor = yesterday - timedelta(days=settings.alert_lookback_days - 1)
    created: dict[date, int] = defaultdict(int)
    for centre_id in alert_centres(session, centres):
        for day, n in _evaluate_centre(session, centre_id, settings.alert_days, floor, yesterday):
            created[day] += n
    return dict(sorted(created.items()))


RESTARTS = 3
"""Times an evaluation starts again from a mark someone changed under it, before leaving the
centre to the next run (two evaluations at once would otherwise take turns for ever)."""


def _evaluate_centre(
    session: Session, centre_id: str, span: int, floor: date, last: date
) -> list[tuple[date, int]]:
    """Judge the centre's days after its mark, one at a time, each with the data committed
    when it is judged. When anyone else wrote the mark meanwhile (see :func:`_advance_mark`),
    start again from the mark as it now is: days reopened are judged again, never skipped."""
    judged: list[tuple[date, int]] = []
    for _ in range(RESTARTS + 1):
        if _judge_from_mark(session, centre_id, span, (floor, last), judged):
            break
    return judged


def _judge_from_mark(
    session: Session,
    centre_id: str,
    span: int,
    bounds: tuple[date, date],
    judged: list[tuple[date, int]],
) -> bool:
    """One pass from the mark as it is now up to ``bounds[1]`` (not before ``bounds[0]``),
    appending to ``judged``; False when the mark changed under it (the pass stopped)."""
    floor, last = bounds
    mark = read_mark(session, centre_id)
    day = floor if mark.day is None else max(mark.day + timedelta(days=1), floor)
    while day <= last:
        window = known_days(session, centre_id, day - timedelta(days=span - 1), day)
        if len(window) == span:
            judged.append((day, evaluate_alerts(session, day, days=span, centre_id=centre_id)))
        advanced = _advance_mark(session, centre_id, mark, day)
        if advanced is None:
            session.rollback()
            log.info("venues: alert mark of %s changed during evaluation", centre_id)
            return False
        session.commit()
        mark, day = advanced, day + timedelta(days=1)
    return True


def evaluate_after_change(
    session: Session, settings: VenuesSettings, centre_id: str, *, today: date | None = None
) -> int:
    """Judge the days an import or sync reopened, right away; returns the new alerts. The
    data is already committed: if this fails the days stay reopened for the 03:00 job."""
    try:
        created = evaluate_pending(session, settings, today=today, centres=frozenset({centre_id}))
    except SQLAlchemyError:  # e.g. a concurrent evaluation inserted the same alert first
        session.rollback()
        log.exception("venues: alerts after the change in %s not evaluated yet", centre_id)
        return 0
    return sum(created.values())
