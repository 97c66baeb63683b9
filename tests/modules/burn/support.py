"""Helpers of the burn tests: rows in another county for the route walks, event envelopes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.files.models import StoredFile, UploadState
from collector.modules.burn.models import (
    ArchiveProject,
    BurnJob,
    BurnSchedule,
    Disc,
    DiscFile,
    Drive,
)
from contract.ids import uuid7

OTHER_PROJECT_ID = 424242  # in BODIES of the API walk


def other_county_burn(engine: Engine, centre_id: str = "c3") -> dict[str, str]:
    """A project, a job, a schedule, a disc with a file and a drive in ``centre_id``; their
    ids for path parameters (``burn_project_id``, ``burn_job_id``, ``burn_schedule_id``,
    ``burn_disc_id``)."""
    with Session(engine, expire_on_commit=False) as session:
        project = ArchiveProject(
            id=OTHER_PROJECT_ID,
            centre_id=centre_id,
            number="YX-2026-003",
            name="乙县项目",
            opening_date=date(2026, 11, 20),
            sources=[{"kind": "url", "url": "http://docs/x.pdf", "media": "document"}],
        )
        session.add(project)
        session.flush()
        job = BurnJob(
            id=str(uuid7()),
            centre_id=centre_id,
            project_id=project.id or 0,
            project_number=project.number,
            project_name=project.name,
            station_id="dB",
        )
        schedule = BurnSchedule(centre_id=centre_id, name="乙县每日")
        disc = Disc(
            id=str(uuid7()),
            centre_id=centre_id,
            job_id=job.id,
            project_id=project.id,
            project_number=project.number,
            volume_id="YX2026003_1",
            next_verify_due=date(2020, 1, 1),
        )
        session.add_all([job, schedule, disc])
        session.flush()
        session.add(DiscFile(disc_id=disc.id, centre_id=centre_id, path="video/yx.mp4"))
        session.add(Drive(centre_id=centre_id, station_id="dB", drive="sr0", state="idle"))
        recording = StoredFile(
            id=str(uuid7()),
            name="yx.mp4",
            size=0,
            sha256="0" * 64,
            store_key="files/yx",
            state=UploadState.COMPLETE,
            centre_id=centre_id,
            content_type="video/mp4",
            meta={"project": project.number},
        )
        session.add(recording)
        session.commit()
        return {
            "burn_project_id": str(project.id),
            "burn_job_id": job.id,
            "burn_schedule_id": str(schedule.id),
            "burn_disc_id": disc.id,
            "burn_file_id": recording.id,
        }


def envelope_fields(**payload: Any) -> dict[str, Any]:
    return payload


def aware(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
