"""The disc archive: search, storage location, re-verification reminders and re-verify."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from pydantic import ValidationError
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from collector.commands import service as commands
from collector.db_types import utcnow
from collector.devices.models import Device
from collector.modules.burn.models import BurnJob, Disc, DiscFile, Drive
from collector.modules.burn.service import BurnError
from collector.modules.burn.settings import BurnSettings
from collector.publisher import Publisher
from contract.payloads.burn import PrintLabelArgs, VerifyDiscArgs


@dataclass
class DiscHit:
    disc: Disc
    files: list[DiscFile]
    matched: list[DiscFile]


def search_discs(
    session: Session,
    centre_ids: Collection[str],
    *,
    q: str = "",
    category: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    file_name: str = "",
    due_by: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[DiscHit], int]:
    """Discs by project number or name (``q``), category, opening date range and file name;
    ``due_by``: only discs whose re-verification is due by that day."""
    query = select(Disc).where(col(Disc.centre_id).in_(sorted(centre_ids)))
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            or_(
                col(Disc.project_number).like(like),
                col(Disc.project_name).like(like),
                col(Disc.volume_id).like(like),
            )
        )
    if category:
        query = query.where(Disc.category == category)
    if date_from:
        query = query.where(col(Disc.opening_date) >= date_from)
    if date_to:
        query = query.where(col(Disc.opening_date) <= date_to)
    if due_by:
        query = query.where(col(Disc.next_verify_due) <= due_by)
    file_like = f"%{file_name.strip()}%" if file_name.strip() else ""
    if file_like:
        query = query.where(
            col(Disc.id).in_(select(DiscFile.disc_id).where(col(DiscFile.path).like(file_like)))
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    discs = list(
        session.exec(
            query.order_by(
                col(Disc.opening_date).desc(),
                col(Disc.project_number),
                col(Disc.copy_role),
                col(Disc.disc_index),
            )
            .limit(limit)
            .offset(offset)
        )
    )
    files_of: dict[str, list[DiscFile]] = {d.id: [] for d in discs}
    if discs:
        for row in session.exec(
            select(DiscFile)
            .where(col(DiscFile.disc_id).in_(list(files_of)))
            .order_by(col(DiscFile.path))
        ):
            files_of[row.disc_id].append(row)
    needle = file_name.strip().lower()
    hits = [
        DiscHit(
            d, files_of[d.id], [f for f in files_of[d.id] if needle and needle in f.path.lower()]
        )
        for d in discs
    ]
    return hits, int(total)


def get_disc(session: Session, disc_id: str, centre_ids: Collection[str]) -> Disc | None:
    row = session.get(Disc, disc_id)
    return row if row is not None and row.centre_id in centre_ids else None


def disc_files(session: Session, disc_id: str) -> list[DiscFile]:
    return list(
        session.exec(
            select(DiscFile).where(DiscFile.disc_id == disc_id).order_by(col(DiscFile.path))
        )
    )


def set_location(session: Session, disc: Disc, *, shelf: str, box: str) -> dict[str, str]:
    """Change where a disc is kept (no commit: the caller audits and commits)."""
    before = {"shelf": disc.shelf, "box": disc.box}
    disc.shelf = shelf.strip()[:64]
    disc.box = box.strip()[:64]
    session.add(disc)
    return before


def discs_due(session: Session, centre_ids: Collection[str], today: date) -> list[Disc]:
    return list(
        session.exec(
            select(Disc)
            .where(col(Disc.centre_id).in_(sorted(centre_ids)), col(Disc.next_verify_due) <= today)
            .order_by(col(Disc.next_verify_due))
            .limit(500)
        )
    )


def due_count(session: Session, centre_ids: Collection[str], today: date) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Disc)
            .where(col(Disc.centre_id).in_(sorted(centre_ids)), col(Disc.next_verify_due) <= today)
        ).one()
    )


def _station(session: Session, settings: BurnSettings, disc: Disc, station_id: str) -> Device:
    """A burn station of the disc's centre, or :class:`BurnError`."""
    station = session.get(Device, station_id)
    if (
        station is None
        or station.centre_id != disc.centre_id
        or station.kind not in settings.station_kinds
    ):
        raise BurnError("请选择本中心的刻录工作站")
    return station


def request_reverify(
    session: Session,
    publisher: Publisher,
    settings: BurnSettings,
    disc: Disc,
    *,
    station_id: str,
    drive: str,
    actor: str,
) -> str:
    """Ask a station to re-verify a disc put back in one of its drives (``verify_disc``);
    its ``burn.disc_check`` event records the result. Returns the command id."""
    station = _station(session, settings, disc, station_id)
    if not drive.strip():
        raise BurnError("请选择放入光盘的光驱")
    command = commands.send_command(
        session,
        publisher,
        device_id=station.id,
        action=f"{settings.station_instance}.verify_disc",
        args=VerifyDiscArgs.model_validate({"drive": drive.strip(), "disc_id": disc.id}).model_dump(
            mode="json"
        ),
        ttl_s=3600,
        durable=True,
        created_by=actor,
    )
    disc.reverify_command_id = command.id
    session.add(disc)
    return command.id


def request_label(
    session: Session,
    publisher: Publisher,
    settings: BurnSettings,
    disc: Disc,
    *,
    station_id: str,
    actor: str,
) -> str:
    """Ask a station to print a disc's label again (``print_label``), from the archive record
    and the label settings of the job that burned it. Returns the command id."""
    station = _station(session, settings, disc, station_id)
    job = session.get(BurnJob, disc.job_id)
    spec = job.spec if job is not None else {}
    project = spec.get("project") or {
        "number": disc.project_number,
        "name": disc.project_name,
        "opening_date": disc.opening_date,
    }
    try:
        args = PrintLabelArgs.model_validate(
            {
                "disc_id": disc.id,
                "centre": disc.centre_id,
                "project": project,
                "disc_index": disc.disc_index,
                "disc_count": disc.disc_count,
                "copy_role": disc.copy_role,
                "copy_number": disc.copy_number,
                "volume_id": disc.volume_id,
                "burn_date": (disc.burned_at or utcnow()).date(),
                "label": {**spec.get("label", {}), "print": True},
            }
        )
    except ValidationError as exc:
        raise BurnError(f"光盘档案不完整，无法生成盘面：{exc.errors()[0]['msg']}") from exc
    command = commands.send_command(
        session,
        publisher,
        device_id=station.id,
        action=f"{settings.station_instance}.print_label",
        args=args.model_dump(mode="json"),
        ttl_s=86400,
        durable=True,
        created_by=actor,
    )
    return command.id


def list_drives(session: Session, centre_ids: Collection[str]) -> list[Drive]:
    return list(
        session.exec(
            select(Drive)
            .where(col(Drive.centre_id).in_(sorted(centre_ids)))
            .order_by(col(Drive.station_id), col(Drive.drive))
        )
    )


def today_utc() -> date:
    return utcnow().date()
