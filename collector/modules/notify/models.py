"""Tables of the notify module: the SMS send log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from collector.db_types import UTCDateTime, utcnow
from collector.security.personal_data import PiiKind, pii_field, pii_hash_field, sync_pii_hashes


class SmsStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@sync_pii_hashes
class SmsMessage(SQLModel, table=True):
    """One SMS: queued, tried (with backoff) until sent or out of attempts."""

    __tablename__ = "notify_sms"
    __table_args__ = (UniqueConstraint("dedup_key"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    purpose: str = Field(max_length=64, index=True)
    dedup_key: str | None = Field(default=None, max_length=200)
    """Sending twice with the same key stores (and sends) one message."""
    centre_id: str | None = Field(default=None, max_length=64, index=True)
    phone: str | None = pii_field(PiiKind.PHONE, context="notify.sms.phone")
    phone_hash: str | None = pii_hash_field()
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=SmsStatus.PENDING, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=500)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sender: str = Field(default="", max_length=16)
    parts: int = 0
    reference: str = Field(default="", max_length=100)
