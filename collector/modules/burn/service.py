"""Archive projects and burn jobs: create, dispatch to a burn station, retry, cancel.

Plain functions over a session. :func:`upsert_project` is the public entry for other modules
(issue #7's projects and sessions feed the archive through it). A project's recordings are
found through the experts module's public functions (the room terminals tag their uploads with
a session only).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from collector.centres.models import Centre
from collector.commands import service as commands
from collector.commands.models import Command, CommandState
from collector.db_types import utcnow
from collector.devices.models import Device
from collector.files.models import StoredFile, UploadState
from collector.modules.burn.cameras import camera_sources
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
    RecordingCheck,
)
from collector.modules.burn.playback import VIDEO_SUFFIXES
from collector.modules.burn.recording_check import checks_for
from collector.modules.burn.settings import BurnSettings
from collector.modules.experts import service as experts
from collector.publisher import Publisher
from contract.ids import uuid7
from contract.payloads.burn import (
    NVR_KINDS,
    NVR_VIDEO_KIND,
    BurnJobRef,
    BurnJobSpec,
    NvrClipMeta,
    NvrIsapiSource,
    RetryArgs,
    RtspSource,
    Source,
    nvr_key,
)

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


def failing_repeatedly(session: Session, project_id: int, limit: int) -> bool:
    """Whether the project's newest ``limit`` jobs all failed (cancelled ones don't count)."""
    states = session.exec(
        select(BurnJob.state)
        .where(BurnJob.project_id == project_id, BurnJob.state != JobState.CANCELLED)
        .order_by(col(BurnJob.created_at).desc())
        .limit(limit)
    ).all()
    return len(states) == limit and all(state == JobState.FAILED for state in states)


def project_recordings(
    session: Session, project: ArchiveProject, settings: BurnSettings | None = None
) -> list[StoredFile]:
    """Complete files in the file store of the project's centre that belong to it: the
    evaluation-room recordings linked to one of its sessions (experts module), and files whose
    uploader tagged them with its number (``meta.project`` or ``meta.project_number``), among
    them the NVR video burn stations upload. Oldest first. Of the NVR clips (:func:`nvr_clip`)
    only one upload set per ``nvr_key`` is listed (:func:`_choose_clips`): two jobs that
    fetched the same window, or a retry that cut it into another number of parts, store it
    more than once. With ``settings``, a set a burn station of the centre uploaded comes
    before one any other device did; without, the uploader is not weighed (for callers that
    only ask whether the project has recordings)."""
    return _project_files(session, project, settings)[0]


def _project_files(
    session: Session, project: ArchiveProject, settings: BurnSettings | None
) -> tuple[list[StoredFile], dict[str, RecordingCheck], set[str] | None]:
    """:func:`project_recordings`, the decode checks of all the project's files, and the ids
    of the centre's enabled burn stations (None without ``settings``)."""
    meta = col(StoredFile.meta)
    rows = list(
        session.exec(
            select(StoredFile)
            .where(
                StoredFile.centre_id == project.centre_id,
                StoredFile.state == UploadState.COMPLETE,
                or_(
                    col(StoredFile.id).in_(
                        experts.project_recording_ids(project.centre_id, project.number)
                    ),
                    meta["project"].as_string() == project.number,
                    meta["project_number"].as_string() == project.number,
                ),
            )
            .order_by(col(StoredFile.created_at), col(StoredFile.id))
        )
    )
    checks = checks_for(session, rows)
    station_ids = (
        None
        if settings is None
        else {d.id for d in stations(session, settings, [project.centre_id])}
    )
    return _choose_clips(rows, checks, station_ids), checks, station_ids


