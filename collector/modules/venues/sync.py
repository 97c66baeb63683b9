"""前置库 sync: venues and scan records from the front database the provincial platform
shares into (any SQLAlchemy URL), incremental by collection time.

Each run reads the venue table (upserting 公共场所ID, name, category, … but never the unit
or the thresholds, which stay local) and the scans whose collection time is at or after the
watermark (``>=``: records that arrive late with the same second are read again and fall
away on the record hash), in batches, and moves the watermark to the newest time read.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, select
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from collector.db_types import utcnow
from collector.modules.venues.alerts import evaluate_after_change, reopen_days
from collector.modules.venues.importer import (
    CHINA,
    ScanRecord,
    insert_records,
    parse_local_time,
)
from collector.modules.venues.models import Venue, VenueSyncState
from collector.modules.venues.retention import import_boundary
from collector.modules.venues.settings import FrontDbSettings, VenuesSettings

log = logging.getLogger(__name__)
STATE = "front_db"
VENUE_FIELDS = ("code", "name", "category", "city", "street", "admin", "location")


def _state(session: Session) -> VenueSyncState:
    state = session.get(VenueSyncState, STATE)
    return state or VenueSyncState(name=STATE)


def sync_state(session: Session) -> VenueSyncState | None:
    return session.get(VenueSyncState, STATE)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def sync_once(session: Session, settings: VenuesSettings) -> tuple[int, int]:
    """One run, one transaction; commits. Returns (venues upserted, scans inserted), both
    0 after a failed run (everything it read was rolled back). New scans reopen their days
    for the alerts, which are judged right after."""
    cfg: FrontDbSettings = settings.front_db
    if not (cfg.enabled and cfg.url and cfg.centre_id):
        return 0, 0
    state = _state(session)
    engine = create_engine(cfg.url)
    venues_done = scans_done = 0
    days: set[date] = set()
    try:
        with engine.connect() as front:
            if cfg.venue_table:
                venues_done = _sync_venues(session, front, cfg, settings.default_city)
            if cfg.scan_table:
                keep_from = import_boundary(session, settings)
                scans_done, days = _sync_scans(session, front, cfg, state, keep_from)
        reopen_days(session, cfg.centre_id, days)
        state.last_error = ""
    except Exception as exc:
        session.rollback()
        venues_done = scans_done = 0  # rolled back: nothing of this run is stored
        state = _state(session)
        state.last_error = str(exc)[:500]
        log.exception("venues: front database sync failed")
    finally:
        engine.dispose()
    state.last_run_at = utcnow()
    state.venues += venues_done
    state.scans += scans_done
    session.add(state)
    session.commit()
    if scans_done:
        evaluate_after_change(session, settings, cfg.centre_id)
    return venues_done, scans_done


def _sync_venues(session: Session, front: Any, cfg: FrontDbSettings, city: str) -> int:
    table = Table(cfg.venue_table, MetaData(), autoload_with=front)
    mapping = {k: v for k, v in cfg.venue_columns.items() if k in VENUE_FIELDS}
    existing = {
        v.code: v
        for v in session.exec(sm_select(Venue).where(col(Venue.centre_id) == cfg.centre_id))
    }
    count = 0
    for row in front.execute(select(*(table.c[c] for c in mapping.values()))).mappings():
        values = {k: _text(row[c]) for k, c in mapping.items()}
        code = values.get("code")
        if not code:
            continue
        venue = existing.get(code) or Venue(centre_id=cfg.centre_id, code=code, source="sync")
        for key, value in values.items():
            setattr(venue, key, value)
        venue.city = venue.city or city
        venue.discovered = False
        venue.updated_at = utcnow()
        session.add(venue)
        existing[code] = venue
        count += 1
    session.flush()
    return count


def _sync_scans(
    session: Session,
    front: Any,
    cfg: FrontDbSettings,
    state: VenueSyncState,
    keep_from: datetime,
) -> tuple[int, set[date]]:
    """Scans at or after the watermark, but none collected before ``keep_from`` (the
    retention boundary: their personal data would be purged at once). Returns how many
    were inserted and the days of the batches that inserted any."""
    table = Table(cfg.scan_table, MetaData(), autoload_with=front)
    mapping = dict(cfg.scan_columns)
    time_column = table.c[mapping["collected_at"]]
    query = select(*(table.c[c].label(k) for k, c in mapping.items())).order_by(time_column)
    since = state.watermark
    if since is None or since.astimezone(UTC) < keep_from:
        since = keep_from
    local = since.astimezone(UTC).replace(tzinfo=None) + CHINA
    # Text columns compare as text: ISO 'YYYY-MM-DD HH:MM:SS' sorts like the time.
    is_text = time_column.type.python_type is str if _has_python_type(time_column) else False
    query = query.where(time_column >= (local.strftime("%Y-%m-%d %H:%M:%S") if is_text else local))
    inserted = 0
    days: set[date] = set()
    newest = state.watermark
    result = front.execution_options(stream_results=True).execute(query).mappings()
    while True:
        chunk = result.fetchmany(cfg.batch_size)
        if not chunk:
            break
        records = []
        for row in chunk:
            local_time = parse_local_time(row["collected_at"])
            if local_time is None or not _text(row.get("venue_code")):
                continue
            values = {k: _text(row.get(k)) for k in mapping if k != "collected_at"}
            records.append(ScanRecord(collected_at=local_time, **values))
            utc = (local_time - CHINA).replace(tzinfo=UTC)
            if newest is None or utc > newest:
                newest = utc
        stored = insert_records(
            session,
            records,
            centre_id=cfg.centre_id,
            actor="前置库",
            source="sync",
            keep_from=keep_from,
        )
        inserted += stored.inserted
        if stored.inserted:
            days |= stored.days
    state.watermark = newest
    return inserted, days


def _has_python_type(column: Any) -> bool:
    try:
        column.type.python_type  # noqa: B018
    except NotImplementedError:
        return False
    return True


__all__ = ["datetime", "sync_once", "sync_state"]
