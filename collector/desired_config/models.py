from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index
from sqlmodel import Column, Field, SQLModel

from collector.db_types import JSONType, UTCDateTime, str_enum, utcnow


class ConfigScope(StrEnum):
    CENTRE = "centre"
    KIND = "kind"
    DEVICE = "device"


class DesiredConfig(SQLModel, table=True):
    """One layer of desired configuration. ``version`` is drawn from one sequence over the
    whole table, so a device's effective version (the highest of its layers) only grows."""

    __tablename__ = "desired_configs"
    __table_args__ = (Index("ix_desired_configs_scope_target", "scope", "target", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: ConfigScope = Field(sa_type=str_enum(ConfigScope))
    target: str = Field(max_length=64, description="centre id, device kind or device id")
    version: int = Field(unique=True)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    created_by: str = Field(default="", max_length=128)
