"""A job's state on disk (``<work_dir>/jobs/<job_id>/state.json``), written atomically after
every step, so that a restarted station can fail a job cleanly and retry it from its stage;
and the outbox of NVR files queued for upload (``<work_dir>/outbox/``)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from burn_station.fetch import FetchedItem
from burn_station.staging import StagedFile
from contract.payloads.burn import BurnJobSpec, CopyRole, RetryStage, Stage


class DiscPlan(BaseModel):
    disc_id: UUID
    copy_role: CopyRole
    copy_number: int
    index: int
    count: int
    volume_id: str
    files: list[str]  # disc paths of staged files
    image: str = ""  # relative to the job folder
    image_size: int = 0
    image_sha256: str = ""
    status: str = "planned"  # planned | imaged | ok | bad
    drive: str = ""
    disc_path: str = ""
    medium_type: str = ""
    attempt: int = 0
    verify_detail: str = ""
    burned_at: AwareDatetime | None = None
    label: str = ""  # label PDF, relative to the job folder
    label_ref: str = ""


class NvrUpload(BaseModel):
    """A staged NVR file queued for the collector's file store; recorded once queued, so that
    neither a retry nor a restart queues it again."""

    nvr_key: str
    part: int
    parts: int
    disc_path: str
    outbox: str  # the queued link, relative to the work directory; deleted once it ended
    upload_id: str


class JobState(BaseModel):
    spec: BurnJobSpec
    stage: Stage = "queued"
    failed_stage: RetryStage | None = None
    error: str = ""
    attempt: int = 1
    fetched: dict[int, list[FetchedItem]] = Field(default_factory=dict)
    staged: list[StagedFile] | None = None
    discs: list[DiscPlan] = Field(default_factory=list)
    nvr_uploads: list[NvrUpload] = Field(default_factory=list)
    updated_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))


class JobStore:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.root = work_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.outbox = work_dir / "outbox"
        """NVR files waiting for their upload (``<job_id>/<nvr_key>_<part>/<name>``): outside
        the job folders, so no clean-up of a job removes a file the uploader still reads."""

    def folder(self, job_id: UUID) -> Path:
        return self.root / str(job_id)

    def save(self, state: JobState) -> None:
        state.updated_at = datetime.now(UTC)
        folder = self.folder(state.spec.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "state.json.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            f.write(state.model_dump_json(indent=1))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(folder / "state.json")

    def load(self, job_id: UUID) -> JobState | None:
        path = self.folder(job_id) / "state.json"
        if not path.exists():
            return None
        return JobState.model_validate_json(path.read_text(encoding="utf-8"))

    def all(self) -> list[JobState]:
        out = []
        for path in sorted(self.root.glob("*/state.json")):
            try:
                out.append(JobState.model_validate_json(path.read_text(encoding="utf-8")))
            except ValueError:
                continue
        return out
