"""The visitors module's declaration: routes, pages, event handlers and scheduled jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collector.modules import CollectorModule, ScheduledJob
from collector.modules.visitors import jobs
from collector.modules.visitors.pages import router as page_router
from collector.modules.visitors.routes import router as api_router

if TYPE_CHECKING:
    from collector.runtime import Runtime


def setup(runtime: Runtime) -> None:
    from collector.modules.visitors.handler import EVENT_TYPE, handle_passage

    runtime.event_bus.subscribe(EVENT_TYPE, handle_passage)


MODULE = CollectorModule(
    name="visitors",
    title=("来访登记", "Visitors"),
    api_router=api_router,
    page_router=page_router,
    setup=setup,
    jobs=(
        ScheduledJob(
            id="purge_personal_data",
            func=jobs.run_purge,
            trigger="cron",
            trigger_args={"hour": 3, "minute": 20},
            description="purge personal data of visits past visitors.retention_days",
        ),
    ),
    on_scheduler_start=jobs.schedule_closing,
)