def _choose_clips(
    rows: Sequence[StoredFile],
    checks: Mapping[str, RecordingCheck],
    station_ids: Collection[str] | None,
) -> list[StoredFile]:
    """``rows`` (oldest first) with one upload set of NVR clips per ``nvr_key``: the clips of
    one job cut into the same number of parts by one device. Chosen first: a set a burn station
    of the centre uploaded (``station_ids``; all devices alike when None), then a complete
    set (every part 1…N) without a warning and without a part that failed its decode check,
    then a complete set without failed parts, then the oldest set. Of a part stored twice in
    a set, the oldest file that did not fail its check."""
    clips = {row.id: clip for row in rows if (clip := nvr_clip(row)) is not None}
    sets: dict[str, dict[tuple[str, int, str], dict[int, StoredFile]]] = {}
    for row in rows:
        clip = clips.get(row.id)
        if clip is None:
            continue
        parts = sets.setdefault(clip.nvr_key, {}).setdefault(
            (clip.job_id, clip.parts, row.device_id or ""), {}
        )
        held = parts.get(clip.part)
        if held is None or (_failed(held, checks) and not _failed(row, checks)):
            parts[clip.part] = row

    def rank(
        item: tuple[int, tuple[tuple[str, int, str], dict[int, StoredFile]]],
    ) -> tuple[bool, bool, bool, int]:
        order, ((_, count, device), parts) = item
        trusted = station_ids is None or device in station_ids
        complete = sorted(parts) == list(range(1, count + 1))
        sound = complete and not any(_failed(f, checks) for f in parts.values())
        warned = any(clips[f.id].warning for f in parts.values())
        return (not trusted, not (sound and not warned), not sound, order)

    chosen: set[str] = set()
    for key_sets in sets.values():
        _, (_, parts) = min(enumerate(key_sets.items()), key=rank)
        chosen.update(f.id for f in parts.values())
    return [row for row in rows if row.id not in clips or row.id in chosen]


def _failed(row: StoredFile, checks: Mapping[str, RecordingCheck]) -> bool:
    """Whether the collector's decode check of the file's current bytes failed."""
    check = checks.get(row.id)
    return check is not None and check.ok is False


def nvr_clip(row: StoredFile) -> NvrClipMeta | None:
    """What a stored file says of the NVR video it is: a file uploaded as a burn station's
    NVR video (``meta.kind`` :data:`~contract.payloads.burn.NVR_VIDEO_KIND`, meta
    :class:`~contract.payloads.burn.NvrClipMeta`); None for any other file. Who uploaded it
    is not checked here: see :func:`stored_nvr_keys`."""
    if row.meta.get("kind") != NVR_VIDEO_KIND or "nvr_key" not in row.meta:
        return None
    try:
        return NvrClipMeta.model_validate(row.meta)
    except ValidationError:
        return None


def stored_nvr_keys(
    recordings: Collection[StoredFile],
    *,
    station_ids: Collection[str],
    checks: Mapping[str, RecordingCheck],
    allow_partial_video: bool = False,
) -> set[str]:
    """Keys of the NVR video the file store holds whole, among ``recordings`` (as
    :func:`project_recordings` gives them, one upload set per key): every part from 1 to
    ``parts`` of one job, each uploaded complete by a burn station of the project's centre
    (``station_ids``: another device's file never stands in for the NVR) and none failing
    the collector's decode check (``checks``, :func:`~.recording_check.checks_for`; a part
    not checked yet counts). Video a station archived incomplete (``warning``) counts only
    for a job that allows partial video: for any other the NVR is asked again, it may still
    have it all."""
    clips: dict[str, list[tuple[StoredFile, NvrClipMeta]]] = {}
    for row in recordings:
        clip = nvr_clip(row)
        if clip is not None:
            clips.setdefault(clip.nvr_key, []).append((row, clip))
    return {
        key
        for key, held in clips.items()
        if len({(c.job_id, c.parts) for _, c in held}) == 1
        and sorted(c.part for _, c in held) == list(range(1, held[0][1].parts + 1))
        and all(f.device_id in station_ids for f, _ in held)
        and not any(_failed(f, checks) for f, _ in held)
        and (allow_partial_video or not any(c.warning for _, c in held))
    }


_SOURCE: TypeAdapter[Any] = TypeAdapter(Source)


def source_nvr_key(source: dict[str, Any]) -> str | None:
    """The :func:`~contract.payloads.burn.nvr_key` of an NVR source (as a job sends it); None
    for any other source."""
    if source.get("kind") not in NVR_KINDS:
        return None
    try:
        model = _SOURCE.validate_python(source)
    except ValidationError:
        return None
    return nvr_key(model) if isinstance(model, NvrIsapiSource | RtspSource) else None


def file_project(session: Session, row: StoredFile) -> ArchiveProject | None:
    """The archive project of the file's centre that a stored file belongs to (see
    :func:`project_recordings`), if any."""
    numbers = {str(row.meta[k]) for k in ("project", "project_number") if row.meta.get(k)}
    linked = experts.recording_project(session, row.id)
    if linked is not None and linked[0] == row.centre_id:
        numbers.add(linked[1])
    if not numbers or row.centre_id is None:
        return None
    return session.exec(
        select(ArchiveProject).where(
            ArchiveProject.centre_id == row.centre_id,
            col(ArchiveProject.number).in_(sorted(numbers)),
        )
    ).first()


