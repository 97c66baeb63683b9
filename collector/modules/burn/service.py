"""Archive projects and burn jobs: create, dispatch to a burn station, retry, cancel.

Plain functions over a session. :func:`upsert_project` is the public entry for other modules
(issue #7's projects and sessions feed the archive through it).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from collector.centres.models import Centre
from collector.commands import service as commands
from collector.commands.models import Command, CommandState
from collector.db_types import utcnow
from collector.devices.models import Device
from collector.files.models import StoredFile, UploadState
from collector.modules.burn.models import (
    CATEGORY_LABELS,
    STAGES,
    ArchiveProject,
    ArchiveStatus,
    BurnJob,
    BurnJobLog,
    Category,
    CopyRole,
    JobOrigin,
    JobState,
    Medium,
)
from collector.modules.burn.playback import VIDEO_SUFFIXES
from collector.modules.burn.recording_check import checks_for
from collector.modules.burn.settings import BurnSettings
from collector.publisher import Publisher
from contract.ids import uuid7
from contract.payloads.burn import BurnJobRef, BurnJobSpec, RetryArgs

log = logging.getLogger(__name__)

ACTIVE_STATES = tuple(s for s in JobState if not s.final)
ORIGIN_ZH = {
    JobOrigin.CONSOLE: "勾选",
    JobOrigin.IMPORT: "表格导入",
    JobOrigin.SCHEDULE: "定时",
    JobOrigin.API: "接口",
}


class BurnError(ValueError):
    """A request the burn module refuses; the message is Chinese, for the console."""


# -- projects -------------------------------------------------------------------------------


class ProjectIn(BaseModel):
    """A project as another module or the console hands it to the archive."""

    model_config = ConfigDict(extra="forbid")

    centre_id: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    category: Category = Category.OTHER
    opening_date: date
    rooms: list[str] = Field(default_factory=list)
    sources: list[dict[str, Any]] | None = Field(
        default=None,
        description="NVR windows, document URLs, folders (contract.payloads.burn sources); "
        "None keeps the stored ones",
    )


def upsert_project(
    session: Session, data: ProjectIn | dict[str, Any], *, commit: bool = True
) -> ArchiveProject:
    """Insert or update the project ``(centre_id, number)``; its archive status is kept."""
    data = ProjectIn.model_validate(data)
    row = session.exec(
        select(ArchiveProject).where(
            ArchiveProject.centre_id == data.centre_id, ArchiveProject.number == data.number
        )
    ).first()
    if row is None:
        row = ArchiveProject(
            centre_id=data.centre_id,
            number=data.number,
            name=data.name,
            opening_date=data.opening_date,
        )
    row.name = data.name
    row.category = data.category
    row.opening_date = data.opening_date
    row.rooms = list(data.rooms)
    if data.sources is not None:
        row.sources = [validate_source(s) for s in data.sources]
    row.updated_at = utcnow()
    session.add(row)
    if commit:
        session.commit()
        session.refresh(row)
    else:
        session.flush()
    return row


def validate_source(source: dict[str, Any]) -> dict[str, Any]:
    """One extra source of a project, checked against the wire contract."""
    from pydantic import TypeAdapter

    from contract.payloads.burn import Source

    try:
        return TypeAdapter(Source).validate_python(source).model_dump(mode="json")  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise BurnError(f"数据源无效：{exc.errors()[0]['msg']}") from exc


def category_label(value: str | None, lang: str = "zh") -> str:
    if not value:
        return ""
    pair = CATEGORY_LABELS.get(Category(value))
    return (pair[0] if lang == "zh" else pair[1]) if pair else value


def parse_category(text: str) -> Category:
    text = (text or "").strip()
    for category, (zh, en) in CATEGORY_LABELS.items():
        if text in (zh, en, category.value) or text.lower() == en.lower():
            return category
    aliases = {
        "工程": Category.CONSTRUCTION,
        "采购": Category.PROCUREMENT,
        "土地": Category.LAND,
        "产权": Category.STATE_PROPERTY,
    }
    if text in aliases:
        return aliases[text]
    raise ValueError("类别应为 工程建设、政府采购、土地矿业权、国有产权 或 其他")


def list_projects(
    session: Session,
    centre_ids: Collection[str],
    *,
    status: ArchiveStatus | str | None = None,
    q: str = "",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[ArchiveProject], int]:
    query = select(ArchiveProject).where(col(ArchiveProject.centre_id).in_(sorted(centre_ids)))
    if status:
        query = query.where(ArchiveProject.archive_status == ArchiveStatus(status))
    if q:
        like = f"%{q}%"
        query = query.where(
            or_(col(ArchiveProject.number).like(like), col(ArchiveProject.name).like(like))
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(ArchiveProject.opening_date).desc(), col(ArchiveProject.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def get_project(
    session: Session, project_id: int, centre_ids: Collection[str]
) -> ArchiveProject | None:
    row = session.get(ArchiveProject, project_id)
    return row if row is not None and row.centre_id in centre_ids else None


def pending_projects(
    session: Session, centre_id: str, category: Category | None = None
) -> list[ArchiveProject]:
    """Projects of a centre whose archive is still pending, oldest opening first."""
    query = select(ArchiveProject).where(
        ArchiveProject.centre_id == centre_id,
        ArchiveProject.archive_status == ArchiveStatus.PENDING,
    )
    if category is not None:
        query = query.where(ArchiveProject.category == category)
    return list(
        session.exec(query.order_by(col(ArchiveProject.opening_date), col(ArchiveProject.id)))
    )


def project_recordings(session: Session, project: ArchiveProject) -> list[StoredFile]:
    """Complete files in the file store of the project's centre tagged with its number
    (``meta.project`` or ``meta.project_number``), e.g. evaluation-room recordings."""
    meta = col(StoredFile.meta)
    return list(
        session.exec(
            select(StoredFile)
            .where(
                StoredFile.centre_id == project.centre_id,
                StoredFile.state == UploadState.COMPLETE,
                or_(
                    meta["project"].as_string() == project.number,
                    meta["project_number"].as_string() == project.number,
                ),
            )
            .order_by(col(StoredFile.created_at))
        )
    )


def is_video(row: StoredFile) -> bool:
    return row.content_type.startswith("video/") or row.name.lower().endswith(VIDEO_SUFFIXES)


def project_sources(session: Session, project: ArchiveProject) -> list[dict[str, Any]]:
    """Everything a job for this project fetches: tagged recordings, then the extra sources.
    A recording whose bytes passed their decode check here is marked so, and the station does
    not decode it again when it puts it on the disc as it is."""
    recordings = project_recordings(session, project)
    checks = checks_for(session, recordings)
    sources: list[dict[str, Any]] = [
        {
            "kind": "file_store",
            "file_id": f.id,
            "url": f"/api/v1/files/{f.id}/content",
            "name": f.name,
            "sha256": f.sha256,
            "size": f.size,
            "media": "video" if is_video(f) else "auto",
            "decode_checked": f.id in checks and checks[f.id].ok,
        }
        for f in recordings
    ]
    return sources + list(project.sources)


# -- jobs -----------------------------------------------------------------------------------


def build_spec(
    session: Session,
    job: BurnJob,
    project: ArchiveProject,
    *,
    copies: Sequence[str],
    label_lines: Sequence[str] = (),
    centre_name: str = "",
    archive_url: str = "",
) -> dict[str, Any]:
    sources = project_sources(session, project)
    if not sources:
        raise BurnError(f"项目 {project.number} 没有可刻录的数据源（录像、NVR 时段或文档）")
    counts: dict[str, int] = {}
    for role in copies:
        counts[CopyRole(role).value] = counts.get(role, 0) + 1
    try:
        spec = BurnJobSpec.model_validate(
            {
                "job_id": job.id,
                "centre": job.centre_id,
                "project": {
                    "number": project.number,
                    "name": project.name,
                    "category": category_label(project.category),
                    "opening_date": project.opening_date,
                    "rooms": project.rooms,
                },
                "sources": sources,
                "copies": [{"role": r, "count": n} for r, n in counts.items()],
                "medium": Medium(job.medium).value,
                "label": {
                    "centre_name": centre_name,
                    "archive_url": archive_url,
                    "lines": list(label_lines)[:4],
                },
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BurnError(f"刻录任务参数无效（{where}）：{first['msg']}") from exc
    return spec.model_dump(mode="json")


def create_job(
    session: Session,
    settings: BurnSettings,
    project: ArchiveProject,
    *,
    medium: Medium | str | None = None,
    copies: Sequence[str] | None = None,
    station_id: str | None = None,
    origin: JobOrigin = JobOrigin.CONSOLE,
    created_by: str = "",
    schedule_id: int | None = None,
    import_id: int | None = None,
    dedupe_key: str | None = None,
    label_lines: Sequence[str] = (),
) -> BurnJob:
    """Add a queued job for one project (not committed; :func:`dispatch` sends it)."""
    copies = list(copies or settings.default_copies) or [CopyRole.ARCHIVE.value]
    job = BurnJob(
        id=str(uuid7()),
        centre_id=project.centre_id,
        project_id=project.id or 0,
        project_number=project.number,
        project_name=project.name,
        medium=Medium(medium or settings.default_medium),
        copies=[CopyRole(c).value for c in copies],
        station_id=station_id or None,
        origin=origin,
        created_by=created_by,
        schedule_id=schedule_id,
        import_id=import_id,
        dedupe_key=dedupe_key,
    )
    archive_url = ""
    if settings.archive_url:
        # the station puts each disc's id in place of {disc_id}: the QR opens its record
        archive_url = f"{settings.archive_url.rstrip('/')}/burn/discs/{{disc_id}}"
    centre = session.get(Centre, project.centre_id)
    job.spec = build_spec(
        session,
        job,
        project,
        copies=job.copies,
        label_lines=label_lines,
        centre_name=centre.name if centre is not None else "",
        archive_url=archive_url,
    )
    project.archive_status = ArchiveStatus.QUEUED
    project.updated_at = utcnow()
    session.add(project)
    session.add(job)
    session.add(
        BurnJobLog(
            job_id=job.id, state=JobState.QUEUED.value, message=f"创建（{ORIGIN_ZH[origin]}）"
        )
    )
    session.flush()
    return job


def active_job_for(session: Session, project_id: int) -> BurnJob | None:
    return session.exec(
        select(BurnJob).where(
            BurnJob.project_id == project_id, col(BurnJob.state).in_(ACTIVE_STATES)
        )
    ).first()


def stations(session: Session, settings: BurnSettings, centre_ids: Collection[str]) -> list[Device]:
    """Enabled burn stations of these centres, online ones first."""
    rows = session.exec(
        select(Device).where(
            col(Device.centre_id).in_(sorted(centre_ids)),
            col(Device.kind).in_(settings.station_kinds),
            Device.enabled == True,  # noqa: E712
        )
    )
    return sorted(rows, key=lambda d: (not d.online, d.id))


def pick_station(session: Session, settings: BurnSettings, job: BurnJob) -> Device | None:
    if job.station_id:
        device = session.get(Device, job.station_id)
        ok = device is not None and device.enabled and device.centre_id == job.centre_id
        return device if ok else None
    candidates = stations(session, settings, [job.centre_id])
    if not candidates:
        return None
    busy = dict(
        session.exec(
            select(BurnJob.station_id, func.count())
            .where(col(BurnJob.state).in_(ACTIVE_STATES), col(BurnJob.station_id).is_not(None))
            .group_by(col(BurnJob.station_id))
        ).all()
    )
    return min(candidates, key=lambda d: (not d.online, busy.get(d.id, 0), d.id))


def dispatch(
    session: Session, publisher: Publisher, settings: BurnSettings, job: BurnJob, *, actor: str = ""
) -> Command | None:
    """Send a queued job to a burn station of its centre as a durable command (queued for
    an offline station, re-sent when it comes back). Commits. None: no station yet."""
    station = pick_station(session, settings, job)
    if station is None:
        job.message = "本中心没有可用的刻录工作站，等待分配"
        job.updated_at = utcnow()
        session.add(job)
        session.commit()
        return None
    job.station_id = station.id
    session.add(job)
    session.flush()
    command = commands.send_command(
        session,
        publisher,
        device_id=station.id,
        action=f"{settings.station_instance}.burn",
        args=job.spec,
        ttl_s=settings.command_ttl_s,
        durable=True,
        created_by=actor or job.created_by,
    )
    job.command_id = command.id
    job.message = "已下发至刻录工作站" if command.state == CommandState.SENT else "等待工作站上线"
    job.updated_at = utcnow()
    session.add(job)
    session.add(BurnJobLog(job_id=job.id, state=job.state.value, message=f"下发至 {station.id}"))
    session.commit()
    return command


def dispatch_waiting(session: Session, publisher: Publisher, settings: BurnSettings) -> int:
    """Send queued jobs that have no command yet (no station was available)."""
    waiting = list(
        session.exec(
            select(BurnJob)
            .where(BurnJob.state == JobState.QUEUED, col(BurnJob.command_id).is_(None))
            .limit(200)
        )
    )
    sent = 0
    for job in waiting:
        if dispatch(session, publisher, settings, job) is not None:
            sent += 1
    return sent


def fail_unanswered(session: Session) -> int:
    """Queued jobs whose burn command ended without the station taking it up
    (rejected, expired, busy, failed) are marked failed so that an operator sees them."""
    rows = session.exec(
        select(BurnJob, Command)
        .join(Command, col(Command.id) == col(BurnJob.command_id))
        .where(
            BurnJob.state == JobState.QUEUED,
            col(Command.state).in_(
                [
                    CommandState.REJECTED,
                    CommandState.EXPIRED,
                    CommandState.BUSY,
                    CommandState.FAILED,
                ]
            ),
        )
    ).all()
    for job, command in rows:
        set_state(
            session,
            job,
            JobState.FAILED,
            error=f"指令未执行：{command.state} {command.message}",
            failed_stage=JobState.FETCHING.value,
        )
    if rows:
        session.commit()
    return len(rows)


def set_state(
    session: Session,
    job: BurnJob,
    state: JobState,
    *,
    progress: float | None = None,
    message: str = "",
    error: str = "",
    failed_stage: str | None = None,
    ts: datetime | None = None,
) -> None:
    """Move a job (no commit) and keep its project's archive status in step."""
    now = ts or utcnow()
    job.state = state
    if progress is not None:
        job.progress = progress
    job.message = message or job.message
    if state == JobState.FAILED:
        job.error = error or job.error
        job.failed_stage = failed_stage or job.failed_stage
    elif error:
        job.error = error
    job.updated_at = utcnow()
    if state.final:
        job.finished_at = now
    session.add(job)
    session.add(
        BurnJobLog(
            job_id=job.id, ts=now, state=state.value, progress=progress, message=error or message
        )
    )
    project = session.get(ArchiveProject, job.project_id)
    if project is not None:
        if state == JobState.DONE:
            project.archive_status = ArchiveStatus.DONE
        elif state == JobState.CANCELLED:
            project.archive_status = ArchiveStatus.PENDING
        elif not state.final:
            project.archive_status = ArchiveStatus.QUEUED
        project.updated_at = utcnow()
        session.add(project)


