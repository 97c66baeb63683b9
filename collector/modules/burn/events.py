"""Event-bus handlers: what burn stations report moves jobs, fills the archive and tracks
drives. They run inside the ingest transaction for newly stored events only (no commit)."""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlmodel import Session, col, delete, select

from collector.commands.models import Command, CommandState
from collector.db_types import utcnow
from collector.ingest.models import StoredEvent
from collector.modules.burn.models import (
    ArchiveProject,
    BurnJob,
    Disc,
    DiscFile,
    Drive,
    JobState,
    VerifyResult,
)
from collector.modules.burn.service import set_state
from collector.modules.burn.settings import BurnSettings
from contract.payloads.burn import BurnDisc, BurnJobState, DiscCheck, DriveState

log = logging.getLogger(__name__)


def due_after(when: datetime | date, years: int) -> date:
    day = when.date() if isinstance(when, datetime) else when
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _job_of(session: Session, event: StoredEvent, job_id: str) -> BurnJob | None:
    job = session.get(BurnJob, job_id)
    if job is None or job.centre_id != event.centre_id:
        log.warning("burn event %s from %s names unknown job %s", event.id, event.device_id, job_id)
        return None
    return job


def on_job_state(session: Session, event: StoredEvent) -> None:
    payload = BurnJobState.model_validate(event.payload)
    job = _job_of(session, event, str(payload.job_id))
    if job is None:
        return
    state = JobState(payload.stage)
    if job.last_event_at is not None and event.ts < job.last_event_at:
        return  # an older report arriving late (after a resend): the newer one stands
    if (
        job.state == JobState.CANCELLED
        and state != JobState.CANCELLED
        and payload.attempt <= job.attempt
    ):
        return
    job.last_event_at = event.ts
    job.attempt = max(job.attempt, payload.attempt)
    if job.station_id is None:
        job.station_id = event.device_id
    if state != JobState.FAILED:
        job.failed_stage = job.failed_stage if state == JobState.QUEUED else None
        job.error = ""
    set_state(
        session,
        job,
        state,
        progress=payload.progress,
        message=payload.message,
        error=payload.error,
        failed_stage=payload.failed_stage,
        ts=event.ts,
    )


def make_disc_handler(settings: BurnSettings):  # type: ignore[no-untyped-def]
    def on_disc(session: Session, event: StoredEvent) -> None:
        payload = BurnDisc.model_validate(event.payload)
        job = _job_of(session, event, str(payload.job_id))
        if job is None:
            return
        disc = session.get(Disc, str(payload.disc_id))
        if disc is not None and disc.attempt > payload.attempt:
            return  # a later re-burn of this disc is already recorded
        project = session.get(ArchiveProject, job.project_id)
        if disc is None:
            disc = Disc(id=str(payload.disc_id), centre_id=job.centre_id, job_id=job.id)
        disc.project_id = job.project_id
        disc.project_number = payload.project_number or job.project_number
        disc.project_name = job.project_name
        if project is not None:
            disc.category = project.category.value
            disc.opening_date = project.opening_date
        disc.disc_index = payload.disc_index
        disc.disc_count = payload.disc_count
        disc.copy_role = payload.copy_role  # type: ignore[assignment]
        disc.copy_number = payload.copy_number
        disc.medium = payload.medium
        disc.volume_id = payload.volume_id
        disc.station_id = event.device_id
        disc.drive = payload.drive
        disc.burned_at = payload.burned_at
        disc.verify = VerifyResult(payload.verify)
        disc.verify_detail = payload.verify_detail
        disc.attempt = payload.attempt
        disc.image_size = payload.image_size
        disc.image_sha256 = payload.image_sha256
        if payload.verify == "ok":
            disc.last_verified_at = payload.burned_at
            disc.next_verify_due = due_after(payload.burned_at, settings.reverify_years)
        else:
            disc.next_verify_due = None
        session.add(disc)
        session.flush()
        session.exec(delete(DiscFile).where(col(DiscFile.disc_id) == disc.id))  # type: ignore[call-overload]
        session.add_all(
            DiscFile(
                disc_id=disc.id,
                centre_id=disc.centre_id,
                path=f.path,
                size=f.size,
                sha256=f.sha256,
                duration_s=f.duration_s,
                codec=f.codec,
                media=f.media,
            )
            for f in payload.files
        )

    return on_disc