def project_file(session: Session, file_id: str, centre_ids: Collection[str]) -> StoredFile | None:
    """A complete file of an archive project the user may see, for playback. Other files in
    the store (visitors' photos, agents' uploads) stay behind the file API's own permission."""
    row = session.get(StoredFile, file_id)
    if row is None or row.centre_id not in centre_ids or row.state != UploadState.COMPLETE:
        return None
    return row if file_project(session, row) is not None else None


def is_video(row: StoredFile) -> bool:
    return row.content_type.startswith("video/") or row.name.lower().endswith(VIDEO_SUFFIXES)


def project_sources(
    session: Session,
    settings: BurnSettings,
    project: ArchiveProject,
    *,
    allow_partial_video: bool = False,
) -> list[dict[str, Any]]:
    """Everything a job for this project fetches: its recordings, its rooms' NVR video of its
    sessions (:mod:`~collector.modules.burn.cameras`), then the sources named by hand.
    A recording whose bytes passed their decode check here is marked so, and the station does
    not decode it again when it puts it on the disc as it is.

    NVR video a station already stored whole (:func:`stored_nvr_keys`: every part, uploaded by
    a burn station of the centre, none failing its decode check) comes from the file store, as
    recordings: its NVR source is left out, and the NVR, which overwrites its disk after some
    weeks, is not asked again. An NVR source that is still fetched leaves out the parts of its
    video stored so far, so that video is not on the disc twice (clips stored under another
    key, e.g. of a session whose times changed since, are other recordings and go on the disc
    too). A stored clip archived incomplete carries its warning into the disc's manifest."""
    recordings, checks, station_ids = _project_files(session, project, settings)
    stored = stored_nvr_keys(
        recordings,
        station_ids=station_ids or (),
        checks=checks,
        allow_partial_video=allow_partial_video,
    )
    asked: set[str] = set()

    def keep(source: dict[str, Any]) -> bool:
        key = source_nvr_key(source)
        if key is not None and key not in stored:
            asked.add(key)
        return key is None or key not in stored

    cameras = [validate_source(s) for s in camera_sources(session, settings, project)]
    cameras = [s for s in cameras if keep(s)]
    by_hand = [s for s in project.sources if keep(s)]
    recordings = [
        f for f in recordings if (clip := nvr_clip(f)) is None or clip.nvr_key not in asked
    ]
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
            **_warning(f),
        }
        for f in recordings
    ]
    return sources + cameras + by_hand


def _warning(row: StoredFile) -> dict[str, str]:
    """``warning`` of a stored NVR clip archived incomplete; sent only when there is one, so
    that other jobs stay readable by stations that predate it."""
    clip = nvr_clip(row)
    return {"warning": clip.warning} if clip is not None and clip.warning else {}


# -- jobs -----------------------------------------------------------------------------------


def build_spec(
    session: Session,
    job: BurnJob,
    project: ArchiveProject,
    settings: BurnSettings,
    *,
    copies: Sequence[str],
    label_lines: Sequence[str] = (),
    centre_name: str = "",
    archive_url: str = "",
    allow_partial_video: bool = False,
) -> dict[str, Any]:
    sources = project_sources(session, settings, project, allow_partial_video=allow_partial_video)
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
                "allow_partial_video": allow_partial_video,
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
    allow_partial_video: bool = False,
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
        station_chosen=bool(station_id),
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
        settings,
        copies=job.copies,
        label_lines=label_lines,
        centre_name=centre.name if centre is not None else "",
        archive_url=archive_url,
        allow_partial_video=allow_partial_video,
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


def station_load(session: Session) -> dict[str, int]:
    """Jobs sent to each station and not finished: each holds one of its command slots."""
    rows = session.exec(
        select(BurnJob.station_id, func.count())
        .where(
            col(BurnJob.state).in_(ACTIVE_STATES),
            col(BurnJob.station_id).is_not(None),
            col(BurnJob.command_id).is_not(None),
        )
        .group_by(col(BurnJob.station_id))
    ).all()
    return {station: int(n) for station, n in rows if station is not None}


def candidate_stations(
    session: Session, settings: BurnSettings, job: BurnJob, started: bool
) -> list[Device]:
    """The job's own station (chosen by a person, or one that worked on it, which keeps what
    it fetched and staged: ``started``, see :func:`_started`), else those of its centre."""
    if job.station_id and (job.station_chosen or started):
        device = session.get(Device, job.station_id)
        ok = device is not None and device.enabled and device.centre_id == job.centre_id
        return [device] if ok and device is not None else []
    return stations(session, settings, [job.centre_id])