def retry_job(
    session: Session,
    publisher: Publisher,
    settings: BurnSettings,
    job: BurnJob,
    *,
    actor: str = "",
    from_stage: str | None = None,
) -> None:
    """Run a failed (or cancelled) job again from the stage that failed. A job the station
    never took up is sent again whole."""
    if job.state not in (JobState.FAILED, JobState.CANCELLED):
        raise BurnError("只有失败或已取消的任务可以重试")
    stage = from_stage or job.failed_stage
    if stage is not None and stage not in {s.value for s in STAGES}:
        raise BurnError(f"未知阶段 {stage}")
    started = session.exec(
        select(func.count())
        .select_from(BurnJobLog)
        .where(BurnJobLog.job_id == job.id, col(BurnJobLog.state).in_([s.value for s in STAGES]))
    ).one()
    set_state(session, job, JobState.QUEUED, message=f"重试（{stage or '全部'}）")
    job.error = ""
    job.finished_at = None
    if not started or job.station_id is None:
        job.command_id = None
        session.commit()
        dispatch(session, publisher, settings, job, actor=actor)
        return
    session.commit()
    command = commands.send_command(
        session,
        publisher,
        device_id=job.station_id,
        action=f"{settings.station_instance}.retry",
        args=RetryArgs.model_validate({"job_id": job.id, "from_stage": stage}).model_dump(
            mode="json"
        ),
        ttl_s=settings.command_ttl_s,
        durable=True,
        created_by=actor,
    )
    job.retry_command_id = command.id
    job.command_id = command.id  # followed from now on (the burn command ended failed)
    session.add(job)
    session.commit()


