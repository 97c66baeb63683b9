"""The venues module's declaration: routes, pages and scheduled jobs."""

from __future__ import annotations

from collector.modules import CollectorModule, ScheduledJob
from collector.modules.venues import jobs, pages, routes

MODULE = CollectorModule(
    name="venues",
    title=("场所码监管", "Venue scan codes"),
    api_router=routes.router,
    page_router=pages.router,
    jobs=(
        ScheduledJob(
            id="unknown_venues",
            func=jobs.nightly_unknown,
            trigger="cron",
            trigger_args={"hour": 2, "minute": 30},
            description="venues: venue IDs found in scans only (未设置)",
        ),
        ScheduledJob(
            id="evaluate_alerts",
            func=jobs.evaluate,
            trigger="cron",
            trigger_args={"hour": 3, "minute": 0},
            description="venues: 7-day threshold alerts (the days each centre has data for)",
        ),
        ScheduledJob(
            id="purge_personal_data",
            func=jobs.purge,
            trigger="cron",
            trigger_args={"hour": 3, "minute": 40},
            description="venues: purge personal data of scans past venues.retention_days",
        ),
    ),
    on_scheduler_start=jobs.on_scheduler_start,
)