def pick_station(
    session: Session, settings: BurnSettings, job: BurnJob, candidates: list[Device]
) -> Device | None:
    """The one of ``candidates`` (:func:`candidate_stations`) with room for one more job
    (online first, then the least loaded). A job whose picked station answered "busy" before
    starting it may go to any station of its centre, that one last."""
    load = station_load(session)
    free = [d for d in candidates if load.get(d.id, 0) < settings.max_jobs_per_station]
    return min(
        free,
        key=lambda d: (not d.online, d.id == job.station_id, load.get(d.id, 0), d.id),
        default=None,
    )


def _wait(session: Session, job: BurnJob, message: str) -> None:
    """Leave the job queued without a command; :func:`dispatch_waiting` tries it again."""
    if job.message != message:  # the waiting loop retries often: write only a change
        job.message = message
        job.updated_at = utcnow()
        session.add(job)
    session.commit()


def _started(session: Session, job: BurnJob) -> bool:
    """Whether a station ever worked on the job (it keeps what it fetched and staged)."""
    if job.station_id is None:
        return False
    count = session.exec(
        select(func.count())
        .select_from(BurnJobLog)
        .where(BurnJobLog.job_id == job.id, col(BurnJobLog.state).in_([s.value for s in STAGES]))
    ).one()
    return bool(count)


def dispatch(
    session: Session, publisher: Publisher, settings: BurnSettings, job: BurnJob, *, actor: str = ""
) -> Command | None:
    """Send a queued job to a burn station of its centre as a durable command (queued for
    an offline station, re-sent when it comes back). A job a station already worked on is
    re-run there from ``job.failed_stage`` (``retry``). A station gets at most
    ``max_jobs_per_station`` jobs at once, since it answers "busy" beyond its command slots;
    otherwise, as without any station, the job waits. Commits. None: the job waits."""
    resume = _started(session, job)  # once: it counts log lines
    candidates = candidate_stations(session, settings, job, resume)
    if not candidates:
        _wait(session, job, "本中心没有可用的刻录工作站，等待分配")
        return None
    station = pick_station(session, settings, job, candidates)
    if station is None:
        limit = settings.max_jobs_per_station
        _wait(session, job, f"排队等待：刻录工作站已满负荷（每站同时 {limit} 个任务）")
        return None
    job.station_id = station.id
    session.add(job)
    session.flush()
    action, args = "burn", job.spec
    if resume:
        action = "retry"
        args = RetryArgs.model_validate(
            {"job_id": job.id, "from_stage": job.failed_stage}
        ).model_dump(mode="json")
    command = commands.send_command(
        session,
        publisher,
        device_id=station.id,
        action=f"{settings.station_instance}.{action}",
        args=args,
        ttl_s=settings.command_ttl_s,
        durable=True,
        created_by=actor or job.created_by,
    )
    job.command_id = command.id
    if resume:
        job.retry_command_id = command.id
    job.message = "已下发至刻录工作站" if command.state == CommandState.SENT else "等待工作站上线"
    job.updated_at = utcnow()
    session.add(job)
    session.add(BurnJobLog(job_id=job.id, state=job.state.value, message=f"下发至 {station.id}"))
    session.commit()
    return command


def dispatch_waiting(session: Session, publisher: Publisher, settings: BurnSettings) -> int:
    """Send queued jobs that have no command yet (no station had room), oldest first."""
    waiting = list(
        session.exec(
            select(BurnJob)
            .where(BurnJob.state == JobState.QUEUED, col(BurnJob.command_id).is_(None))
            .order_by(col(BurnJob.created_at), col(BurnJob.id))
            .limit(200)
        )
    )
    sent = 0
    for job in waiting:
        if dispatch(session, publisher, settings, job) is not None:
            sent += 1
    return sent


def requeue_busy(session: Session) -> int:
    """Queued jobs whose command the station answered "busy" (every command slot of its
    agent taken, e.g. by a re-verification) wait again instead of failing: the next
    :func:`dispatch_waiting` sends them when a slot is free."""
    rows = session.exec(
        select(BurnJob, Command)
        .join(Command, col(Command.id) == col(BurnJob.command_id))
        .where(BurnJob.state == JobState.QUEUED, Command.state == CommandState.BUSY)
    ).all()
    for job, command in rows:
        job.command_id = None  # a picked station not yet started on is tried last next time
        job.message = "刻录工作站忙，重新排队"
        job.updated_at = utcnow()
        session.add(job)
        note = f"{command.device_id} 忙（{command.message}），重新排队"
        session.add(BurnJobLog(job_id=job.id, state=job.state.value, message=note))
    if rows:
        session.commit()
    return len(rows)


