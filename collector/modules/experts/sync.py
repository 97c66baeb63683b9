"""Outbound sync to the provincial expert database (省综合专家库).

Admissions and sign-ins are queued in ``experts_sync_outbox`` in the same transaction that
stores them (only while ``experts.sync_url`` is set). :func:`deliver_due` (a job every
minute) POSTs each due record as JSON with an ``Idempotency-Key`` header; a record is marked
delivered only after a 2xx answer, otherwise it is tried again after
``sync_backoff_base_s · 2^(attempts-1)`` seconds (at most ``sync_backoff_max_s``). Field
names are renamed by ``sync_field_map`` (ours → theirs).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import Session, col, select

from collector.db_types import utcnow
from collector.modules.experts.models import (
    AccessRecord,
    ExpertSession,
    Project,
    RosterEntry,
    SignIn,
    SyncRecord,
)
from collector.modules.experts.settings import ExpertsSettings

log = logging.getLogger(__name__)


def _person(entry: RosterEntry | None) -> dict[str, Any]:
    if entry is None:
        return {"name": None, "id_number": None, "phone": None, "specialty": None, "role": None}
    return {
        "name": entry.name,
        "id_number": entry.id_number,
        "phone": entry.phone,
        "specialty": entry.specialty,
        "role": entry.role if entry.kind == "expert" else entry.kind,
    }


def _session_fields(session: Session, session_id: int | None) -> dict[str, Any]:
    row = session.get(ExpertSession, session_id) if session_id is not None else None
    project = session.get(Project, row.project_id) if row is not None else None
    return {
        "project_number": project.number if project else None,
        "project_name": project.name if project else None,
        "session_key": row.key if row else None,
        "planned_start": row.planned_start.isoformat() if row else None,
    }


def build_record(session: Session, record: SyncRecord) -> dict[str, Any] | None:
    """The record in our field names, or None when its source row is gone."""
    base: dict[str, Any] = {
        "record_type": record.kind,
        "idempotency_key": record.idempotency_key,
        "centre_id": record.centre_id,
    }
    if record.kind == "admission":
        access = session.get(AccessRecord, record.record_id)
        if access is None:
            return None
        entry = session.get(RosterEntry, access.roster_entry_id) if access.roster_entry_id else None
        return {
            **base,
            **_session_fields(session, access.session_id),
            **_person(entry),
            "gate": access.gate,
            "at": access.at.isoformat(),
            "credential": access.credential,
            "decision": access.decision,
            "reason": access.reason,
            "label": access.label,
        }
    signin = session.get(SignIn, record.record_id)
    if signin is None:
        return None
    entry = session.get(RosterEntry, signin.roster_entry_id)
    return {
        **base,
        **_session_fields(session, signin.session_id),
        **_person(entry),
        "gate": signin.gate,
        "at": signin.signed_at.isoformat(),
    }


def map_fields(record: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    return {mapping.get(k, k): v for k, v in record.items()}


def backoff(settings: ExpertsSettings, attempts: int) -> timedelta:
    seconds = settings.sync_backoff_base_s * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.sync_backoff_max_s))


def deliver_due(
    session: Session,
    settings: ExpertsSettings,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
) -> tuple[int, int]:
    """Try every due record once; commits each outcome. Returns (delivered, failed)."""
    if not settings.sync_url:
        return 0, 0
    now = now or utcnow()
    due = list(
        session.exec(
            select(SyncRecord)
            .where(col(SyncRecord.delivered_at).is_(None), col(SyncRecord.next_attempt_at) <= now)
            .order_by(col(SyncRecord.id))
            .limit(settings.sync_batch)
        )
    )
    if not due:
        return 0, 0
    headers = {"Content-Type": "application/json"}
    if settings.sync_token:
        headers["Authorization"] = f"Bearer {settings.sync_token}"
    own = client is None
    http = client or httpx.Client(timeout=settings.sync_timeout_s)
    delivered = failed = 0
    try:
        for record in due:
            body = build_record(session, record)
            record.attempts += 1
            if body is None:
                record.delivered_at, record.last_error = now, "source row gone: skipped"
                session.add(record)
                session.commit()
                continue
            try:
                answer = http.post(
                    settings.sync_url,
                    json=map_fields(body, settings.sync_field_map),
                    headers={**headers, "Idempotency-Key": record.idempotency_key},
                )
                record.last_status = answer.status_code
                ok = 200 <= answer.status_code < 300
                record.last_error = "" if ok else answer.text[:500]
            except httpx.HTTPError as exc:
                ok, record.last_status, record.last_error = False, None, str(exc)[:500]
            if ok:
                record.delivered_at = now
                delivered += 1
            else:
                record.next_attempt_at = now + backoff(settings, record.attempts)
                failed += 1
            session.add(record)
            session.commit()
    finally:
        if own:
            http.close()
    if failed:
        log.warning("provincial sync: %d delivered, %d failed", delivered, failed)
    return delivered, failed


def outbox_counts(session: Session, centre_ids: list[str]) -> dict[str, int]:
    if not centre_ids:
        return {"pending": 0, "delivered": 0, "failing": 0}
    base = select(func.count()).where(col(SyncRecord.centre_id).in_(centre_ids))
    pending = col(SyncRecord.delivered_at).is_(None)
    return {
        "pending": int(session.exec(base.where(pending)).one()),
        "delivered": int(session.exec(base.where(col(SyncRecord.delivered_at).is_not(None))).one()),
        "failing": int(session.exec(base.where(pending, col(SyncRecord.attempts) > 0)).one()),
    }
