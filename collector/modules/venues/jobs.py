"""Scheduled jobs of the venues module (run on the leader collector, China time)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlmodel import Session

from collector.modules.venues import retention, service
from collector.modules.venues.sync import sync_once

if TYPE_CHECKING:
    from collector.runtime import Runtime

log = logging.getLogger(__name__)


def nightly_unknown(runtime: Runtime) -> None:
    """每天凌晨: venue IDs in scans but not in the registry go to 未设置."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        service.find_unknown_venues(session)


def evaluate(runtime: Runtime) -> None:
    """Alerts, per centre, for the days after its mark up to yesterday whose 7 days are all
    imported (normally yesterday; after downtime or a late import, each such day, within the
    look-back); see ``alerts.py``."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        created = service.evaluate_pending(session, runtime.settings.venues)
    for day, n in created.items():
        log.info("venues: %d new alerts for the window ending %s", n, day)


def purge(runtime: Runtime) -> None:
    """Personal data of scans past ``retention_days`` (batched, audited)."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        retention.purge_personal_data(session, runtime.settings.venues)


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