def on_drive_state(session: Session, event: StoredEvent) -> None:
    payload = DriveState.model_validate(event.payload)
    drive = session.exec(
        select(Drive).where(Drive.station_id == event.device_id, Drive.drive == payload.drive)
    ).first()
    if drive is None:
        drive = Drive(centre_id=event.centre_id, station_id=event.device_id, drive=payload.drive)
    elif drive.updated_at > event.ts:
        return
    drive.device = payload.device
    drive.state = payload.state
    drive.medium = payload.medium.type if payload.medium else ""
    drive.blank = payload.medium.blank if payload.medium else None
    drive.capacity = payload.medium.capacity_bytes if payload.medium else None
    drive.free = payload.medium.free_bytes if payload.medium else None
    drive.current_job_id = str(payload.job_id) if payload.job_id else None
    drive.message = payload.message
    drive.updated_at = event.ts
    session.add(drive)


WRONG_DISC = (
    "驱动器中的光盘不是所要求的光盘：驱动器 {drive} 中是项目 {project} 的光盘"
    "（卷标 {volume}，光盘编号 {found}），未复检，两张光盘的记录均未更改。"
    "请放入所要求的光盘后重新复检。"
)


def on_wrong_disc(session: Session, event: StoredEvent, payload: DiscCheck) -> None:
    """The drive held another disc than the one asked for: the asked-for disc's re-verify
    command fails with the reason; neither disc's verify result changes (none was read)."""
    disc = session.get(Disc, str(payload.disc_id)) if payload.disc_id else None
    if disc is None or disc.centre_id != event.centre_id:
        log.warning("wrong-disc check %s names no known disc", event.id)
        return
    command = session.get(Command, disc.reverify_command_id) if disc.reverify_command_id else None
    if command is None or (command.device_id, command.args.get("drive")) != (
        event.device_id,
        payload.drive,
    ):
        return  # not the re-verify this station's drive answered (a later request replaced it)
    command.state = CommandState.FAILED  # also when the station's own failure came first
    command.message = WRONG_DISC.format(
        drive=payload.drive,
        project=payload.project_number or "?",
        volume=payload.volume_id or "?",
        found=payload.found_disc_id or "?",
    )
    command.updated_at = utcnow()
    session.add(command)  # the disc keeps the command: its page shows why


def make_check_handler(settings: BurnSettings):  # type: ignore[no-untyped-def]
    def on_disc_check(session: Session, event: StoredEvent) -> None:
        payload = DiscCheck.model_validate(event.payload)
        if payload.outcome == "wrong_disc":
            on_wrong_disc(session, event, payload)
            return
        disc = session.get(Disc, str(payload.disc_id)) if payload.disc_id else None
        if disc is None and payload.volume_id:
            disc = session.exec(
                select(Disc).where(
                    Disc.volume_id == payload.volume_id, Disc.centre_id == event.centre_id
                )
            ).first()
        if disc is None or disc.centre_id != event.centre_id:
            log.warning("disc check %s names no known disc", event.id)
            return
        disc.last_verified_at = payload.checked_at
        disc.verify = VerifyResult.OK if payload.ok else VerifyResult.BAD
        detail = payload.detail or (", ".join(payload.bad_files[:20]) if payload.bad_files else "")
        verdict = "通过" if payload.ok else "失败"
        disc.verify_detail = f"复检 {payload.files_checked} 个文件：{verdict} {detail}".strip()
        disc.next_verify_due = (
            due_after(payload.checked_at, settings.reverify_years) if payload.ok else None
        )
        disc.reverify_command_id = None
        session.add(disc)

    return on_disc_check