def cancel_job(
    session: Session, publisher: Publisher, settings: BurnSettings, job: BurnJob, *, actor: str = ""
) -> None:
    """Cancel a job: at once when the station has not taken it up, else ask the station
    (its ``cancelled`` state event ends the job)."""
    if job.state.final:
        raise BurnError("任务已结束")
    command = session.get(Command, job.command_id) if job.command_id else None
    if (
        command is None
        or command.state in (CommandState.QUEUED, CommandState.OFFLINE)
        or (command.state.final and job.state == JobState.QUEUED)
    ):
        if command is not None and not command.state.final:
            command.state = CommandState.EXPIRED
            command.message = "cancelled"
            command.updated_at = utcnow()
            session.add(command)
        set_state(session, job, JobState.CANCELLED, message=f"已取消（{actor}）")
        session.commit()
        return
    job.message = "已请求取消"
    session.add(job)
    session.add(BurnJobLog(job_id=job.id, state=job.state.value, message=f"{actor} 请求取消"))
    session.commit()
    if job.station_id:
        commands.send_command(
            session,
            publisher,
            device_id=job.station_id,
            action=f"{settings.station_instance}.cancel",
            args=BurnJobRef.model_validate({"job_id": job.id}).model_dump(mode="json"),
            ttl_s=3600,
            durable=True,
            created_by=actor,
        )


def list_jobs(
    session: Session,
    centre_ids: Collection[str],
    *,
    state: str | None = None,
    q: str = "",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[BurnJob], int]:
    query = select(BurnJob).where(col(BurnJob.centre_id).in_(sorted(centre_ids)))
    if state:
        query = query.where(BurnJob.state == JobState(state))
    if q:
        like = f"%{q}%"
        query = query.where(
            or_(col(BurnJob.project_number).like(like), col(BurnJob.project_name).like(like))
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(BurnJob.created_at).desc(), col(BurnJob.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def get_job(session: Session, job_id: str, centre_ids: Collection[str]) -> BurnJob | None:
    row = session.get(BurnJob, job_id)
    return row if row is not None and row.centre_id in centre_ids else None


def job_log(session: Session, job_id: str, limit: int = 500) -> list[BurnJobLog]:
    return list(
        session.exec(
            select(BurnJobLog)
            .where(BurnJobLog.job_id == job_id)
            .order_by(col(BurnJobLog.id))
            .limit(limit)
        )
    )
