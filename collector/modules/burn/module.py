"""The burn module's declaration: routes, pages, event handlers and scheduled jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session

from collector.modules import CollectorModule, ScheduledJob
from collector.modules.burn import events, recording_check, schedules, service
from collector.modules.burn.pages import router as page_router
from collector.modules.burn.routes import router as api_router

if TYPE_CHECKING:
    from collector.runtime import Runtime


SEND_WAITING_S = 10
"""How soon a waiting job goes out after a station's job ended (its reports are events; the
collector sends commands from the scheduler, not from inside the ingest transaction)."""


def setup(runtime: Runtime) -> None:
    """Subscribe to what burn stations report."""
    settings = runtime.settings.burn
    bus = runtime.event_bus
    bus.subscribe("burn.job_state", events.on_job_state)
    bus.subscribe("burn.disc", events.make_disc_handler(settings))
    bus.subscribe("burn.drive_state", events.on_drive_state)
    bus.subscribe("burn.disc_check", events.make_check_handler(settings))


def send_waiting(runtime: Runtime) -> None:
    """Every few seconds on the leader: jobs a busy station refused wait again, and waiting
    jobs go out as stations get a free slot (a job finished) or come into being."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        service.requeue_busy(session)
        service.dispatch_waiting(session, runtime.publisher, runtime.settings.burn)


def tend(runtime: Runtime) -> None:
    """Every minute on the leader: fail jobs whose command ended unanswered, bring schedules
    edited on another collector into the scheduler."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        service.fail_unanswered(session)
        schedules.reconcile(runtime, session)


MODULE = CollectorModule(
    name="burn",
    title=("自动刻录", "Burn station"),
    api_router=api_router,
    page_router=page_router,
    setup=setup,
    jobs=(
        ScheduledJob(
            id="send_waiting",
            func=send_waiting,
            trigger="interval",
            trigger_args={"seconds": SEND_WAITING_S},
            description="send waiting jobs to stations with a free slot, requeue busy ones",
            misfire_grace_s=SEND_WAITING_S,
        ),
        ScheduledJob(
            id="tend",
            func=tend,
            trigger="interval",
            trigger_args={"minutes": 1},
            description="follow unanswered commands, sync schedules",
            misfire_grace_s=60,
        ),
        ScheduledJob(
            id="check_recordings",
            func=recording_check.run_pending,
            trigger="interval",
            trigger_args={"minutes": 5},
            description="decode-check newly uploaded project recordings",
            misfire_grace_s=300,
        ),
    ),
    on_scheduler_start=schedules.on_scheduler_start,
)
