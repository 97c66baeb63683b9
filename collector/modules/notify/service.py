"""The public functions of the notify module: queue and send SMS, retry, read the log.

Other modules call :func:`send_sms` (and nothing else of this package)::

    from collector.modules.notify.service import send_sms
    send_sms(session, phone, text, purpose="venues.alert_reminder",
             settings=runtime.settings.notify, dedup_key=f"…:{unit}:{day}")

A message is stored first (phone encrypted), then tried at once; a failure leaves it
``pending`` with ``next_attempt_at`` doubled from ``retry_base_s`` until ``max_attempts``,
after which it is ``failed``. :func:`retry_due` (a scheduled job every minute) tries again.
A ``dedup_key`` makes sending idempotent: the second call returns the first message.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from collector.db_types import utcnow
from collector.modules.notify.models import SmsMessage, SmsStatus
from collector.modules.notify.pdu import split_ucs2
from collector.modules.notify.senders import SmsSender, SmsSendError, make_sender
from collector.modules.notify.settings import NotifySettings

log = logging.getLogger(__name__)

__all__ = ["SmsMessage", "SmsStatus", "find_sms", "list_sms", "retry_due", "send_sms"]


def find_sms(session: Session, dedup_key: str) -> SmsMessage | None:
    return session.exec(select(SmsMessage).where(SmsMessage.dedup_key == dedup_key)).first()


def send_sms(
    session: Session,
    phone: str,
    text: str,
    *,
    purpose: str,
    settings: NotifySettings,
    dedup_key: str | None = None,
    centre_id: str | None = None,
    sender: SmsSender | None = None,
    now: datetime | None = None,
) -> SmsMessage:
    """Store one SMS and try to send it now; commits. Idempotent by ``dedup_key``."""
    if dedup_key is not None:
        existing = find_sms(session, dedup_key)
        if existing is not None:
            return existing
    message = SmsMessage(
        purpose=purpose,
        dedup_key=dedup_key,
        centre_id=centre_id,
        phone=phone,
        text=text,
        parts=len(split_ucs2(text)),
        next_attempt_at=now or utcnow(),
    )
    session.add(message)
    try:
        session.commit()
    except IntegrityError:  # another collector stored the same key a moment ago
        session.rollback()
        existing = find_sms(session, dedup_key or "")
        if existing is None:
            raise
        return existing
    attempt(session, message, settings, sender=sender, now=now)
    return message


def attempt(
    session: Session,
    message: SmsMessage,
    settings: NotifySettings,
    *,
    sender: SmsSender | None = None,
    now: datetime | None = None,
) -> bool:
    """Try one message once; record the outcome and commit. True when sent. Never raises
    for the message itself: a send error is retried later (backoff), any other error (a
    phone with no digits, a sender bug) fails the message at once, as retrying would repeat
    it, and the callers' loops (the daily reminders, :func:`retry_due`) go on."""
    now = now or utcnow()
    message.attempts += 1
    try:
        sender = sender or make_sender(settings)
        message.sender = sender.name
        message.reference = sender.send(message.phone or "", message.text)[:100]
    except SmsSendError as exc:
        message.last_error = str(exc)[:500]
        if message.attempts >= settings.max_attempts:
            message.status = SmsStatus.FAILED
            message.next_attempt_at = None
        else:
            delay = settings.retry_base_s * 2 ** (message.attempts - 1)
            message.next_attempt_at = now + timedelta(seconds=delay)
        log.warning("SMS %s not sent (try %d): %s", message.id, message.attempts, exc)
        session.add(message)
        session.commit()
        return False
    except Exception as exc:
        log.exception("SMS %s failed unexpectedly; not retried", message.id)
        message.last_error = f"{type(exc).__name__}: {exc}"[:500]
        message.status = SmsStatus.FAILED
        message.next_attempt_at = None
        session.add(message)
        session.commit()
        return False
    message.status = SmsStatus.SENT
    message.sent_at = now
    message.next_attempt_at = None
    message.last_error = ""
    session.add(message)
    session.commit()
    return True


def retry_due(
    session: Session,
    settings: NotifySettings,
    *,
    sender: SmsSender | None = None,
    now: datetime | None = None,
    limit: int = 100,
) -> int:
    """Try every pending message whose next attempt is due; returns how many were sent."""
    now = now or utcnow()
    due = session.exec(
        select(SmsMessage)
        .where(SmsMessage.status == SmsStatus.PENDING, col(SmsMessage.next_attempt_at) <= now)
        .order_by(col(SmsMessage.id))
        .limit(limit)
    ).all()
    sender = sender or (make_sender(settings) if due else None)
    return sum(attempt(session, m, settings, sender=sender, now=now) for m in due)


def list_sms(
    session: Session,
    *,
    centre_ids: frozenset[str],
    include_unowned: bool,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[SmsMessage], int]:
    """The send log, newest first, limited to the caller's centres (and messages of no
    centre for a system administrator)."""
    where: ColumnElement[bool] = col(SmsMessage.centre_id).in_(sorted(centre_ids))
    if include_unowned:
        where = where | col(SmsMessage.centre_id).is_(None)
    query = select(SmsMessage).where(where)
    if status:
        query = query.where(SmsMessage.status == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(SmsMessage.id).desc()).limit(limit).offset(offset)).all()
    return list(rows), int(total)
