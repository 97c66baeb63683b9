"""Tables of the burn module: archive projects, burn jobs and their log, discs and the files
on them, drives, schedules and their runs, spreadsheet imports.

Every row that belongs to a centre carries ``centre_id``; times are UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Text, UniqueConstraint, false
from sqlmodel import Column, Field, SQLModel

from collector.db_types import JSONType, UTCDateTime, str_enum, utcnow


class Category(StrEnum):
    """Trading categories (交易类别)."""

    CONSTRUCTION = "construction"  # 工程建设
    PROCUREMENT = "procurement"  # 政府采购
    LAND = "land"  # 土地矿业权
    STATE_PROPERTY = "state_property"  # 国有产权
    OTHER = "other"  # 其他


CATEGORY_LABELS: dict[Category, tuple[str, str]] = {
    Category.CONSTRUCTION: ("工程建设", "Construction"),
    Category.PROCUREMENT: ("政府采购", "Government procurement"),
    Category.LAND: ("土地矿业权", "Land and mining rights"),
    Category.STATE_PROPERTY: ("国有产权", "State-owned property"),
    Category.OTHER: ("其他", "Other"),
}


class ArchiveStatus(StrEnum):
    # derived from the project's jobs (service.project_status):
    PENDING = "pending"  # none under way, none done: nothing yet, or they failed / were cancelled
    QUEUED = "queued"  # a job is under way
    DONE = "done"  # a job burned and verified its discs


class JobState(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    STAGING = "staging"
    BURNING = "burning"
    VERIFYING = "verifying"
    LABELLING = "labelling"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


STAGES: tuple[JobState, ...] = (
    JobState.FETCHING,
    JobState.STAGING,
    JobState.BURNING,
    JobState.VERIFYING,
    JobState.LABELLING,
)
"""The working stages in order; a retry starts again from the stage that failed."""


class Medium(StrEnum):
    CD = "cd"
    DVD = "dvd"
    BD = "bd"
    DISK = "disk"  # one-click backup to a hard disk


class CopyRole(StrEnum):
    ARCHIVE = "archive"  # 存档
    OFFSITE = "offsite"  # 异地


class Frequency(StrEnum):
    ONCE = "once"  # immediately (or once at a set time)
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class JobOrigin(StrEnum):
    CONSOLE = "console"
    IMPORT = "import"
    SCHEDULE = "schedule"
    API = "api"


class VerifyResult(StrEnum):
    PENDING = "pending"
    OK = "ok"
    BAD = "bad"


class ArchiveProject(SQLModel, table=True):
    """A trading project (交易项目) as far as archiving needs it; fed by the console, the
    import and :func:`collector.modules.burn.service.upsert_project`."""

    __tablename__ = "burn_projects"
    __table_args__ = (UniqueConstraint("centre_id", "number", name="uq_burn_projects_number"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    number: str = Field(max_length=64, index=True, description="project number (项目编号)")
    name: str = Field(max_length=255)
    category: Category = Field(default=Category.OTHER, sa_type=str_enum(Category, 24))
    opening_date: date = Field(index=True)
    rooms: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    sources: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSONType, nullable=False),
        description="NVR windows, document URLs and folders; recordings are found by tag",
    )
    archive_status: ArchiveStatus = Field(
        default=ArchiveStatus.PENDING, sa_type=str_enum(ArchiveStatus), index=True
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))


class BurnJob(SQLModel, table=True):
    """One burn job; ``id`` is also the ``job_id`` on the wire."""

    __tablename__ = "burn_jobs"

    id: str = Field(primary_key=True, max_length=36)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    project_id: int = Field(foreign_key="burn_projects.id", index=True)
    project_number: str = Field(default="", max_length=64, index=True)
    project_name: str = Field(default="", max_length=255)
    spec: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONType, nullable=False),
        description="the BurnJobSpec sent to the station",
    )
    medium: Medium = Field(default=Medium.DVD, sa_type=str_enum(Medium, 8))
    copies: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    station_id: str | None = Field(default=None, max_length=64, index=True)
    station_chosen: bool = Field(
        default=False,
        sa_column=Column(Boolean, nullable=False, default=False, server_default=false()),
        description="chosen by a person; else picked by dispatch and free to change until "
        "a station starts the job",
    )
    state: JobState = Field(default=JobState.QUEUED, sa_type=str_enum(JobState), index=True)
    failed_stage: str | None = Field(default=None, max_length=16)
    progress: float = 0.0
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    command_id: str | None = Field(default=None, max_length=36, index=True)
    retry_command_id: str | None = Field(default=None, max_length=36)
    attempt: int = 1
    origin: JobOrigin = Field(default=JobOrigin.CONSOLE, sa_type=str_enum(JobOrigin))
    schedule_id: int | None = Field(default=None, index=True)
    import_id: int | None = Field(default=None, index=True)
    dedupe_key: str | None = Field(
        default=None,
        max_length=160,
        unique=True,
        description="schedule id, occurrence and project: a schedule creates a job once",
    )
    created_by: str = Field(default="", max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_event_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime),
        description="station time of the state event applied last; older ones only log",
    )


class BurnJobLog(SQLModel, table=True):
    """One line of a job's log: each stage transition and message the station reported."""

    __tablename__ = "burn_job_logs"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=36, index=True)
    ts: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    state: str = Field(max_length=16)
    progress: float | None = None
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Disc(SQLModel, table=True):
    """An archive disc: the record kept for 15 years."""

    __tablename__ = "burn_discs"

    id: str = Field(primary_key=True, max_length=36, description="disc_id from the station")
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    job_id: str = Field(max_length=36, index=True)
    project_id: int | None = Field(default=None, index=True)
    project_number: str = Field(default="", max_length=64, index=True)
    project_name: str = Field(default="", max_length=255)
    category: str = Field(default="", max_length=24)
    opening_date: date | None = Field(default=None, index=True)
    disc_index: int = 1
    disc_count: int = 1
    copy_role: CopyRole = Field(default=CopyRole.ARCHIVE, sa_type=str_enum(CopyRole))
    copy_number: int = 1
    medium: str = Field(default="", max_length=8)
    volume_id: str = Field(default="", max_length=64)
    station_id: str | None = Field(default=None, max_length=64)
    drive: str = Field(default="", max_length=128)
    burned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    verify: VerifyResult = Field(default=VerifyResult.PENDING, sa_type=str_enum(VerifyResult))
    verify_detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attempt: int = 1
    image_size: int = Field(default=0, sa_type=BigInteger)
    image_sha256: str = Field(default="", max_length=64)
    shelf: str = Field(default="", max_length=64)
    box: str = Field(default="", max_length=64)
    last_verified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    next_verify_due: date | None = Field(default=None, index=True)
    reverify_command_id: str | None = Field(default=None, max_length=36)