def fail_unanswered(session: Session) -> int:
    """Queued jobs whose command ended without the station taking it up (rejected,
    expired, failed) are marked failed so that an operator sees them. "busy" is not such
    an end: :func:`requeue_busy` sends those again."""
    rows = session.exec(
        select(BurnJob, Command)
        .join(Command, col(Command.id) == col(BurnJob.command_id))
        .where(
            BurnJob.state == JobState.QUEUED,
            col(Command.state).in_(
                [CommandState.REJECTED, CommandState.EXPIRED, CommandState.FAILED]
            ),
        )
    ).all()
    for job, command in rows:
        set_state(
            session,
            job,
            JobState.FAILED,
            error=f"指令未执行：{command.state} {command.message}",
            failed_stage=job.failed_stage or JobState.FETCHING.value,
        )
    if rows:
        session.commit()
    return len(rows)


PROGRESS_LOG_S = 60.0
"""A job's log takes a progress report within one stage at most this often. Stations report
about once a second; a line each would bury a long job's last lines."""


def _log_due(session: Session, job_id: str, now: datetime) -> bool:
    last = session.exec(
        select(BurnJobLog.ts)
        .where(BurnJobLog.job_id == job_id)
        .order_by(col(BurnJobLog.id).desc())
        .limit(1)
    ).first()
    return last is None or (now - last).total_seconds() >= PROGRESS_LOG_S


def project_status(session: Session, project_id: int) -> ArchiveStatus:
    """From the project's jobs: queued while one is under way, done once one finished, else
    pending (none yet, or they failed or were cancelled), which schedules pick up again."""
    states = set(session.exec(select(BurnJob.state).where(BurnJob.project_id == project_id)))
    if states & set(ACTIVE_STATES):
        return ArchiveStatus.QUEUED
    return ArchiveStatus.DONE if JobState.DONE in states else ArchiveStatus.PENDING


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
    """Move a job (no commit) and keep its project's archive status in step. The log gets
    every change of stage and every error, and progress within a stage now and then."""
    now = ts or utcnow()
    changed = job.state != state
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
    if changed or error or _log_due(session, job.id, now):
        session.add(
            BurnJobLog(
                job_id=job.id,
                ts=now,
                state=state.value,
                progress=progress,
                message=error or message,
            )
        )
    project = session.get(ArchiveProject, job.project_id) if changed else None
    if project is not None:  # only a change of state can change the project's status
        session.flush()  # the query below sees this job's new state
        project.archive_status = project_status(session, project.id or 0)
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
    """Run a failed (or cancelled) job again from the stage that failed (or ``from_stage``)
    on the station that worked on it; a job no station took up is sent again whole. It
    queues like a new job when the station is full."""
    if job.state not in (JobState.FAILED, JobState.CANCELLED):
        raise BurnError("只有失败或已取消的任务可以重试")
    stage = from_stage or job.failed_stage
    if stage is not None and stage not in {s.value for s in STAGES}:
        raise BurnError(f"未知阶段 {stage}")
    if active_job_for(session, job.project_id) is not None:
        # the project went back to pending when this job failed, and a new job took it up
        raise BurnError(f"项目 {job.project_number} 已有进行中的刻录任务")
    set_state(session, job, JobState.QUEUED, message=f"重试（{stage or '全部'}）")
    job.error = ""
    job.finished_at = None
    job.failed_stage = stage  # where the station starts again; its next report clears it
    job.command_id = None
    session.add(job)
    session.commit()
    dispatch(session, publisher, settings, job, actor=actor)


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


JOB_LOG_LINES = 200


def job_log(session: Session, job_id: str, limit: int = JOB_LOG_LINES) -> list[BurnJobLog]:
    """The newest ``limit`` lines of a job's log, oldest first: how a failed job ended is
    at its end."""
    newest = session.exec(
        select(BurnJobLog)
        .where(BurnJobLog.job_id == job_id)
        .order_by(col(BurnJobLog.id).desc())
        .limit(limit)
    )
    return list(reversed(list(newest)))
