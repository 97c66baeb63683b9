"""Tables of the venues module.

- ``venue_units``: supervising units (监管单位) with their responsible person and phone;
  ``venue_unit_members`` links a console user (role ``supervisor_unit``) to one unit.
- ``venues``: the registry (场所信息), with its unit and daily flow thresholds; a venue
  found only in scans is added by the nightly job with ``discovered=True`` (未设置).
- ``venue_scans``: scan-in records (扫码进场信息); the person's ID number, name and phone are
  one encrypted value, searchable by keyed hashes; ``record_hash`` (keyed, over the
  record's natural fields) makes a re-imported record a no-op. After ``retention_days``
  the nightly purge nulls the personal value and every hash of it (``purged_at`` set).
- ``venue_scan_days``: scans per venue per China calendar day, kept in step with every
  import, deletion and sync, so statistics and alerts never scan the records.
- ``venue_alerts``: “扫码”预警, one row per 7-day window, 未接收 until received.
- ``venue_sync_state``: watermarks of the jobs, one row each: ``front_db`` (the sync's
  newest collection time read), ``retention`` (the cutoff of the last purge), and per centre
  ``alerts:<centre>`` (the last China day the alert rule considered, as its UTC start; moved
  back by imports, syncs and deletions; ``alerts`` is the former mark shared by all centres).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from collector.db_types import UTCDateTime, utcnow
from collector.security.personal_data import PiiKind, pii_field, pii_hash_field, sync_pii_hashes


@sync_pii_hashes
class VenueUnit(SQLModel, table=True):
    __tablename__ = "venue_units"
    __table_args__ = (UniqueConstraint("centre_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    name: str = Field(max_length=100)
    leader: str | None = pii_field(PiiKind.NAME, context="venue_units.leader")
    phone: str | None = pii_field(PiiKind.PHONE, context="venue_units.phone")
    phone_hash: str | None = pii_hash_field()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VenueUnitMember(SQLModel, table=True):
    """A console user who acts for a supervising unit."""

    __tablename__ = "venue_unit_members"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    unit_id: int = Field(foreign_key="venue_units.id", index=True)


class Venue(SQLModel, table=True):
    __tablename__ = "venues"
    __table_args__ = (UniqueConstraint("centre_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    code: str = Field(max_length=100)  # 公共场所ID
    name: str = Field(default="", max_length=200)  # 公共场所
    category: str = Field(default="", max_length=100)  # 类别
    city: str = Field(default="", max_length=50)  # 所在市区
    street: str = Field(default="", max_length=100)  # 所在街道
    admin: str = Field(default="", max_length=100)  # 公共场所管理员
    location: str = Field(default="", max_length=300)  # 所在位置
    unit_id: int | None = Field(default=None, foreign_key="venue_units.id", index=True)
    min_daily: int | None = None  # 场所日人流量阈值（最小值）
    max_daily: int | None = None  # 场所日人流量阈值（最大值）
    discovered: bool = False  # added by the nightly job from scans
    source: str = Field(default="manual", max_length=16)  # manual / import / sync / scans
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VenueScan(SQLModel, table=True):
    __tablename__ = "venue_scans"
    __table_args__ = (
        UniqueConstraint("centre_id", "record_hash"),
        Index("ix_venue_scans_centre_venue_time", "centre_id", "venue_code", "collected_at"),
        Index("ix_venue_scans_centre_time", "centre_id", "collected_at"),
        Index("ix_venue_scans_centre_imported", "centre_id", "imported_at"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    centre_id: str = Field(foreign_key="centres.id", max_length=64)
    venue_code: str = Field(max_length=100)  # 公共场所ID
    venue_name: str = Field(default="", max_length=200)  # 公共场所
    category: str = Field(default="", max_length=100)  # 类别
    city: str = Field(default="", max_length=50)  # 所在市区
    street: str = Field(default="", max_length=100)  # 所在街道
    venue_admin: str = Field(default="", max_length=100)  # 公共场所管理员
    person: str | None = pii_field(PiiKind.TEXT, context="venue_scans.person")
    """被采集人身份证, 被采集人, 联系电话 as one encrypted JSON list (one cipher per row)."""
    id_number_hash: str | None = Field(default=None, max_length=32, index=True)
    phone_hash: str | None = Field(default=None, max_length=32, index=True)
    collect_result: str = Field(default="", max_length=50)  # 采集结果
    nucleic_result: str = Field(default="", max_length=50)  # 核酸结果
    nucleic_time: str = Field(default="", max_length=50)  # 核酸结果时间 (as exported)
    health_code: str = Field(default="", max_length=50)  # 健康码状态
    location: str = Field(default="", max_length=300)  # 采集人所在位置
    collected_at: datetime = Field(sa_type=UTCDateTime)  # 采集时间
    day: date  # China calendar day of collected_at
    imported_by: str = Field(default="", max_length=100)  # 数据导入人
    imported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)  # 数据导入时间
    source: str = Field(default="import", max_length=16)  # import / sync
    record_hash: str = Field(max_length=32)  # ``~<id>`` once purged
    purged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the personal data (person, its hashes, the record hash) was purged."""


class VenueScanDay(SQLModel, table=True):
    __tablename__ = "venue_scan_days"
    # Clustered on (centre, venue, day) on SQLite: statistics and alerts read the key only.
    __table_args__ = {"sqlite_with_rowid": False}

    centre_id: str = Field(primary_key=True, max_length=64)
    venue_code: str = Field(primary_key=True, max_length=100)
    day: date = Field(primary_key=True)
    count: int = 0


class VenueAlert(SQLModel, table=True):
    __tablename__ = "venue_alerts"
    __table_args__ = (UniqueConstraint("venue_id", "direction", "start_day"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    venue_id: int = Field(foreign_key="venues.id", index=True)
    direction: str = Field(max_length=8)  # low (小于阈值) / high (大于阈值)
    threshold: int
    start_day: date
    end_day: date
    counts: list[int] = Field(default_factory=list, sa_type=JSON)
    received: bool = Field(default=False, index=True)
    received_by: str = Field(default="", max_length=100)
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VenueSyncState(SQLModel, table=True):
    __tablename__ = "venue_sync_state"

    name: str = Field(primary_key=True, max_length=32)
    watermark: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=500)
    venues: int = 0
    scans: int = 0