class DiscFile(SQLModel, table=True):
    """One file on a disc, for searching the archive by file name."""

    __tablename__ = "burn_disc_files"

    id: int | None = Field(default=None, primary_key=True)
    disc_id: str = Field(foreign_key="burn_discs.id", index=True, max_length=36)
    centre_id: str = Field(max_length=64, index=True)
    path: str = Field(max_length=512, index=True)
    size: int = Field(default=0, sa_type=BigInteger)
    sha256: str = Field(default="", max_length=64)
    duration_s: float | None = None
    codec: str = Field(default="", max_length=64)
    media: str = Field(default="", max_length=16)


class Drive(SQLModel, table=True):
    """A drive of a burn station, as its last ``burn.drive_state`` said."""

    __tablename__ = "burn_drives"
    __table_args__ = (UniqueConstraint("station_id", "drive", name="uq_burn_drives_drive"),)

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    station_id: str = Field(max_length=64)
    drive: str = Field(max_length=128)
    device: str = Field(default="", max_length=255)
    state: str = Field(default="", max_length=16)
    medium: str = Field(default="", max_length=64, description="medium type, e.g. DVD+R")
    blank: bool | None = None
    capacity: int | None = Field(default=None, sa_type=BigInteger)
    free: int | None = Field(default=None, sa_type=BigInteger)
    current_job_id: str | None = Field(default=None, max_length=36)
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))


class BurnSchedule(SQLModel, table=True):
    """An automatic burn: immediately, daily, weekly or monthly at a set time, picking up
    every project of its centre whose archive is still pending. The source of truth for
    its scheduler job (re-created when a collector becomes the leader)."""

    __tablename__ = "burn_schedules"

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    name: str = Field(max_length=100)
    frequency: Frequency = Field(default=Frequency.DAILY, sa_type=str_enum(Frequency))
    time_of_day: str = Field(default="02:00", max_length=5, description="HH:MM, centre time")
    weekday: int | None = Field(default=None, description="0 = Monday (weekly)")
    day_of_month: int | None = Field(default=None, description="1-28, 31 = last day (monthly)")
    run_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    category: Category | None = Field(default=None, sa_type=str_enum(Category, 24))
    medium: Medium = Field(default=Medium.DVD, sa_type=str_enum(Medium, 8))
    copies: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    station_id: str | None = Field(default=None, max_length=64)
    enabled: bool = True
    synced: bool = Field(
        default=False, description="its scheduler job matches this row (set by the leader)"
    )
    created_by: str = Field(default="", max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    last_run_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class ScheduleRun(SQLModel, table=True):
    """One occurrence of a schedule that ran: the unique key makes it run once."""

    __tablename__ = "burn_schedule_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "occurrence", name="uq_burn_schedule_runs_occurrence"),
    )

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(index=True)
    occurrence: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ran_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
    jobs: int = 0


class BurnImport(SQLModel, table=True):
    """A task spreadsheet that was imported."""

    __tablename__ = "burn_imports"

    id: int | None = Field(default=None, primary_key=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    filename: str = Field(default="", max_length=255)
    rows: int = 0
    jobs: int = 0
    created_by: str = Field(default="", max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))


class RecordingCheck(SQLModel, table=True):
    """The decode check of a project recording, made once when it is in the file store; a burn
    station skips its own check of these exact bytes (same SHA-256) when it stages them as
    they are."""

    __tablename__ = "burn_recording_checks"

    file_id: str = Field(primary_key=True, max_length=36)
    sha256: str = Field(max_length=64)
    ok: bool
    detail: str = Field(default="", max_length=500)
    checked_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime))
