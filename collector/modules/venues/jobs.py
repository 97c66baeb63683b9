"""Scheduled jobs of the venues module (run on the leader collector, China time)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from collector.modules.venues import service
from collector.modules.venues.sync import sync_once

if TYPE_CHECKING:
    from collector.runtime import Runtime

log = logging.getLogger(__name__)


def nightly_unknown(runtime: Runtime) -> None:
    """每天凌晨: venue IDs in scans but not in the registry go to 未设置."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        service.find_unknown_venues(session)


def evaluate(runtime: Runtime) -> None:
    """Alerts for the 7 days ending yesterday (the last complete China day)."""
    settings = runtime.settings.venues
    with Session(runtime.engine, expire_on_commit=False) as session:
        as_of = service.china_today() - timedelta(days=1)
        created = service.evaluate_alerts(session, as_of, days=settings.alert_days)
        log.info("venues: %d new alerts for the window ending %s", created, as_of)


def daily_sms(runtime: Runtime) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        service.send_daily_reminders(session, runtime.settings.notify, runtime.settings.venues)


def front_db_sync(runtime: Runtime) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        sync_once(session, runtime.settings.venues)


# Jobs whose timing comes from settings are (re)created on leadership with these references.


def run_daily_sms() -> None:
    from collector.scheduler import current_runtime

    daily_sms(current_runtime())


def run_front_db_sync() -> None:
    from collector.scheduler import current_runtime

    front_db_sync(current_runtime())


def on_scheduler_start(runtime: Runtime) -> None:
    settings = runtime.settings.venues
    runtime.scheduler.ensure_job(
        "venues.daily_sms",
        "collector.modules.venues.jobs:run_daily_sms",
        trigger="cron",
        trigger_args={"hour": settings.sms_hour, "minute": 0},
        name="venues: daily SMS reminder of unreceived alerts",
    )
    if settings.front_db.enabled:
        runtime.scheduler.ensure_job(
            "venues.front_db_sync",
            "collector.modules.venues.jobs:run_front_db_sync",
            trigger="interval",
            trigger_args={"minutes": settings.front_db.interval_minutes},
            name="venues: front database sync",
        )
    else:
        runtime.scheduler.remove_job("venues.front_db_sync")
