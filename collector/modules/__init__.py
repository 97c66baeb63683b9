"""Business modules of the collector: one folder per module, like integrations.

Each ``collector/modules/<name>/module.py`` defines ``MODULE``, a :class:`CollectorModule`
saying what the module adds: API routes (under ``/api/v1``), console pages (at ``/``), a
``setup`` hook called once when the runtime starts (subscribe to the event bus, push desired
config) and scheduled jobs. :mod:`collector.modules.registry` lists the enabled modules.

Modules talk to each other only through the event bus and each other's public functions
(``service.py``), never each other's tables (``tests/test_boundaries.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from fastapi import APIRouter

    from collector.runtime import Runtime

JobFunc = Callable[["Runtime"], None]
"""A scheduled job: a module-level function taking the running collector."""


@dataclass(frozen=True)
class ScheduledJob:
    """A recurring job of a module, run by the collector that holds the leader lock.

    ``trigger`` and ``trigger_args`` are APScheduler 3.x trigger arguments (``"cron"`` with
    ``hour=3, minute=10``; ``"interval"`` with ``minutes=5``); the time zone is always the
    collector's ``timezone`` setting.
    """

    id: str
    func: JobFunc
    trigger: Literal["cron", "interval"]
    trigger_args: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    misfire_grace_s: int = 3600
    """How late a run may still start (after a restart or a busy spell); later runs are skipped."""


@dataclass(frozen=True)
class CollectorModule:
    name: str
    title: tuple[str, str] = ("", "")
    """(Chinese, English) name, for logs and the console."""
    api_router: APIRouter | None = None
    page_router: APIRouter | None = None
    setup: Callable[[Runtime], None] | None = None
    """Called once when the runtime starts, before ingest: subscribe to the event bus here."""
    jobs: tuple[ScheduledJob, ...] = ()
    on_scheduler_start: Callable[[Runtime], None] | None = None
    """Called when this collector starts running the scheduler (it became the leader): a
    module with schedules of its own (kept in its tables) (re)creates their jobs here with
    ``runtime.scheduler.ensure_job``."""
