"""Automatic burns: schedules (immediately, daily, weekly, monthly at a set time) kept in
``burn_schedules`` and run through the collector's scheduler.

Each enabled schedule has one stored APScheduler job ``burn.schedule.<id>`` (persistent job
store, the collector's time zone on the trigger, :attr:`BurnSettings.misfire_grace_s` of
grace), calling :func:`run_schedule` by reference. A run works out the occurrence it belongs
to (the latest fire time of the schedule not after now) and records it in
``burn_schedule_runs`` under a unique key before it creates anything, so an occurrence runs
once however often the job fires (a restart, two collectors, a manual run). Each job it
creates is keyed by (schedule, occurrence, project) as well.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from collector.db_types import utcnow
from collector.modules.burn import service
from collector.modules.burn.models import (
    BurnJob,
    BurnSchedule,
    Category,
    CopyRole,
    Frequency,
    JobOrigin,
    Medium,
    ScheduleRun,
)
from collector.scheduler import current_runtime, make_trigger

if TYPE_CHECKING:
    from collector.runtime import Runtime

log = logging.getLogger(__name__)

JOB_PREFIX = "burn.schedule."
FUNC_REF = "collector.modules.burn.schedules:run_schedule"
LOOKBACK = {
    Frequency.DAILY: timedelta(days=2),
    Frequency.WEEKLY: timedelta(days=8),
    Frequency.MONTHLY: timedelta(days=93),
}


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    centre_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    frequency: Frequency = Frequency.DAILY
    time_of_day: str = Field(default="02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    weekday: int | None = Field(default=None, ge=0, le=6)
    day_of_month: int | None = Field(default=None, ge=1, le=31)
    run_at: datetime | None = None
    category: Category | None = None
    medium: Medium = Medium.DVD
    copies: list[CopyRole] = Field(default_factory=lambda: [CopyRole.ARCHIVE, CopyRole.OFFSITE])
    station_id: str | None = None
    enabled: bool = True

    @field_validator("station_id", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return value or None

    @model_validator(mode="after")
    def _complete(self) -> ScheduleIn:
        if self.frequency == Frequency.WEEKLY and self.weekday is None:
            raise ValueError("每周计划需要选择星期")
        if self.frequency == Frequency.MONTHLY and self.day_of_month is None:
            raise ValueError("每月计划需要选择日期")
        if self.run_at is not None and self.run_at.tzinfo is None:
            raise ValueError("run_at needs a time zone")
        if not self.copies:
            raise ValueError("至少需要一份")
        return self


def job_id(schedule_id: int) -> str:
    return f"{JOB_PREFIX}{schedule_id}"


def trigger_of(schedule: BurnSchedule) -> tuple[str, dict[str, Any]]:
    """APScheduler trigger kind and arguments (the time zone is added by the scheduler)."""
    hour, minute = (int(x) for x in schedule.time_of_day.split(":"))
    if schedule.frequency == Frequency.ONCE:
        return "date", {"run_date": schedule.run_at or utcnow()}
    args: dict[str, Any] = {"hour": hour, "minute": minute, "second": 0}
    if schedule.frequency == Frequency.WEEKLY:
        args["day_of_week"] = schedule.weekday or 0
    elif schedule.frequency == Frequency.MONTHLY:
        day = schedule.day_of_month or 1
        args["day"] = "last" if day > 28 else day
    return "cron", args


def occurrence_of(schedule: BurnSchedule, now: datetime, tz: ZoneInfo) -> datetime:
    """The occurrence a run at ``now`` belongs to: the latest fire time not after now (a
    late run after a restart still belongs to the occurrence it missed)."""
    if schedule.frequency == Frequency.ONCE:
        return schedule.run_at or schedule.created_at
    kind, args = trigger_of(schedule)
    trigger = make_trigger(kind, args, tz)
    fire = trigger.get_next_fire_time(None, now - LOOKBACK[schedule.frequency])
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    if latest is None:  # run by hand before its first fire time
        return now.replace(second=0, microsecond=0)
    return latest.astimezone(now.tzinfo)


def run_occurrence(
    session: Session,
    runtime: Any,
    schedule_id: int,
    *,
    now: datetime | None = None,
) -> list[BurnJob] | None:
    """Create the jobs of one occurrence of a schedule and dispatch them; None when the
    occurrence already ran (or the schedule is gone or disabled)."""
    now = now or utcnow()
    settings = runtime.settings.burn
    schedule = session.get(BurnSchedule, schedule_id)
    if schedule is None or not schedule.enabled:
        return None
    occurrence = occurrence_of(schedule, now, ZoneInfo(runtime.settings.timezone))
    run = ScheduleRun(schedule_id=schedule_id, occurrence=occurrence, ran_at=now)
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        log.info("burn schedule %s: occurrence %s already ran", schedule_id, occurrence)
        return None
    jobs = []
    stamp = occurrence.strftime("%Y%m%dT%H%M%SZ")
    for project in service.pending_projects(session, schedule.centre_id, schedule.category):
        if service.active_job_for(session, project.id or 0) is not None:
            continue
        if service.failing_repeatedly(session, project.id or 0, settings.schedule_max_failures):
            log.warning(
                "burn schedule %s: project %s skipped: its last %d jobs failed",
                schedule_id,
                project.number,
                settings.schedule_max_failures,
            )
            continue
        try:  # create_job refuses before it adds anything
            jobs.append(
                service.create_job(
                    session,
                    settings,
                    project,
                    medium=schedule.medium,
                    copies=schedule.copies,
                    station_id=schedule.station_id,
                    origin=JobOrigin.SCHEDULE,
                    created_by=f"schedule:{schedule.name}",
                    schedule_id=schedule_id,
                    dedupe_key=f"s{schedule_id}:{stamp}:p{project.id}",
                )
            )
        except service.BurnError as exc:
            log.warning(
                "burn schedule %s: project %s skipped: %s", schedule_id, project.number, exc
            )
    run.jobs = len(jobs)
    schedule.last_run_at = now
    session.add(schedule)
    session.add(run)
    session.commit()
    log.info("burn schedule %s (%s): %d jobs", schedule_id, occurrence, len(jobs))
    for job in jobs:
        service.dispatch(session, runtime.publisher, settings, job)
    return jobs


def run_schedule(schedule_id: int) -> None:
    """The stored scheduler job of a schedule (referenced by :data:`FUNC_REF`)."""
    runtime = current_runtime()
    with Session(runtime.engine, expire_on_commit=False) as session:
        run_occurrence(session, runtime, schedule_id)


# -- keeping the scheduler's jobs in step with the table ------------------------------------


def sync(runtime: Any, session: Session, schedule: BurnSchedule) -> bool:
    """(Re)create or remove the scheduler job of a schedule; False when this collector is
    not running the scheduler (the leader picks it up)."""
    scheduler = getattr(runtime, "scheduler", None)
    if scheduler is None or not scheduler.running:
        schedule.synced = False
        session.add(schedule)
        session.commit()
        return False
    jid = job_id(schedule.id or 0)
    once_done = schedule.frequency == Frequency.ONCE and schedule.last_run_at is not None
    if not schedule.enabled or once_done:
        scheduler.remove_job(jid)
    else:
        kind, args = trigger_of(schedule)
        scheduler.ensure_job(
            jid,
            FUNC_REF,
            trigger=kind,
            trigger_args=args,
            args=(schedule.id,),
            misfire_grace_s=runtime.settings.burn.misfire_grace_s,
            name=f"burn schedule {schedule.name}",
        )
    schedule.synced = True
    session.add(schedule)
    session.commit()
    return True


def on_scheduler_start(runtime: Runtime) -> None:
    """This collector became the leader: create the jobs of schedules that have none or
    changed meanwhile, remove those of deleted schedules. Unchanged stored jobs are left as
    they are, so that a run missed while no collector was up still fires within its grace."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        reconcile(runtime, session)


