from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, LargeBinary, Text
from sqlmodel import Column, Field, SQLModel

from collector.db_types import JSONType, UTCDateTime, utcnow


class DeadReason(StrEnum):
    """Why a message went to the dead letters."""

    BAD_TOPIC = "bad_topic"  # not a topic of the v1 tree the collector consumes
    BAD_JSON = "bad_json"  # not JSON (or not UTF-8)
    BAD_ENVELOPE = "bad_envelope"  # JSON, but not a valid envelope
    UNKNOWN_TYPE = "unknown_type"  # event type / schema version not in the registry
    BAD_PAYLOAD = "bad_payload"  # payload fails its model
    TOPIC_MISMATCH = "topic_mismatch"  # topic centre/device/type differ from the envelope's
    UNENROLLED = "unenrolled"  # device unknown, or enrolled in another centre
    DISABLED = "disabled"  # device enrolled but disabled
    TOO_LARGE = "too_large"  # larger than ingest.max_message_bytes
    HANDLER_ERROR = "handler_error"  # a business-module handler raised on this event
    STORE_ERROR = "store_error"  # the database refused the row (e.g. NUL in PostgreSQL text)


class StoredEvent(SQLModel, table=True):
    """One event, stored once by its UUIDv7 id."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_device_seq", "device_id", "seq"),
        Index("ix_events_type_ts", "type", "ts"),
        Index("ix_events_centre_ts", "centre_id", "ts"),
    )

    id: str = Field(primary_key=True, max_length=36)
    centre_id: str = Field(max_length=64)
    device_id: str = Field(max_length=64)
    type: str = Field(max_length=96)
    schema_version: int = 1
    seq: int = Field(sa_type=BigInteger)
    ts: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    stored_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))


class DeadLetter(SQLModel, table=True):
    """An inbound message that failed validation, kept with its reason and raw bytes."""

    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, index=True))
    topic: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(max_length=32, index=True, description="short code, see DeadReason")
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    centre_id: str | None = Field(default=None, max_length=64, index=True)
    device_id: str | None = Field(default=None, max_length=64)
