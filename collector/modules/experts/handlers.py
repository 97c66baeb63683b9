"""Event-bus handlers: gate admissions (access log, sign-in, refused-attempt alerts),
uploaded recording segments and recorder states.

They run inside the ingest transaction of a newly stored event, so their effects happen once;
they never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from collector.ingest.models import StoredEvent
from collector.modules.experts.models import (
    AccessRecord,
    ExpertAlert,
    ExpertSession,
    RecorderState,
    Recording,
    RosterEntry,
    SignIn,
    SyncRecord,
)
from collector.modules.experts.service import gate_key, parse_ref
from collector.modules.experts.settings import ExpertsSettings
from contract.payloads.access import Admission, card_hash
from contract.payloads.agent import FileUploaded
from contract.payloads.entrance import person_hash
from contract.payloads.recorder import RecorderStatus

Handler = Callable[[Session, StoredEvent], None]


def make_admission_handler(settings: ExpertsSettings, secret_key: str) -> Handler:
    def handle(session: Session, event: StoredEvent) -> None:
        record_admission(session, event, settings, secret_key)

    return handle


def _match(
    session: Session, row: ExpertSession, admission: Admission, key: bytes
) -> RosterEntry | None:
    for entry in session.exec(select(RosterEntry).where(RosterEntry.session_id == row.id)):
        by_id = bool(admission.person_hash and entry.id_number)
        if by_id and person_hash(key, entry.id_number or "") == admission.person_hash:
            return entry
        by_card = bool(admission.card_hash and entry.card_uid)
        if by_card and card_hash(key, entry.card_uid or "") == admission.card_hash:
            return entry
    return None


def record_admission(
    session: Session, event: StoredEvent, settings: ExpertsSettings, secret_key: str
) -> AccessRecord | None:
    """Store one attempt; the first admission of a roster entry for a session signs it in."""
    admission = Admission.model_validate(event.payload)
    seen = session.exec(
        select(AccessRecord).where(AccessRecord.attempt_id == admission.attempt_id)
    ).first()
    if seen is not None:
        return None
    sid = parse_ref(admission.session_id)
    row = session.get(ExpertSession, sid) if sid is not None else None
    if row is not None and row.centre_id != event.centre_id:
        row = None
    entry = _match(session, row, admission, gate_key(secret_key, event.centre_id)) if row else None
    record = AccessRecord(
        centre_id=event.centre_id,
        attempt_id=admission.attempt_id,
        event_id=event.id,
        gate=admission.gate or event.device_id,
        at=admission.at,
        credential=admission.credential,
        person_hash=admission.person_hash,
        card_hash=admission.card_hash,
        label=admission.label,
        decision=admission.decision,
        reason=admission.reason,
        gate_session=admission.session_id,
        session_id=row.id if row else None,
        room=admission.room,
        roster_entry_id=entry.id if entry else None,
        gate_opened=admission.gate_opened,
        roster_version=admission.roster_version,
    )
    session.add(record)
    session.flush()
    syncing = bool(settings.sync_url)
    if syncing:
        session.add(
            SyncRecord(
                centre_id=event.centre_id,
                kind="admission",
                record_id=record.id or 0,
                idempotency_key=f"admission:{admission.attempt_id}",
            )
        )
    if admission.decision == "admitted" and row is not None and entry is not None:
        signed = session.exec(
            select(SignIn).where(SignIn.session_id == row.id, SignIn.roster_entry_id == entry.id)
        ).first()
        if signed is None:
            signin = SignIn(
                centre_id=event.centre_id,
                session_id=row.id or 0,
                roster_entry_id=entry.id or 0,
                access_id=record.id,
                gate=record.gate,
                signed_at=admission.at,
            )
            session.add(signin)
            session.flush()
            if syncing:
                session.add(
                    SyncRecord(
                        centre_id=event.centre_id,
                        kind="signin",
                        record_id=signin.id or 0,
                        idempotency_key=f"signin:{row.id}:{entry.id}",
                    )
                )
    elif admission.decision == "refused":
        _refusals(session, record, settings)
    return record


def _refusals(session: Session, record: AccessRecord, settings: ExpertsSettings) -> None:
    """The N-th refused attempt of one person at one gate within the window raises an alert."""
    who = record.person_hash or record.card_hash
    if not who:
        return
    column = AccessRecord.person_hash if record.person_hash else AccessRecord.card_hash
    since = record.at - timedelta(minutes=settings.refused_alert_window_minutes)
    count = session.exec(
        select(func.count()).where(
            AccessRecord.gate == record.gate,
            AccessRecord.decision == "refused",
            column == who,
            col(AccessRecord.at) >= since,
            col(AccessRecord.at) <= record.at,
        )
    ).one()
    if int(count) != settings.refused_alert_count:
        return
    session.add(
        ExpertAlert(
            centre_id=record.centre_id,
            kind="refused_attempts",
            dedup_key=f"refused:{record.attempt_id}",
            gate=record.gate,
            message=(
                f"门禁 {record.gate}：{record.label or '未识别人员'} "
                f"{settings.refused_alert_window_minutes} 分钟内被拒 {count} 次"
                f"（{record.reason or 'refused'}）"
            ),
        )
    )


def handle_file_uploaded(session: Session, event: StoredEvent) -> None:
    """Link an uploaded recording segment (``meta.session_id``) to its session."""
    payload = FileUploaded.model_validate(event.payload)
    if payload.kind != "recording":
        return
    file_id = str(payload.file_id)
    if session.exec(select(Recording).where(Recording.file_id == file_id)).first() is not None:
        return
    meta = payload.meta
    ref = str(meta.get("session_id") or "")
    sid = parse_ref(ref)
    row = session.get(ExpertSession, sid) if sid is not None else None
    if row is not None and row.centre_id != event.centre_id:
        row = None
    started = meta.get("started_at")
    started_at = None
    if isinstance(started, str):
        try:
            started_at = datetime.fromisoformat(started)
        except ValueError:
            started_at = None
    duration = meta.get("duration_s")
    index = meta.get("index")
    session.add(
        Recording(
            centre_id=event.centre_id,
            session_id=row.id if row else None,
            gate_session=ref[:64],
            device_id=event.device_id,
            file_id=file_id,
            name=payload.name,
            size=payload.size,
            content_type=payload.content_type,
            started_at=started_at if started_at and started_at.tzinfo else None,
            duration_s=float(duration) if isinstance(duration, int | float) else None,
            index=int(index) if isinstance(index, int) else None,
        )
    )


def handle_recorder_state(session: Session, event: StoredEvent) -> None:
    """Keep the last state of each room terminal's recorder."""
    status = RecorderStatus.model_validate(event.payload)
    row = session.get(RecorderState, event.device_id)
    if row is not None and row.changed_at > event.ts:
        return  # an older state delivered late
    row = row or RecorderState(
        device_id=event.device_id, centre_id=event.centre_id, state="idle", changed_at=event.ts
    )
    row.centre_id = event.centre_id
    row.state, row.gate_session = status.state, status.session_id
    row.reason, row.error, row.changed_at = status.reason, status.error, event.ts
    session.add(row)