def reconcile(runtime: Any, session: Session) -> None:
    scheduler = runtime.scheduler
    if not scheduler.running:
        return
    schedules = list(session.exec(select(BurnSchedule)))
    wanted = {job_id(s.id or 0) for s in schedules if s.enabled}
    for jid in scheduler.job_ids(JOB_PREFIX):
        if jid not in wanted:
            scheduler.remove_job(jid)
    for schedule in schedules:
        if not schedule.enabled:
            continue
        stored = scheduler.next_run(job_id(schedule.id or 0)) is not None
        if schedule.synced and (stored or schedule.frequency == Frequency.ONCE):
            continue
        sync(runtime, session, schedule)


# -- editing ---------------------------------------------------------------------------------


def save_schedule(
    session: Session,
    runtime: Any,
    data: ScheduleIn,
    *,
    schedule: BurnSchedule | None = None,
    created_by: str = "",
) -> BurnSchedule:
    """Create or update a schedule, commit, and bring its scheduler job in step. An
    "immediately" schedule (once, no time or a past one) runs at once."""
    if schedule is None:
        schedule = BurnSchedule(centre_id=data.centre_id, name=data.name, created_by=created_by)
    values = data.model_dump()
    values["copies"] = [CopyRole(c).value for c in data.copies]
    if data.frequency == Frequency.ONCE and data.run_at is None:
        values["run_at"] = utcnow()
    for key, value in values.items():
        setattr(schedule, key, value)
    schedule.updated_at = utcnow()
    schedule.synced = False
    session.add(schedule)
    session.commit()
    session.refresh(schedule)
    immediate = schedule.frequency == Frequency.ONCE and (schedule.run_at or utcnow()) <= utcnow()
    if immediate and schedule.enabled:
        run_occurrence(session, runtime, schedule.id or 0)
    sync(runtime, session, schedule)
    return schedule


def delete_schedule(session: Session, runtime: Any, schedule: BurnSchedule) -> None:
    schedule.enabled = False
    sync(runtime, session, schedule)
    session.delete(schedule)
    session.commit()


def list_schedules(session: Session, centre_ids: Collection[str]) -> list[BurnSchedule]:
    return list(
        session.exec(
            select(BurnSchedule)
            .where(col(BurnSchedule.centre_id).in_(sorted(centre_ids)))
            .order_by(col(BurnSchedule.id))
        )
    )


def get_schedule(
    session: Session, schedule_id: int, centre_ids: Collection[str]
) -> BurnSchedule | None:
    row = session.get(BurnSchedule, schedule_id)
    return row if row is not None and row.centre_id in centre_ids else None


def next_run(runtime: Any, schedule: BurnSchedule) -> datetime | None:
    scheduler = getattr(runtime, "scheduler", None)
    if scheduler is None:
        return None
    result: datetime | None = scheduler.next_run(job_id(schedule.id or 0))
    return result
