from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Text
from sqlmodel import Column, Field, SQLModel

from collector.db_types import JSONType, UTCDateTime, str_enum, utcnow


class CommandState(StrEnum):
    QUEUED = "queued"  # durable, waiting for the device to come online
    SENT = "sent"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    PROGRESS = "progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BUSY = "busy"
    EXPIRED = "expired"
    REJECTED = "rejected"
    OFFLINE = "offline"

    @property
    def final(self) -> bool:
        return self not in {
            CommandState.QUEUED,
            CommandState.SENT,
            CommandState.RECEIVED,
            CommandState.ACCEPTED,
            CommandState.PROGRESS,
        }


class Command(SQLModel, table=True):
    __tablename__ = "commands"

    id: str = Field(primary_key=True, max_length=36)
    centre_id: str = Field(max_length=64, index=True)
    device_id: str = Field(foreign_key="devices.id", max_length=64, index=True)
    action: str = Field(max_length=96)
    args: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    durable: bool = False
    issued_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    state: CommandState = Field(
        default=CommandState.QUEUED, sa_type=str_enum(CommandState), index=True
    )
    progress: float | None = None
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    send_count: int = 0
    last_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_ack_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime),
        description="agent time of the ack that set the current state; older acks are ignored",
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    created_by: str = Field(default="", max_length=128)


class CommandAck(SQLModel, table=True):
    """Every ack received, stored once by its id (the command row holds the latest state)."""

    __tablename__ = "command_acks"

    id: str = Field(primary_key=True, max_length=36)
    command_id: str = Field(max_length=36, index=True)
    device_id: str = Field(max_length=64)
    seq: int = Field(sa_type=BigInteger)
    status: str = Field(max_length=16)
    progress: float | None = None
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    ts: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    stored_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
