"""Tables of the visitors module.

One :class:`Visit` per presence at a centre: the entry swipe opens it, the exit swipe (or
the closing job) closes it. A refused entry is stored as a visit of its own with
``decision = "refused"`` and no presence (``exited_at`` equal to ``entered_at``): it counts
in the register and the flagged list, never in occupancy or contact tracing. An exit that
matches no open visit is kept as a visit with ``entered_at`` NULL and ``exit_unmatched``.

Invariant the tracing query relies on: a closed visit lasts at most
:data:`MAX_VISIT_SPAN` (exits are matched only to visits opened within it, and the
closing job closes a visit at the first closing time after its entry).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from collector.db_types import JSONType, UTCDateTime, utcnow
from collector.security.personal_data import PiiKind, pii_field, pii_hash_field, sync_pii_hashes

MAX_VISIT_SPAN = timedelta(hours=24)
_COVERED = ("decision", "id_number_hash", "id")


@sync_pii_hashes
class Visit(SQLModel, table=True):
    __tablename__ = "visits"
    __table_args__ = (
        # Covering the columns the tracing self-join reads, so that it scans indexes only.
        Index("ix_visits_centre_entered", "centre_id", "entered_at", "exited_at", *_COVERED),
        Index("ix_visits_centre_exited", "centre_id", "exited_at", "entered_at", *_COVERED),
    )

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", max_length=64)
    entry_passage_id: str | None = Field(default=None, max_length=64, unique=True)
    exit_passage_id: str | None = Field(default=None, max_length=64, unique=True)
    door_in: str | None = Field(default=None, max_length=64)
    door_out: str | None = Field(default=None, max_length=64)
    entered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    exited_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    closed_automatically: bool = False
    exit_unmatched: bool = False
    name: str | None = pii_field(PiiKind.NAME, context="visits.name")
    name_hash: str | None = pii_hash_field()
    id_number: str | None = pii_field(PiiKind.ID_NUMBER, context="visits.id_number")
    id_number_hash: str | None = pii_hash_field()
    document_type: str = Field(default="resident", max_length=24)
    sex: str = Field(default="", max_length=8)
    birth_year: int | None = None
    origin_code: str | None = Field(default=None, max_length=6)
    origin_province: str = Field(default="", max_length=40)
    origin_city: str = Field(default="", max_length=60)
    origin_county: str = Field(default="", max_length=60)
    flags: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType))
    flag_codes: str = Field(default="", max_length=200, description=",code,code, for LIKE")
    flagged: bool = False
    temperature_c: float | None = None
    temperature_source: str | None = Field(default=None, max_length=8)
    decision: str = Field(default="admitted", max_length=16)
    decided_by: str = Field(default="rules", max_length=16)
    operator: str = Field(default="", max_length=64)
    device_id: str = Field(default="", max_length=64)
    rules_version: int | None = None
    purged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class EntranceRuleSet(SQLModel, table=True):
    """One revision of a centre's entrance rules (pushed as desired config ``entrance``)."""

    __tablename__ = "visitor_rules"
    __table_args__ = (UniqueConstraint("centre_id", "version", name="uq_visitor_rules_version"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", max_length=64)
    version: int
    temperature_threshold_c: float = 37.3
    require_temperature: bool = True
    auto_admit: bool = True
    region_class1_action: str = Field(default="warn", max_length=8)
    region_class2_action: str = Field(default="warn", max_length=8)
    watched_regions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    created_by: str = Field(default="", max_length=100)
    config_version: int | None = Field(default=None, description="desired-config layer pushed")
    pushed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


@sync_pii_hashes
class WatchedPerson(SQLModel, table=True):
    """A person on a centre's watch list; agents get only a keyed hash of the ID number."""

    __tablename__ = "visitor_watchlist"

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    name: str | None = pii_field(PiiKind.NAME, context="visitor_watchlist.name")
    id_number: str | None = pii_field(PiiKind.ID_NUMBER, context="visitor_watchlist.id_number")
    id_number_hash: str | None = pii_hash_field()
    reason: str = Field(default="", max_length=200)
    action: str = Field(default="warn", max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    created_by: str = Field(default="", max_length=100)
