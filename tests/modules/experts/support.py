"""Helpers of the experts tests: rows in another county for the route walks, admissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.files.models import StoredFile, UploadState
from collector.ingest.models import StoredEvent
from collector.modules.experts.handlers import (
    handle_file_uploaded,
    handle_recorder_state,
    record_admission,
)
from collector.modules.experts.models import (
    ExpertAlert,
    ExpertSession,
    Project,
    Recording,
    Room,
    RosterEntry,
)
from collector.modules.experts.settings import ExpertsSettings
from collector.security.personal_data import (
    PersonalDataNotConfigured,
    configure_personal_data,
    personal_data_cipher,
)
from contract.ids import uuid7

SECRET = "experts-test-secret-0123456789abcdef"
OTHER_ID_NUMBER = "440106199003071234"  # only on county c3's roster


def ensure_cipher() -> None:
    """The API test runtime does not configure personal data; the roster needs it."""
    try:
        personal_data_cipher()
    except PersonalDataNotConfigured:
        configure_personal_data(SECRET)


def other_county_experts(engine: Engine, centre_id: str = "c3") -> dict[str, str]:
    """A room behind gate dB, a project with a session, a roster entry, a recording and an
    alert in ``centre_id``; their ids for path parameters."""
    ensure_cipher()
    start = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    with Session(engine, expire_on_commit=False) as session:
        room = Room(centre_id=centre_id, code="乙评1", name="乙县评标室", gates=["dB"])
        project = Project(centre_id=centre_id, number="YX-EXP-1", name="乙县评标项目")
        session.add_all([room, project])
        session.flush()
        row = ExpertSession(
            centre_id=centre_id,
            project_id=project.id or 0,
            rooms=[room.id or 0],
            planned_start=start,
            planned_end=start + timedelta(hours=3),
        )
        session.add(row)
        session.flush()
        entry = RosterEntry(
            centre_id=centre_id, session_id=row.id or 0, name="李四", id_number=OTHER_ID_NUMBER
        )
        file = StoredFile(
            id=str(uuid7()),
            name="rec.mp4",
            size=0,
            sha256="0" * 64,
            store_key="files/exp-rec",
            state=UploadState.COMPLETE,
            centre_id=centre_id,
            content_type="video/mp4",
        )
        session.add_all([entry, file])
        session.flush()
        recording = Recording(
            centre_id=centre_id, session_id=row.id, file_id=file.id, device_id="dB"
        )
        alert = ExpertAlert(
            centre_id=centre_id,
            kind="absence",
            dedup_key=f"test:{uuid7()}",
            session_id=row.id,
            message="乙县缺席",
        )
        session.add_all([recording, alert])
        session.commit()
        return {
            "experts_session_id": str(row.id),
            "experts_entry_id": str(entry.id),
            "experts_recording_id": str(recording.id),
            "experts_alert_id": str(alert.id),
        }


def event(
    type_: str, payload: dict[str, Any], centre: str, device: str, ts: datetime, seq: int = 1
) -> StoredEvent:
    return StoredEvent(
        id=str(uuid7()),
        centre_id=centre,
        device_id=device,
        type=type_,
        seq=seq,
        ts=ts,
        payload=payload,
    )


def admission(
    *,
    at: datetime,
    gate: str,
    session_id: str | None,
    person_hash: str = "",
    card_hash: str = "",
    decision: str = "admitted",
    reason: str | None = None,
    room: str | None = None,
    label: str = "张*",
) -> dict[str, Any]:
    return {
        "attempt_id": f"att-{uuid7()}",
        "gate": gate,
        "at": at.isoformat(),
        "credential": "id_card" if person_hash else "ic_card",
        "person_hash": person_hash,
        "card_hash": card_hash,
        "label": label,
        "decision": decision,
        "reason": reason,
        "session_id": session_id,
        "room": room,
        "roster_version": 1,
        "gate_opened": decision == "admitted",
    }


def feed_admissions(
    engine: Engine,
    centre: str,
    settings: ExpertsSettings,
    secret_key: str,
    *payloads: dict[str, Any],
    device: str = "d2",
) -> None:
    """Store admissions as new events and run the handler in the same transaction."""
    with Session(engine) as session:
        for n, payload in enumerate(payloads, start=1):
            stored = event(
                "access.admission",
                payload,
                centre,
                device,
                datetime.fromisoformat(payload["at"]),
                n,
            )
            session.add(stored)
            session.flush()
            record_admission(session, stored, settings, secret_key)
        session.commit()


def feed_event(
    engine: Engine, type_: str, payload: dict[str, Any], centre: str, device: str, ts: datetime
) -> None:
    handler = {
        "agent.file_uploaded": handle_file_uploaded,
        "recorder.state": handle_recorder_state,
    }[type_]
    with Session(engine) as session:
        stored = event(type_, payload, centre, device, ts)
        session.add(stored)
        session.flush()
        handler(session, stored)
        session.commit()
