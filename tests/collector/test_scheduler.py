"""The modules' scheduler: persistent jobs, explicit time zone, leader-only, runtime lookup."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect

from collector import migrate
from collector.db import make_engine
from collector.modules import CollectorModule, ScheduledJob
from collector.scheduler import JOB_TABLE, Scheduler, current_runtime
from collector.settings import CollectorSettings
from tests.support.net import wait_until

ran_jobs: list[tuple[str, Any]] = []
FIRED = threading.Event()


def record_job(runtime: Any) -> None:
    ran_jobs.append(("module", runtime))


def record_ref(tag: str) -> None:
    ran_jobs.append((tag, current_runtime()))
    FIRED.set()


MODULE = CollectorModule(
    name="demo",
    jobs=(
        ScheduledJob(
            "nightly", record_job, "cron", {"hour": 3, "minute": 10}, description="nightly"
        ),
    ),
)


def fake_runtime(db: Path, *, modules: tuple[CollectorModule, ...] = (MODULE,)) -> Any:
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    return SimpleNamespace(settings=CollectorSettings(), engine=engine, modules=modules)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    ran_jobs.clear()
    FIRED.clear()
    yield tmp_path / "c.db"


def test_module_jobs_are_stored_with_the_centre_time_zone(db: Path) -> None:
    runtime = fake_runtime(db)
    scheduler = Scheduler(runtime)
    scheduler.set_leader(True)
    try:
        assert scheduler.job_ids("demo.") == ["demo.nightly"]
        assert scheduler.job_ids("core.") == [
            "core.expire_uploads",
            "core.purge_sessions",
            "core.reencrypt_personal_data",
        ]
        next_run = scheduler.next_run("demo.nightly")
        assert next_run is not None
        assert next_run.utcoffset() == timedelta(hours=8)  # Asia/Shanghai, not the host zone
        assert (next_run.hour, next_run.minute) == (3, 10)
        assert JOB_TABLE in inspect(runtime.engine).get_table_names()
        scheduler.run_now("demo", "nightly")
        assert ran_jobs == [("module", runtime)]
        scheduler.run_now("core", "purge_sessions")  # the collector's own jobs, found by name
    finally:
        scheduler.stop()


def test_jobs_survive_a_restart_and_fire_in_the_worker_with_the_runtime(db: Path) -> None:
    first = fake_runtime(db)
    scheduler = Scheduler(first)
    scheduler.set_leader(True)
    soon = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(seconds=2)
    assert scheduler.ensure_job(
        "demo.once",
        f"{__name__}:record_ref",
        trigger="date",
        trigger_args={"run_date": soon},
        args=("fired",),
    )
    scheduler.stop()  # the collector stops before the job is due

    second = fake_runtime(db)
    restarted = Scheduler(second)
    restarted.set_leader(True)
    try:
        assert "demo.once" in restarted.job_ids()
        assert FIRED.wait(15)
        assert ran_jobs == [("fired", second)]
        wait_until(lambda: "demo.once" not in restarted.job_ids(), timeout=5)
    finally:
        restarted.stop()


def test_an_unchanged_job_keeps_its_stored_next_run(db: Path) -> None:
    """Re-ensuring a job at every start must not recompute its next run from "now": a run
    that fell due while no collector was up would be lost."""
    scheduler = Scheduler(fake_runtime(db))
    scheduler.set_leader(True)
    try:
        ref = f"{__name__}:record_ref"
        nightly = {"trigger": "cron", "trigger_args": {"hour": 3, "minute": 10}}
        assert scheduler.ensure_job("demo.keep", ref, args=("x",), **nightly)  # type: ignore[arg-type]
        stored = scheduler.next_run("demo.keep")
        assert stored is not None
        # A stored next run the trigger would not compute from now. (Not an overdue one: the
        # scheduler would run that at once; pausing it does not stop a round in flight.)
        kept = stored + timedelta(days=2)
        scheduler._aps.modify_job("demo.keep", next_run_time=kept)  # type: ignore[union-attr]
        assert scheduler.ensure_job("demo.keep", ref, args=("x",), **nightly)  # type: ignore[arg-type]
        assert scheduler.next_run("demo.keep") == kept
        changed = {"trigger": "cron", "trigger_args": {"hour": 4, "minute": 0}}
        assert scheduler.ensure_job("demo.keep", ref, args=("x",), **changed)  # type: ignore[arg-type]
        replaced = scheduler.next_run("demo.keep")
        assert replaced is not None and (replaced.hour, replaced.minute) == (4, 0)
    finally:
        scheduler.stop()


def test_only_the_leader_runs_the_scheduler(db: Path) -> None:
    scheduler = Scheduler(fake_runtime(db))
    scheduler.set_leader(False)
    assert not scheduler.running
    assert not scheduler.ensure_job(
        "x", f"{__name__}:record_ref", trigger="interval", trigger_args={"hours": 1}
    )
    scheduler.set_leader(True)
    assert scheduler.running
    scheduler.set_leader(False)  # lost the lock
    assert not scheduler.running
    assert scheduler.job_ids() == []
    scheduler.stop()
    scheduler.set_leader(True)  # a housekeeping tick racing the runtime's stop
    assert not scheduler.running
    scheduler.open()
    scheduler.set_leader(True)
    assert scheduler.running
    scheduler.stop()


def test_modules_are_told_once_per_start(db: Path) -> None:
    calls: list[Any] = []
    module = CollectorModule(name="told", on_scheduler_start=calls.append)
    runtime = fake_runtime(db, modules=(module,))
    scheduler = Scheduler(runtime)
    scheduler.set_leader(True)
    scheduler.set_leader(True)  # every housekeeping tick confirms leadership
    assert calls == [runtime]
    scheduler.set_leader(False)
    scheduler.set_leader(True)
    assert calls == [runtime, runtime]
    scheduler.stop()


def test_current_runtime_outside_a_job_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        current_runtime()
