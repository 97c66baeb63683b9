"""Batch burn jobs from a task spreadsheet (刻录任务导入模板), all or nothing.

One row is one project: it is created or updated in the archive (with its NVR window and
document URL as extra sources) and gets one job. Every problem in the file is reported with
its Excel row before anything is stored.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlmodel import Session, select

from collector.devices.models import Device
from collector.modules.burn import service
from collector.modules.burn.models import (
    ArchiveProject,
    BurnImport,
    BurnJob,
    Category,
    CopyRole,
    JobOrigin,
    Medium,
)
from collector.modules.burn.settings import BurnSettings
from collector.tabular import SheetColumn, read_rows, template

COLUMNS = [
    SheetColumn("number", "项目编号", "Project number", required=True, example="JSGC-2026-001"),
    SheetColumn("name", "项目名称", "Project name", required=True, example="某某道路改造工程施工"),
    SheetColumn(
        "category",
        "项目类别",
        "Category",
        example="工程建设",
        hint="工程建设/政府采购/土地矿业权/国有产权/其他",
    ),
    SheetColumn("opening_date", "开标日期", "Opening date", required=True, example="2026-11-20"),
    SheetColumn("rooms", "开标室/评标室", "Rooms", example="第一开标室、第二评标室"),
    SheetColumn("centre_id", "所属中心", "Centre", hint="中心编号；留空为导入时所选中心"),
    SheetColumn("medium", "刻录介质", "Medium", example="DVD", hint="CD/DVD/BD/硬盘"),
    SheetColumn(
        "copies", "刻录份数", "Copies", example="存档、异地", hint="存档、异地，或份数 1/2"
    ),
    SheetColumn(
        "nvr_url",
        "NVR地址",
        "NVR URL",
        example="http://192.168.1.64",
        hint="海康 ISAPI 地址，留空则不下载 NVR 录像",
    ),
    SheetColumn("nvr_channel", "NVR通道", "NVR channel", example="1"),
    SheetColumn("video_start", "录像开始时间", "Video start", example="2026-11-20 09:00"),
    SheetColumn("video_end", "录像结束时间", "Video end", example="2026-11-20 12:00"),
    SheetColumn("doc_url", "电子文件地址", "Document URL", hint="电子招投标文件下载地址"),
    SheetColumn("station_id", "刻录工作站", "Station", hint="设备编号；留空自动分配"),
]

MEDIA = {
    "cd": Medium.CD,
    "dvd": Medium.DVD,
    "bd": Medium.BD,
    "bd-r": Medium.BD,
    "蓝光": Medium.BD,
    "硬盘": Medium.DISK,
    "disk": Medium.DISK,
    "光盘": Medium.DVD,
}
ROLES = {
    "存档": CopyRole.ARCHIVE,
    "archive": CopyRole.ARCHIVE,
    "异地": CopyRole.OFFSITE,
    "offsite": CopyRole.OFFSITE,
    "异地备份": CopyRole.OFFSITE,
}


@dataclass
class ImportContext:
    session: Session
    settings: BurnSettings
    visible: Collection[str]
    default_centre: str
    tz: Any
    seen: set[tuple[str, str]] = field(default_factory=set)


_context: ContextVar[ImportContext] = ContextVar("burn_import")


@contextmanager
def _using(ctx: ImportContext) -> Iterator[None]:
    token = _context.set(ctx)
    try:
        yield
    finally:
        _context.reset(token)


def _split(text: str) -> list[str]:
    for sep in "，、;；|/":
        text = text.replace(sep, ",")
    return [p.strip() for p in text.split(",") if p.strip()]


class TaskRow(BaseModel):
    number: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    category: Category = Category.OTHER
    opening_date: date
    rooms: list[str] = Field(default_factory=list)
    centre_id: str = ""
    medium: Medium | None = None
    copies: list[CopyRole] = Field(default_factory=list)
    nvr_url: str = ""
    nvr_channel: int = Field(default=1, ge=1, le=512)
    video_start: datetime | None = None
    video_end: datetime | None = None
    doc_url: str = ""
    station_id: str = ""

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: Any) -> Any:
        return service.parse_category(str(value)) if value not in (None, "") else Category.OTHER

    @field_validator("rooms", mode="before")
    @classmethod
    def _rooms(cls, value: Any) -> Any:
        return _split(str(value)) if isinstance(value, str) else (value or [])

    @field_validator("medium", mode="before")
    @classmethod
    def _medium(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        found = MEDIA.get(str(value).strip().lower())
        if found is None:
            raise ValueError("刻录介质应为 CD、DVD、BD 或 硬盘")
        return found

    @field_validator("copies", mode="before")
    @classmethod
    def _copies(cls, value: Any) -> Any:
        if value in (None, ""):
            return []
        text = str(value).strip()
        if text.isdigit():
            n = int(text)
            if not 1 <= n <= 4:
                raise ValueError("份数应为 1 到 4")
            return [CopyRole.ARCHIVE, CopyRole.OFFSITE, CopyRole.ARCHIVE, CopyRole.OFFSITE][:n]
        roles = []
        for part in _split(text):
            role = ROLES.get(part.lower())
            if role is None:
                raise ValueError(f"无法识别的份数「{part}」，应为 存档、异地 或数字")
            roles.append(role)
        return roles

    @field_validator("video_start", "video_end", mode="before")
    @classmethod
    def _local_time(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("/", "-"))
            except ValueError as exc:
                raise ValueError("时间格式应为 2026-11-20 09:00") from exc
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=_context.get().tz)
        return value

    @field_validator("nvr_url", "doc_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError("地址应以 http:// 或 https:// 开头")
        return value

    @model_validator(mode="after")
    def _check(self) -> TaskRow:
        ctx = _context.get()
        self.centre_id = self.centre_id.strip() or ctx.default_centre
        if not self.centre_id:
            raise ValueError("请填写所属中心")
        if self.centre_id not in ctx.visible:
            raise ValueError(f"所属中心「{self.centre_id}」不存在或不可见")
        key = (self.centre_id, self.number)
        if key in ctx.seen:
            raise ValueError(f"项目编号 {self.number} 在文件中重复")
        ctx.seen.add(key)
        if self.nvr_url and (self.video_start is None or self.video_end is None):
            raise ValueError("填写 NVR 地址时需要录像开始和结束时间")
        if self.video_start and self.video_end and self.video_end <= self.video_start:
            raise ValueError("录像结束时间应晚于开始时间")
        if self.station_id:
            station = ctx.session.get(Device, self.station_id)
            if (
                station is None
                or station.centre_id != self.centre_id
                or station.kind not in ctx.settings.station_kinds
            ):
                raise ValueError(f"刻录工作站「{self.station_id}」不属于该中心")
        project = ctx.session.exec(
            select(ArchiveProject).where(
                ArchiveProject.centre_id == self.centre_id, ArchiveProject.number == self.number
            )
        ).first()
        if project is not None and service.active_job_for(ctx.session, project.id or 0):
            raise ValueError(f"项目 {self.number} 已有进行中的刻录任务")
        has_sources = bool(self.nvr_url or self.doc_url or (project and project.sources))
        if not has_sources:
            probe = ArchiveProject(
                centre_id=self.centre_id,
                number=self.number,
                name=self.name,
                opening_date=self.opening_date,
            )
            has_sources = bool(service.project_recordings(ctx.session, probe))
        if not has_sources:
            raise ValueError("没有可刻录的数据源：请填写 NVR 地址或电子文件地址，或先上传录像")
        return self

    def extra_sources(self) -> list[dict[str, Any]]:
        sources: list[dict[str, Any]] = []
        if self.nvr_url and self.video_start and self.video_end:
            sources.append(
                {
                    "kind": "nvr_isapi",
                    "base_url": self.nvr_url,
                    "channel": self.nvr_channel,
                    "start": self.video_start.isoformat(),
                    "end": self.video_end.isoformat(),
                    "room": self.rooms[0] if self.rooms else "",
                }
            )
        if self.doc_url:
            sources.append({"kind": "url", "url": self.doc_url, "media": "document"})
        return sources


def task_template() -> bytes:
    return template(COLUMNS, sheet_title="刻录任务")


def record_centre(default_centre: str, rows: list[TaskRow]) -> str:
    """The centre an import belongs to (whose users see it in the list of imports)."""
    if default_centre:
        return default_centre
    centres = {row.centre_id for row in rows}
    if len(centres) != 1:
        raise service.BurnError("请选择导入的所属中心（centre_id）：表格中的项目属于多个中心")
    return centres.pop()


def import_tasks(
    session: Session,
    settings: BurnSettings,
    data: bytes,
    *,
    filename: str,
    visible: Collection[str],
    default_centre: str,
    tz: Any,
    created_by: str,
) -> tuple[BurnImport, list[BurnJob]]:
    """Validate every row (raising :class:`collector.tabular.ImportErrors` with row numbers),
    then store the projects and jobs in one transaction. Jobs are dispatched by the caller.

    ``default_centre`` (the one chosen, else the user's own) fills an empty 所属中心 and owns
    the import's record; without one, the rows' centre does when they all name the same."""
    if default_centre and default_centre not in visible:
        raise service.BurnError(f"所属中心（centre_id）「{default_centre}」不存在或不可见")
    ctx = ImportContext(session, settings, visible, default_centre, tz)
    with _using(ctx):
        rows = read_rows(data, COLUMNS, TaskRow)
    record = BurnImport(
        centre_id=record_centre(default_centre, rows),
        filename=filename[:255],
        rows=len(rows),
        created_by=created_by,
    )
    session.add(record)
    session.flush()
    jobs = []
    try:
        for row in rows:
            existing = session.exec(
                select(ArchiveProject).where(
                    ArchiveProject.centre_id == row.centre_id, ArchiveProject.number == row.number
                )
            ).first()
            sources = list(existing.sources) if existing else []
            for source in row.extra_sources():
                checked = service.validate_source(source)
                if checked not in sources:
                    sources.append(checked)
            project = service.upsert_project(
                session,
                {
                    "centre_id": row.centre_id,
                    "number": row.number,
                    "name": row.name,
                    "category": row.category,
                    "opening_date": row.opening_date,
                    "rooms": row.rooms,
                    "sources": sources,
                },
                commit=False,
            )
            jobs.append(
                service.create_job(
                    session,
                    settings,
                    project,
                    medium=row.medium,
                    copies=[c.value for c in row.copies],
                    station_id=row.station_id or None,
                    origin=JobOrigin.IMPORT,
                    created_by=created_by,
                    import_id=record.id,
                )
            )
    except Exception:
        session.rollback()
        raise
    record.jobs = len(jobs)
    session.add(record)
    return record, jobs


def list_imports(session: Session, centre_ids: Collection[str]) -> list[BurnImport]:
    from sqlmodel import col

    return list(
        session.exec(
            select(BurnImport)
            .where(col(BurnImport.centre_id).in_(sorted(centre_ids)))
            .order_by(col(BurnImport.id).desc())
            .limit(100)
        )
    )
