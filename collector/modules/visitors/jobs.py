"""Scheduled work: close visits left open at closing time; purge expired personal data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import null, update
from sqlmodel import Session, col, select

from collector.auth.audit import audit
from collector.db_types import table_of, utcnow
from collector.modules.visitors.models import Visit

if TYPE_CHECKING:
    from collector.runtime import Runtime

log = logging.getLogger(__name__)
VISITS = table_of(Visit)

CLOSE_JOB_ID = "visitors.close_open_visits"


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def first_closing_after(entered_at: datetime, closing: time, tz: tzinfo) -> datetime:
    """The first closing time (local) at or after an entry, in UTC."""
    local = entered_at.astimezone(tz)
    candidate = datetime.combine(local.date(), closing, tzinfo=tz)
    if candidate < local:
        candidate = datetime.combine(local.date() + timedelta(days=1), closing, tzinfo=tz)
    return candidate.astimezone(UTC)


def close_open_visits(
    session: Session, closing_time: str, tz: tzinfo, *, now: datetime | None = None
) -> int:
    """Close every admitted visit still open after its closing time; they are marked
    ``closed_automatically`` and end at that closing time. Runs late without harm."""
    now = now or utcnow()
    closing = parse_hhmm(closing_time)
    open_visits = session.exec(
        select(Visit).where(
            Visit.decision == "admitted",
            col(Visit.entered_at).is_not(None),
            col(Visit.entered_at) <= now,
            col(Visit.exited_at).is_(None),
        )
    ).all()
    closed = 0
    for visit in open_visits:
        assert visit.entered_at is not None
        at = first_closing_after(visit.entered_at, closing, tz)
        if at > now:
            continue
        visit.exited_at, visit.closed_automatically = at, True
        session.add(visit)
        closed += 1
    if closed:
        audit(
            session,
            actor=None,
            action="visitors.auto_close",
            target_type="visits",
            detail={"visits": closed, "closing_time": closing_time},
        )
    session.commit()
    return closed


def purge_personal_data(
    session: Session, retention_days: int, *, now: datetime | None = None
) -> int:
    """Null the names and ID numbers (and their hashes) of visits older than the retention;
    the anonymous rest (times, doors, origin, flags) stays for counts. Audited as system."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    result = session.exec(  # type: ignore[call-overload]
        update(Visit)
        .where(
            col(Visit.purged_at).is_(None),
            col(Visit.id_number_hash).is_not(None) | col(Visit.name_hash).is_not(None),
            (col(Visit.exited_at) < cutoff)
            | (col(Visit.exited_at).is_(None) & (col(Visit.entered_at) < cutoff)),
        )
        .values(
            {
                VISITS.c.name: null(),
                VISITS.c.name_hash: null(),
                VISITS.c.id_number: null(),
                VISITS.c.id_number_hash: null(),
                VISITS.c.purged_at: now,
            }
        )
    )
    purged = int(result.rowcount or 0)
    audit(
        session,
        actor=None,
        action="visitors.purge",
        target_type="visits",
        detail={"visits": purged, "retention_days": retention_days, "before": cutoff.isoformat()},
    )
    session.commit()
    log.info("purged personal data of %d visits older than %d days", purged, retention_days)
    return purged


def run_close(runtime: Runtime) -> None:
    settings = runtime.settings
    with Session(runtime.engine) as session:
        n = close_open_visits(session, settings.visitors.closing_time, ZoneInfo(settings.timezone))
    log.info("closed %d visits left open at closing time", n)


def run_purge(runtime: Runtime) -> None:
    with Session(runtime.engine) as session:
        purge_personal_data(session, runtime.settings.visitors.retention_days)


def run_close_scheduled() -> None:
    """Stored by reference in the job table (``ensure_job``) with the configured time."""
    from collector.scheduler import current_runtime

    run_close(current_runtime())


def schedule_closing(runtime: Runtime) -> None:
    """``on_scheduler_start``: the closing job at ``visitors.closing_time`` (a setting, so
    it cannot be a static module job)."""
    closing = parse_hhmm(runtime.settings.visitors.closing_time)
    runtime.scheduler.ensure_job(
        CLOSE_JOB_ID,
        "collector.modules.visitors.jobs:run_close_scheduled",
        trigger="cron",
        trigger_args={"hour": closing.hour, "minute": closing.minute},
        name="close visits left open at closing time",
    )
