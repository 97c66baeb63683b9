"""The experts module's declaration: routes, pages, event handlers and scheduled jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collector.modules import CollectorModule, ScheduledJob
from collector.modules.experts import jobs
from collector.modules.experts.pages import router as page_router
from collector.modules.experts.routes import router as api_router

if TYPE_CHECKING:
    from collector.runtime import Runtime


def setup(runtime: Runtime) -> None:
    from collector.modules.experts import handlers

    settings = runtime.settings
    bus = runtime.event_bus
    bus.subscribe(
        "access.admission",
        handlers.make_admission_handler(settings.experts, settings.secret_key),
    )
    bus.subscribe("agent.file_uploaded", handlers.handle_file_uploaded)
    bus.subscribe("recorder.state", handlers.handle_recorder_state)


MODULE = CollectorModule(
    name="experts",
    title=("专家管理", "Experts and sessions"),
    api_router=api_router,
    page_router=page_router,
    setup=setup,
    jobs=(
        ScheduledJob(
            id="push_rosters",
            func=jobs.push_rosters,
            trigger="interval",
            trigger_args={"minutes": 10},
            description="re-push gate rosters and recording schedules that changed",
            misfire_grace_s=600,
        ),
        ScheduledJob(
            id="check_alerts",
            func=jobs.check_alerts,
            trigger="interval",
            trigger_args={"minutes": 1},
            description="absence before the start, rooms under way without recording",
            misfire_grace_s=120,
        ),
        ScheduledJob(
            id="deliver_sync",
            func=jobs.deliver_sync,
            trigger="interval",
            trigger_args={"minutes": 1},
            description="deliver admissions and sign-ins to the provincial expert database",
            misfire_grace_s=120,
        ),
        ScheduledJob(
            id="purge_personal_data",
            func=jobs.purge_personal_data,
            trigger="cron",
            trigger_args={"hour": 3, "minute": 40},
            description="purge roster personal data past experts.retention_days",
        ),
    ),
)
