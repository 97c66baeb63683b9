"""Schedules: a daily burn at a set time picks up exactly the pending projects of its centre,
survives a collector restart between scheduling and firing (the job lives in the persistent
job store), and creates its jobs once however often the occurrence fires."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlmodel import Session, select

from collector.centres.models import Centre
from collector.db import make_engine
from collector.devices.models import Device
from collector.modules.burn import schedules
from collector.modules.burn.models import (
    ArchiveStatus,
    BurnJob,
    BurnSchedule,
    Frequency,
    JobOrigin,
    ScheduleRun,
)
from collector.runtime import Runtime
from collector.scheduler import JOB_TABLE
from collector.settings import load_settings
from tests.modules.burn.conftest import add_projects
from tests.support import postgres
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'collector.db'}"
        return
    if not postgres.available():
        pytest.skip("PostgreSQL not reachable")
    db = postgres.TempDatabase(migrated=True)
    yield db.url
    db.drop()


@pytest.fixture
def start_collector(
    tmp_path: Path, mosquitto: Mosquitto, db_url: str
) -> Iterator[Callable[[], Runtime]]:
    started: list[Runtime] = []
    db = db_url

    def start() -> Runtime:
        settings = load_settings(
            development=True,
            secret_key="burn-schedule-tests-secret-0123456789",  # the same after a restart
            database={"url": db},
            mqtt={"url": mosquitto.url, "client_id": f"collector-{len(started)}"},
            files={"root": str(tmp_path / "files")},
        )
        runtime = Runtime(settings).start()
        started.append(runtime)
        assert runtime.wait_ready(15)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


def seed(runtime: Runtime) -> list[Any]:
    with Session(runtime.engine) as session:
        session.add(Centre(id="c1", name="市中心"))
        session.add(Centre(id="c2", name="县中心", parent_id="c1"))
        session.commit()
        session.add(Device(id="burn1", centre_id="c2", kind="burner"))
        session.commit()
    add_projects(runtime.engine, "c1")  # another centre's pending projects stay out
    return add_projects(runtime.engine, "c2")


def move_next_run(engine: Any, job_id: str, when: datetime) -> None:
    """As if the schedule's set time were ``when``: APScheduler's stored job, modified in its
    job store while no collector runs."""
    store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
    job = store.lookup_job(job_id)
    assert job is not None
    job.next_run_time = when
    store.update_job(job)


@pytest.mark.parametrize("fire_in_s", [3, -60], ids=["fires-after-restart", "missed-while-down"])
def test_daily_schedule_survives_a_restart_and_runs_once(
    start_collector: Callable[[], Runtime], fire_in_s: int
) -> None:
    """The set time comes after the restart, or passed while no collector was running (within
    the misfire grace time): either way the occurrence runs once after the restart."""
    first = start_collector()
    seed(first)
    set_time = (datetime.now(TZ) - timedelta(hours=1)).strftime("%H:%M")
    with Session(first.engine, expire_on_commit=False) as session:
        schedule = schedules.save_schedule(
            session,
            first,
            schedules.ScheduleIn(centre_id="c2", name="每日归档", frequency=Frequency.DAILY,
                                 time_of_day=set_time),
        )  # fmt: skip
    job_id = schedules.job_id(schedule.id or 0)
    next_run = first.scheduler.next_run(job_id)
    assert next_run is not None and next_run.tzinfo is not None
    assert next_run.astimezone(TZ).strftime("%H:%M") == set_time  # tomorrow, China time
    assert str(next_run.utcoffset()) == "8:00:00"
    first.stop()

    engine = make_engine(first.settings.database.url)
    move_next_run(engine, job_id, datetime.now(UTC) + timedelta(seconds=fire_in_s))
    engine.dispose()

    second = start_collector()  # a new process would do the same: the job store is the DB

    def created() -> list[BurnJob]:
        with Session(second.engine) as session:
            return list(session.exec(select(BurnJob)))

    def sent() -> bool:
        jobs = created()
        return len(jobs) >= 2 and all(j.command_id for j in jobs)

    wait_until(sent, 30, 0.2, "scheduled jobs created and sent")
    jobs = created()
    assert sorted(j.project_number for j in jobs) == ["GC-2026-001", "GC-2026-002"]
    assert {j.centre_id for j in jobs} == {"c2"} and {j.origin for j in jobs} == {
        JobOrigin.SCHEDULE
    }
    assert all(j.station_id == "burn1" and j.command_id for j in jobs), [
        (j.station_id, j.command_id, j.message) for j in jobs
    ]
    with Session(second.engine) as session:
        statuses = {p.number: p.archive_status for p in session.exec(
            select(schedules.service.ArchiveProject).where(
                schedules.service.ArchiveProject.centre_id == "c2"))}  # fmt: skip
        assert statuses == {
            "GC-2026-001": ArchiveStatus.QUEUED,
            "GC-2026-002": ArchiveStatus.QUEUED,
            "GC-2026-003": ArchiveStatus.DONE,
        }
        runs = session.exec(select(ScheduleRun)).all()
        assert len(runs) == 1 and runs[0].jobs == 2
        occurrence = runs[0].occurrence.astimezone(TZ)
        assert occurrence.strftime("%H:%M") == set_time
        assert session.get(BurnSchedule, schedule.id).last_run_at is not None  # type: ignore[union-attr]
    # the next run is the next occurrence, still at the set time
    following = second.scheduler.next_run(job_id)
    assert following is not None and following.astimezone(TZ).strftime("%H:%M") == set_time

    # the same occurrence firing again (a duplicate fire, another collector) creates nothing
    with Session(second.engine, expire_on_commit=False) as session:
        assert schedules.run_occurrence(session, second, schedule.id or 0) is None
    second.stop()
    third = start_collector()
    assert third.scheduler.next_run(job_id) == following  # kept, not re-created from "now"
    with Session(third.engine) as session:
        assert len(session.exec(select(BurnJob)).all()) == 2
        assert len(session.exec(select(ScheduleRun)).all()) == 1


def test_occurrences_of_each_frequency() -> None:
    now = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # 11:30 in Shanghai, a Monday
    daily = BurnSchedule(centre_id="c", name="d", frequency=Frequency.DAILY, time_of_day="11:00")
    assert schedules.occurrence_of(daily, now, TZ) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    late = BurnSchedule(centre_id="c", name="d", frequency=Frequency.DAILY, time_of_day="12:00")
    assert schedules.occurrence_of(late, now, TZ) == datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    weekly = BurnSchedule(
        centre_id="c", name="w", frequency=Frequency.WEEKLY, time_of_day="02:00", weekday=4
    )
    assert schedules.occurrence_of(weekly, now, TZ) == datetime(2026, 11, 19, 18, 0, tzinfo=UTC)
    monthly = BurnSchedule(
        centre_id="c", name="m", frequency=Frequency.MONTHLY, time_of_day="02:00", day_of_month=31
    )
    assert schedules.occurrence_of(monthly, now, TZ) == datetime(2026, 10, 30, 18, 0, tzinfo=UTC)
    assert schedules.trigger_of(monthly) == (
        "cron",
        {"hour": 2, "minute": 0, "second": 0, "day": "last"},
    )


def test_immediate_schedule_runs_at_once(
    start_collector: Callable[[], Runtime],
) -> None:
    runtime = start_collector()
    seed(runtime)
    with Session(runtime.engine, expire_on_commit=False) as session:
        schedule = schedules.save_schedule(
            session,
            runtime,
            schedules.ScheduleIn(centre_id="c2", name="立即", frequency=Frequency.ONCE),
        )
        schedule_id = schedule.id or 0
        assert len(session.exec(select(BurnJob)).all()) == 2
        assert schedules.run_occurrence(session, runtime, schedule_id) is None
    assert runtime.scheduler.next_run(schedules.job_id(schedule_id)) is None
