"""Scheduled jobs of the business modules, on APScheduler 3.x with a persistent job store.

Jobs live in the ``apscheduler_jobs`` table of the collector's database, so a run missed
while the collector was down still starts after a restart when it is within its misfire
grace time, and runs once (``coalesce``), not once per missed occurrence. Every trigger
carries the collector's ``timezone`` explicitly (a nightly job at 03:10 means 03:10 China
time, whatever the host's zone).

Only the collector holding the housekeeping leader lock runs the scheduler
(:class:`collector.housekeeping.LeaderLock`); when leadership moves, the new leader starts
its scheduler from the same table. Jobs are stored by reference
(``collector.scheduler:run_module_job`` with the module and job id as arguments), never
as pickled objects, so an upgrade that changes code does not break stored jobs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from collector.modules import ScheduledJob

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

    from collector.modules import CollectorModule
    from collector.runtime import Runtime

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"

_worker = threading.local()
"""Each scheduler's worker threads know their runtime (several runtimes may share a process)."""


def _bind_runtime(runtime: Runtime) -> None:
    _worker.runtime = runtime


def current_runtime() -> Runtime:
    """The collector whose scheduler runs this job, for job functions stored by reference."""
    runtime: Runtime | None = getattr(_worker, "runtime", None)
    if runtime is None:
        raise RuntimeError("not called from a collector scheduler's worker thread")
    return runtime


def make_trigger(kind: str, args: Mapping[str, Any], tz: ZoneInfo) -> BaseTrigger:
    """An APScheduler trigger with the time zone set explicitly."""
    if kind == "cron":
        return CronTrigger(timezone=tz, **args)
    if kind == "interval":
        return IntervalTrigger(timezone=tz, **args)
    if kind == "date":
        return DateTrigger(timezone=tz, **args)
    raise ValueError(f"unknown trigger kind {kind!r}")


def run_module_job(module_name: str, job_id: str) -> None:
    """Entry point of every module job, and of the collector's own (module ``core``),
    stored by this reference."""
    runtime = current_runtime()
    job = find_job(runtime.modules, module_name, job_id)
    log.info("running %s.%s", module_name, job_id)
    job.func(runtime)


def find_job(modules: Sequence[CollectorModule], module_name: str, job_id: str) -> ScheduledJob:
    for name, jobs in _all_jobs(modules):
        if name != module_name:
            continue
        for job in jobs:
            if job.id == job_id:
                return job
    raise LookupError(f"no scheduled job {module_name}.{job_id}")


def _all_jobs(
    modules: Sequence[CollectorModule],
) -> list[tuple[str, Sequence[ScheduledJob]]]:
    from collector import jobs

    return [(jobs.CORE, jobs.JOBS), *((m.name, m.jobs) for m in modules)]


class Scheduler:
    """The collector's job scheduler; started and stopped with leadership."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.tz = ZoneInfo(runtime.settings.timezone)
        self._grace = runtime.settings.scheduler.misfire_grace_s
        self._lock = threading.Lock()
        self._aps: BackgroundScheduler | None = None
        self._modules_told = True  # set False on each start: tell modules once per start
        self._closed = False  # stopped for good: a late leadership tick must not restart it

    @property
    def running(self) -> bool:
        return self._aps is not None

    def set_leader(self, leader: bool) -> None:
        """Start when this instance became the leader, stop when it lost the lock."""
        if not self._runtime.settings.scheduler.enabled:
            return
        with self._lock:
            if self._closed:
                return
            if leader and self._aps is None:
                self._start()
            elif not leader and self._aps is not None:
                log.warning("lost leadership: stopping the scheduler")
                self._shutdown()
        if leader:
            self._notify_modules()

    def open(self) -> None:
        """Allow starting again after :meth:`stop` (a runtime that is started again)."""
        with self._lock:
            self._closed = False

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            self._shutdown()

    def _start(self) -> None:
        aps = BackgroundScheduler(
            timezone=self.tz,
            jobstores={
                "default": SQLAlchemyJobStore(engine=self._runtime.engine, tablename=JOB_TABLE)
            },
            executors={
                "default": ThreadPoolExecutor(
                    4, pool_kwargs={"initializer": _bind_runtime, "initargs": (self._runtime,)}
                )
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self._grace},
        )
        aps.start()
        self._aps = aps
        for name, jobs in _all_jobs(self._runtime.modules):
            for job in jobs:
                self._add_module_job(name, job)
        log.info("scheduler started (%d jobs)", len(aps.get_jobs()))
        self._modules_told = False

    def _notify_modules(self) -> None:
        if self._modules_told:
            return
        self._modules_told = True
        for module in self._runtime.modules:
            if module.on_scheduler_start is None:
                continue
            try:
                module.on_scheduler_start(self._runtime)
            except Exception:
                log.exception("module %s failed to set up its schedules", module.name)

    def _shutdown(self) -> None:
        if self._aps is not None:
            try:
                self._aps.shutdown(wait=False)
            except Exception:
                log.debug("scheduler shutdown failed", exc_info=True)
            self._aps = None

    def _add_module_job(self, module_name: str, job: ScheduledJob) -> None:
        self.ensure_job(
            f"{module_name}.{job.id}",
            "collector.scheduler:run_module_job",
            trigger=job.trigger,
            trigger_args=job.trigger_args,
            args=(module_name, job.id),
            misfire_grace_s=job.misfire_grace_s,
            name=job.description or job.id,
        )

    def ensure_job(
        self,
        job_id: str,
        func_ref: str,
        *,
        trigger: str,
        trigger_args: Mapping[str, Any],
        args: Sequence[Any] = (),
        misfire_grace_s: int | None = None,
        name: str = "",
    ) -> bool:
        """Add or replace a stored job (``func_ref`` is ``"package.module:function"``).

        Returns False when this instance is not running the scheduler: modules keep their
        own schedules in their tables and (re)create the jobs in ``on_scheduler_start``.
        """
        aps = self._aps
        if aps is None:
            return False
        new_trigger = make_trigger(trigger, trigger_args, self.tz)
        grace = misfire_grace_s or self._grace
        existing = aps.get_job(job_id)
        if (
            existing is not None
            and existing.func_ref == func_ref
            and list(existing.args) == list(args)
            and existing.misfire_grace_time == grace
            and existing.trigger.__getstate__() == new_trigger.__getstate__()
        ):
            # Unchanged: keep the stored job and its next run time. Replacing it would
            # recompute the next run from now and drop a run missed while no collector was up.
            return True
        aps.add_job(
            func_ref,
            trigger=new_trigger,
            args=list(args),
            id=job_id,
            name=name or job_id,
            replace_existing=True,
            misfire_grace_time=grace,
        )
        return True

    def remove_job(self, job_id: str) -> bool:
        aps = self._aps
        if aps is None or aps.get_job(job_id) is None:
            return False
        aps.remove_job(job_id)
        return True

    def next_run(self, job_id: str) -> datetime | None:
        aps = self._aps
        job = aps.get_job(job_id) if aps is not None else None
        return job.next_run_time if job is not None else None

    def job_ids(self, prefix: str = "") -> list[str]:
        aps = self._aps
        if aps is None:
            return []
        return sorted(job.id for job in aps.get_jobs() if job.id.startswith(prefix))

    def run_now(self, module_name: str, job_id: str) -> None:
        """Run a module's job in the caller's thread (operators' "run now", tests)."""
        find_job(self._runtime.modules, module_name, job_id).func(self._runtime)
