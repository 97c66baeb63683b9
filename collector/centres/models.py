from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Column, Field, SQLModel

from collector.db_types import UTCDateTime, str_enum, utcnow


class CentreLevel(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


class Centre(SQLModel, table=True):
    """A trading centre; centres form a tree and every centre-owned row carries its id."""

    __tablename__ = "centres"

    id: str = Field(primary_key=True, max_length=64, description="identifier used in topics")
    name: str = Field(max_length=200)
    level: CentreLevel = Field(default=CentreLevel.CITY, sa_type=str_enum(CentreLevel))
    parent_id: str | None = Field(default=None, foreign_key="centres.id", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
