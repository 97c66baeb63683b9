from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger
from sqlmodel import Column, Field, SQLModel

from collector.db_types import JSONType, UTCDateTime, str_enum, utcnow


class UploadState(StrEnum):
    UPLOADING = "uploading"
    COMPLETE = "complete"
    FAILED = "failed"


class StoredFile(SQLModel, table=True):
    __tablename__ = "files"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=255)
    size: int = Field(ge=0, sa_type=BigInteger)
    sha256: str = Field(max_length=64, description="expected SHA-256, hex, given at creation")
    received: int = Field(default=0, sa_type=BigInteger)
    state: UploadState = Field(default=UploadState.UPLOADING, sa_type=str_enum(UploadState))
    store_key: str = Field(max_length=512)
    content_type: str = Field(default="application/octet-stream", max_length=128)
    centre_id: str | None = Field(default=None, max_length=64, index=True)
    device_id: str | None = Field(default=None, max_length=64, index=True)
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
