from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger
from sqlmodel import Column, Field, SQLModel

from collector.db_types import JSONType, UTCDateTime, utcnow


class Device(SQLModel, table=True):
    """An enrolled field device (one edge agent). ``id`` is globally unique and is also its
    MQTT username and client id."""

    __tablename__ = "devices"

    id: str = Field(primary_key=True, max_length=64)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    kind: str = Field(max_length=64, description="e.g. entrance, gate, room_terminal, burner")
    name: str = Field(default="", max_length=200)
    enabled: bool = True
    enrolled_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    broker_password_hash: str | None = Field(default=None, max_length=255)

    # Online state as last decided from status messages and heartbeat staleness.
    # ``status_online`` is what the last applied status message said; ``online`` is that
    # minus staleness (a device that stopped sending is offline even without its will).
    online: bool = False
    status_online: bool = False
    status_boot: int = -1
    status_session: int = -1
    status_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_heartbeat_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    heartbeat: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    agent_version: str = Field(default="", max_length=64)
    applied_config_version: int | None = None

    # Sequence tracking: highest outbox seq stored, and how many distinct seqs stored.
    last_seq: int = Field(default=0, sa_type=BigInteger)
    stored_count: int = 0


class SequenceGap(SQLModel, table=True):
    """A run of sequence numbers the collector has not (yet) received from a device."""

    __tablename__ = "sequence_gaps"

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="devices.id", index=True, max_length=64)
    first_seq: int = Field(sa_type=BigInteger)
    last_seq: int = Field(sa_type=BigInteger)
    missing: int = Field(description="seqs still missing inside the range")
    detected_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
