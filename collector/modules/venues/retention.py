"""Retention of the personal data in scan records (扫码进场信息).

The person's ID number, name and phone (``person``), their search hashes (``id_number_hash``,
``phone_hash``) and the keyed record hash (computed over all fields, the personal ones
included) are kept for ``retention_days`` whole China days; then the nightly job
:func:`purge_personal_data` nulls them, replaces ``record_hash`` by ``~<id>`` (no personal
content, still unique) and sets ``purged_at``. What statistics and alerts need stays: the
row, its venue, 采集时间, the other fields, and ``venue_scan_days``.

The **cutoff** is the start of the China day ``retention_days`` before today: scans collected
before it lose their personal data. The job walks each centre's scans over the
``(centre_id, collected_at)`` index from the previous run's cutoff (kept as the watermark of
``venue_sync_state`` row ``retention``) in batches of ``batch`` rows, one transaction each,
so ten million rows never hold one long transaction and a crash resumes where it stopped.

Import and sync do not store rows collected before the **boundary**, the later of today's
cutoff and the last purge's cutoff (see :func:`import_boundary`): such rows would be purged
at once, and a purged record has lost the hash that recognises it again, so storing it a
second time would count it twice. Raising ``retention_days`` therefore never reopens days
already purged.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import String, cast, func, literal, null, select, update
from sqlmodel import Session

from collector.auth.audit import audit
from collector.db_types import table_of, utcnow
from collector.modules.venues.importer import CHINA
from collector.modules.venues.models import VenueScan, VenueSyncState
from collector.modules.venues.settings import VenuesSettings

log = logging.getLogger(__name__)

STATE = "retention"
PURGED_PREFIX = "~"  # record_hash of a purged row: "~<id>" (a hex digest never has "~")
PURGE_BATCH = 10_000


def china_today(now: datetime | None = None) -> date:
    return ((now or utcnow()).astimezone(UTC).replace(tzinfo=None) + CHINA).date()


def retention_cutoff(retention_days: int, today: date) -> datetime:
    """Start (aware UTC) of the oldest China day whose scans keep their personal data."""
    day = today - timedelta(days=retention_days)
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - CHINA


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def last_purge_cutoff(session: Session) -> datetime | None:
    state = session.get(VenueSyncState, STATE)
    return _aware(state.watermark) if state is not None else None


def import_boundary(
    session: Session, settings: VenuesSettings, *, today: date | None = None
) -> datetime:
    """Scans collected before this time (aware UTC) are not stored by import or sync."""
    cutoff = retention_cutoff(settings.retention_days, today or china_today())
    purged = last_purge_cutoff(session)
    return max(cutoff, purged) if purged is not None else cutoff


def _centres(session: Session) -> list[str]:
    """The centres that have scans: one index seek each on ``(centre_id, record_hash)``."""
    scans = table_of(VenueScan)
    found: list[str] = []
    while True:
        query = select(func.min(scans.c.centre_id))
        if found:
            query = query.where(scans.c.centre_id > found[-1])
        centre = session.execute(query).scalar()
        if centre is None:
            return found
        found.append(centre)


def purge_personal_data(
    session: Session,
    settings: VenuesSettings,
    *,
    today: date | None = None,
    batch: int = PURGE_BATCH,
) -> int:
    """Null the personal data of the scans collected before the cutoff, in batches of about
    ``batch`` rows (one commit each); move the watermark and write one audit line. Returns
    the number of rows purged."""
    cutoff = retention_cutoff(settings.retention_days, today or china_today())
    since = last_purge_cutoff(session)
    now = utcnow()
    total = 0
    if since is None or since < cutoff:
        for centre_id in _centres(session):
            total += _purge_centre(session, centre_id, since, cutoff, now, batch)
    state = session.get(VenueSyncState, STATE) or VenueSyncState(name=STATE)
    state.watermark = cutoff if since is None else max(since, cutoff)
    state.last_run_at = now
    state.scans = total
    session.add(state)
    audit(
        session,
        actor=None,
        action="venues.purge",
        target_type="venue_scans",
        detail={
            "scans": total,
            "retention_days": settings.retention_days,
            "before": cutoff.isoformat(),
        },
    )
    session.commit()
    log.info(
        "venues: purged the personal data of %d scans collected before %s (%d days kept)",
        total,
        cutoff.isoformat(),
        settings.retention_days,
    )
    return total


def _purge_centre(
    session: Session,
    centre_id: str,
    since: datetime | None,
    cutoff: datetime,
    now: datetime,
    batch: int,
) -> int:
    """Keyset walk over ``(centre_id, collected_at)``: each round finds the collection time
    of the ``batch``-th unpurged row and purges every unpurged row up to it (ties included),
    then starts the next round at that time."""
    scans = table_of(VenueScan)
    purged = 0
    low = since
    while True:
        where = [
            scans.c.centre_id == centre_id,
            scans.c.collected_at < cutoff,
            scans.c.purged_at.is_(None),
        ]
        if low is not None:
            where.append(scans.c.collected_at >= low)
        edge = session.execute(
            select(scans.c.collected_at)
            .where(*where)
            .order_by(scans.c.collected_at)
            .offset(batch - 1)
            .limit(1)
        ).scalar()
        if edge is not None:
            where.append(scans.c.collected_at <= edge)
        result = session.execute(
            update(scans)
            .where(*where)
            .values(
                person=null(),
                id_number_hash=null(),
                phone_hash=null(),
                record_hash=literal(PURGED_PREFIX) + cast(scans.c.id, String),
                purged_at=now,
            )
        )
        purged += int(result.rowcount or 0)  # type: ignore[attr-defined]
        session.commit()
        if edge is None:
            return purged
        low = edge
