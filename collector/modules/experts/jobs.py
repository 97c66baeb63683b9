"""Scheduled work: re-push rosters and recording schedules, raise absence and no-recording
alerts, deliver the provincial sync outbox."""

from __future__ import annotations

import importlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from collector.db_types import utcnow
from collector.modules.experts import service, sync
from collector.modules.experts.models import (
    ExpertAlert,
    ExpertSession,
    Project,
    RecorderState,
    Room,
)
from collector.security.personal_data import PiiKind, mask

if TYPE_CHECKING:
    from collector.runtime import Runtime

log = logging.getLogger(__name__)


def push_rosters(runtime: Runtime) -> None:
    settings = runtime.settings
    with Session(runtime.engine, expire_on_commit=False) as session:
        for centre_id in service.centres_with_rooms(session):
            service.push_centre(
                session, runtime.publisher, settings.experts, settings.secret_key, centre_id
            )


def check_alerts(runtime: Runtime) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        raise_alerts(session, runtime.settings)


def deliver_sync(runtime: Runtime) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        sync.deliver_due(session, runtime.settings.experts)


def purge_personal_data(runtime: Runtime) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        n = service.purge_personal_data(session, runtime.settings.experts.retention_days)
        if n:
            log.info("purged the personal data of %d roster entries", n)


def _add_alert(session: Session, alert: ExpertAlert) -> bool:
    exists = session.exec(
        select(ExpertAlert).where(ExpertAlert.dedup_key == alert.dedup_key)
    ).first()
    if exists is not None:
        return False
    session.add(alert)
    try:
        session.commit()
    except IntegrityError:  # raised by another collector a moment ago
        session.rollback()
        return False
    return True


def _send_sms(
    session: Session, settings: Any, phone: str, text: str, key: str, centre: str
) -> bool:
    """SMS through the notify module when it offers ``send_sms``."""
    try:
        notify = importlib.import_module("collector.modules.notify.service")
    except ImportError:
        return False
    send = getattr(notify, "send_sms", None)
    notify_settings = getattr(settings, "notify", None)
    if send is None or notify_settings is None:
        return False
    try:
        send(
            session,
            phone,
            text,
            purpose="experts.absence",
            settings=notify_settings,
            dedup_key=key,
            centre_id=centre,
        )
    except Exception:
        log.exception("absence SMS could not be queued")
        return False
    return True


def raise_alerts(session: Session, settings: Any, now: datetime | None = None) -> list[ExpertAlert]:
    """Absence shortly before the start; a room under way without recording."""
    now = now or utcnow()
    cfg = settings.experts
    raised: list[ExpertAlert] = []
    soon = now + timedelta(minutes=cfg.absence_alert_minutes)
    rows = list(
        session.exec(
            select(ExpertSession).where(
                col(ExpertSession.status).in_(service.ACTIVE),
                col(ExpertSession.planned_start) <= soon,
                col(ExpertSession.planned_end) > now,
            )
        )
    )
    for row in rows:
        project = session.get(Project, row.project_id)
        number = project.number if project else ""
        entries = [e for e in service.roster(session, row.id or 0) if e.kind == "expert"]
        signed = service.signins(session, row.id or 0)
        missing = [e for e in entries if e.id not in signed]
        if missing and row.planned_start > now - timedelta(minutes=cfg.absence_alert_minutes):
            names = "、".join(mask(e.name, PiiKind.NAME) for e in missing[:10])
            alert = ExpertAlert(
                centre_id=row.centre_id,
                kind="absence",
                dedup_key=f"absence:{row.id}:{row.planned_start.isoformat()}",
                session_id=row.id,
                message=f"项目 {number} 场次 {row.key}：{len(missing)} 名专家尚未签到（{names}）",
            )
            if _add_alert(session, alert):
                if cfg.sms_alerts and row.host_phone:
                    alert.sms_sent = _send_sms(
                        session,
                        settings,
                        row.host_phone,
                        f"【专家签到提醒】{alert.message}",
                        f"experts:{alert.dedup_key}",
                        row.centre_id,
                    )
                    session.add(alert)
                    session.commit()
                raised.append(alert)
        grace = timedelta(minutes=cfg.recording_grace_minutes)
        if row.planned_start + grace > now:
            continue
        for room_id in row.rooms:
            room = session.get(Room, room_id)
            if room is None or not room.terminals:
                continue
            states = session.exec(
                select(RecorderState).where(col(RecorderState.device_id).in_(room.terminals))
            ).all()
            if any(s.state == "recording" for s in states):
                continue
            alert = ExpertAlert(
                centre_id=row.centre_id,
                kind="no_recording",
                dedup_key=f"no_recording:{row.id}:{room_id}",
                session_id=row.id,
                room_id=room_id,
                message=f"{room.name}：项目 {number} 场次 {row.key} 已开始，但终端未在录像",
            )
            if _add_alert(session, alert):
                raised.append(alert)
    return raised
