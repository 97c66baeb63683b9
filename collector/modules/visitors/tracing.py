"""Contact tracing: everyone whose presence at the same centre overlapped the subject's.

One set-based statement, the same on SQLite and PostgreSQL: the subject's visits ``s``
joined to the other admitted visits ``o`` of the same centre whose presence
``[entered_at, coalesce(exited_at, now))`` overlaps ``s``'s within the asked range. The join
is a UNION ALL of two index range scans:

- ``o.entered_at`` in ``[s.entered_at - MAX_VISIT_SPAN, s.end)`` on ``(centre_id,
  entered_at)``: every closed visit lasts at most ``MAX_VISIT_SPAN`` (see ``models.py``), so
  no overlapping closed visit starts earlier;
- still open visits (``exited_at IS NULL``) that started earlier, on ``(centre_id,
  exited_at)``.

Overlaps are clipped to the range and summed per other person (by ``id_number_hash``; a
visit whose personal data was purged counts as a person of its own).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    DateTime,
    Float,
    Interval,
    String,
    and_,
    bindparam,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from collector.db_types import UTCDateTime, table_of, utcnow
from collector.modules.visitors.models import MAX_VISIT_SPAN, Visit

VISITS = table_of(Visit)


@dataclass(frozen=True)
class Contact:
    person_key: str
    centre_id: str
    visit_id: int  # the latest of their overlapping visits, to show who it is
    visits: int
    overlap_minutes: float
    first_contact: datetime
    last_contact: datetime


@dataclass(frozen=True)
class Subject:
    """Whom to trace: an ID number's hash, or one visit."""

    id_number_hash: str | None = None
    visit_id: int | None = None


class _Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def greatest(self, *args: ColumnElement) -> ColumnElement:
        expr = func.max(*args) if self.sqlite else func.greatest(*args)
        return type_coerce(expr, UTCDateTime)

    def least(self, *args: ColumnElement) -> ColumnElement:
        expr = func.min(*args) if self.sqlite else func.least(*args)
        return type_coerce(expr, UTCDateTime)

    def minus_span(self, value: ColumnElement) -> ColumnElement:
        """``value - MAX_VISIT_SPAN`` (on SQLite as its stored text form)."""
        if self.sqlite:
            shift = f"-{int(MAX_VISIT_SPAN.total_seconds())} seconds"
            return func.strftime("%Y-%m-%d %H:%M:%f", value, shift)
        span = bindparam("max_span", MAX_VISIT_SPAN, type_=Interval())
        return type_coerce(value, DateTime(timezone=True)) - span

    def seconds(self, value: ColumnElement) -> ColumnElement:
        if self.sqlite:
            return cast(func.julianday(value) * 86400.0, Float)
        return cast(func.extract("epoch", value), Float)


def _when(value: datetime, name: str) -> ColumnElement:
    return bindparam(name, value, type_=UTCDateTime)


def trace_contacts(
    session: Session,
    centre_ids: Collection[str],
    subject: Subject,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
) -> list[Contact]:
    """The subject's contacts in ``[start, end)`` at centres in ``centre_ids``, longest
    overlap first."""
    if not centre_ids or (subject.id_number_hash is None and subject.visit_id is None):
        return []
    sql = _Sql(session.get_bind().dialect.name)
    now_ = _when(now or utcnow(), "now")
    lo, hi = _when(start, "range_start"), _when(end, "range_end")
    s, o = VISITS.alias("s"), VISITS.alias("o")
    s_end = func.coalesce(s.c.exited_at, now_)
    o_end = func.coalesce(o.c.exited_at, now_)
    subject_where = [
        s.c.centre_id.in_(sorted(centre_ids)),
        s.c.decision == "admitted",
        s.c.entered_at.is_not(None),
        s.c.entered_at < hi,
        s_end > lo,
    ]
    if subject.visit_id is not None:
        subject_where.append(s.c.id == subject.visit_id)
        same_person: ColumnElement[str] = s.c.id_number_hash
    else:
        subject_where.append(s.c.id_number_hash == subject.id_number_hash)
        same_person = literal(subject.id_number_hash, String)
    overlap_start = sql.greatest(s.c.entered_at, o.c.entered_at, lo)
    overlap_end = sql.least(s_end, o_end, hi)
    common = [
        o.c.centre_id == s.c.centre_id,
        o.c.id != s.c.id,
        o.c.decision == "admitted",
        o.c.entered_at < sql.least(s_end, hi),
        o_end > sql.greatest(s.c.entered_at, lo),
        overlap_end > overlap_start,  # zero-length visits (in and out in the same second)
        or_(o.c.id_number_hash.is_(None), same_person.is_(None), o.c.id_number_hash != same_person),
    ]
    recent = o.c.entered_at >= sql.minus_span(s.c.entered_at)
    old_open = and_(o.c.exited_at.is_(None), o.c.entered_at < sql.minus_span(s.c.entered_at))
    person = func.coalesce(o.c.id_number_hash, literal("v") + cast(o.c.id, String))
    columns = [
        person.label("person"),
        o.c.centre_id.label("centre_id"),
        o.c.id.label("visit_id"),
        overlap_start.label("ov_start"),
        overlap_end.label("ov_end"),
    ]
    branches = [
        select(*columns).select_from(s.join(o, and_(*common, cond))).where(*subject_where)
        for cond in (recent, old_open)
    ]
    pairs = union_all(*branches).subquery("pairs")
    seconds = sql.seconds(pairs.c.ov_end) - sql.seconds(pairs.c.ov_start)
    summed = func.sum(seconds).label("seconds")
    query = (
        select(
            pairs.c.person,
            pairs.c.centre_id,
            func.max(pairs.c.visit_id),
            func.count(func.distinct(pairs.c.visit_id)),
            summed,
            type_coerce(func.min(pairs.c.ov_start), UTCDateTime),
            type_coerce(func.max(pairs.c.ov_end), UTCDateTime),
        )
        .group_by(pairs.c.person, pairs.c.centre_id)
        .order_by(summed.desc(), pairs.c.person)
    )
    return [
        Contact(key, centre, int(vid), int(n), round(float(secs) / 60.0, 1), first, last)
        for key, centre, vid, n, secs, first, last in session.execute(query).all()
    ]


def subject_visits(
    session: Session, centre_ids: Collection[str], subject: Subject, start: datetime, end: datetime
) -> list[Visit]:
    """The subject's own visits in the range, to show alongside the contacts."""
    query = sm_select(Visit).where(
        col(Visit.centre_id).in_(sorted(centre_ids)) if centre_ids else false(),
        Visit.decision == "admitted",
        col(Visit.entered_at).is_not(None),
        col(Visit.entered_at) < end,
        func.coalesce(Visit.exited_at, _when(utcnow(), "now")) > start,
    )
    if subject.visit_id is not None:
        query = query.where(Visit.id == subject.visit_id)
    else:
        query = query.where(Visit.id_number_hash == subject.id_number_hash)
    return list(session.exec(query.order_by(col(Visit.entered_at))))
