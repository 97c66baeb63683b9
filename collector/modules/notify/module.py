"""The notify module's declaration: routes, pages and scheduled jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session

from collector.modules import CollectorModule, ScheduledJob
from collector.modules.notify import pages, routes, service

if TYPE_CHECKING:
    from collector.runtime import Runtime


def retry_job(runtime: Runtime) -> None:
    """Try pending messages whose backoff has elapsed."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        service.retry_due(session, runtime.settings.notify)


MODULE = CollectorModule(
    name="notify",
    title=("短信通知", "Notifications"),
    api_router=routes.router,
    page_router=pages.router,
    jobs=(
        ScheduledJob(
            id="retry",
            func=retry_job,
            trigger="interval",
            trigger_args={"minutes": 1},
            description="retry SMS whose backoff elapsed",
            misfire_grace_s=60,
        ),
    ),
)
