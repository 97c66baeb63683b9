"""Helpers shared by the burn-station tests."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

from burn_station import xorriso
from burn_station.drives import DrivePool
from burn_station.fetch import FetchedItem
from burn_station.jobstore import JobState, JobStore
from burn_station.pipeline import Job
from burn_station.printing import printer_for
from burn_station.settings import BurnerSettings, DriveConfig, LabelSettings
from contract.payloads.burn import BurnJobSpec


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extract(iso: Path, dest: Path) -> Path:
    """Restore a whole disc (an ISO file) with xorriso, as an operator would."""
    dest.mkdir(parents=True, exist_ok=True)
    xorriso.run(xorriso.extract_args(f"stdio:{iso}", dest), timeout_s=120)
    return dest


def pdftotext(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()


def spec(sources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "job_id": str(uuid4()),
        "centre": "c1",
        "project": {
            "number": "JSGC-2026-0815",
            "name": "某某县第一中学教学楼建设工程施工招标",
            "category": "工程建设",
            "opening_date": date(2026, 11, 20).isoformat(),
            "rooms": ["开标室2", "评标室1"],
        },
        "sources": sources,
        "medium": "dvd",
        **extra,
    }


def settings(tmp: Path, drives: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"work_dir": str(tmp / "work"), "drives": drives, "media_wait_s": 5, **extra}


def staging_job(tmp_path: Path, fetch: Path, items: list[FetchedItem]) -> Job:
    """A job at its staging stage whose fetched files are ``items`` in the folder ``fetch``,
    with one 50 MiB file drive."""
    settings = BurnerSettings(
        work_dir=tmp_path / "work",
        drives=[DriveConfig(id="d", device=f"stdio:{tmp_path / 'disc.iso'}", media=["dvd"],
                            capacity_bytes=50 * 1024**2)],
    )  # fmt: skip
    job_spec = BurnJobSpec.model_validate({
        "job_id": str(uuid4()), "centre": "c1",
        "project": {"number": "T-1", "name": "测试", "opening_date": date(2026, 11, 20)},
        "sources": [{"kind": "folder", "path": str(fetch)}],
    })  # fmt: skip
    state = JobState(spec=job_spec, stage="staging", fetched={0: items})
    pool = DrivePool(settings.drives, on_state=lambda s: None)
    job = Job(state, settings=settings, store=JobStore(settings.work_dir), pool=pool,
              printer=printer_for(LabelSettings()), emit=lambda t, p: None)  # fmt: skip
    job.folder.mkdir(parents=True)
    (job.folder / "fetch").symlink_to(fetch)
    return job
