"""Scheduled jobs of the collector itself, beside the business modules' own.

They run like module jobs (on the leader, stored by reference) under the name ``core``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from collector.auth.audit import audit
from collector.auth.sessions import purge_expired_sessions
from collector.files.service import expire_abandoned
from collector.modules import ScheduledJob
from collector.security.personal_data import personal_data_cipher
from collector.security.rotation import rotate

if TYPE_CHECKING:
    from collector.runtime import Runtime

log = logging.getLogger(__name__)

CORE = "core"


def purge_sessions(runtime: Runtime) -> None:
    """Console sessions past their idle or absolute limit."""
    with Session(runtime.engine) as session:
        n = purge_expired_sessions(session, policy=runtime.settings.auth)
    if n:
        log.info("deleted %d expired console sessions", n)


def expire_uploads(runtime: Runtime) -> None:
    """Uploads abandoned half-way: free their partial bytes."""
    idle = timedelta(days=runtime.settings.files.abandon_after_days)
    with Session(runtime.engine) as session:
        expired = expire_abandoned(session, runtime.file_store, idle=idle)
        if expired:
            audit(
                session,
                actor=None,
                action="files.expire_uploads",
                target_type="file",
                detail={"files": expired[:100], "count": len(expired), "idle_days": idle.days},
            )
            session.commit()
    if expired:
        log.info("marked %d abandoned uploads failed and deleted their bytes", len(expired))


def reencrypt_personal_data(runtime: Runtime) -> None:
    """After a key rotation: re-encrypt values under old keys, then retire those keys. Does
    nothing (one small query) when no rotation is under way."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        rotate(
            session,
            personal_data_cipher(),
            batch=runtime.settings.personal_data.rotate_batch,
            # a collector that stops (or loses the leader lock) ends the pass under way
            stop=lambda: not runtime.scheduler.running,
        )


JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        id="purge_sessions",
        func=purge_sessions,
        trigger="interval",
        trigger_args={"hours": 1},
        description="delete expired console sessions",
    ),
    ScheduledJob(
        id="expire_uploads",
        func=expire_uploads,
        trigger="cron",
        trigger_args={"hour": 4, "minute": 30},
        description="fail uploads abandoned half-way and delete their bytes",
    ),
    ScheduledJob(
        id="reencrypt_personal_data",
        func=reencrypt_personal_data,
        trigger="interval",
        trigger_args={"minutes": 10},
        description="re-encrypt personal data under the current key after a rotation",
        misfire_grace_s=600,
    ),
)
