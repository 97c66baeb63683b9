"""Helpers shared by the burn-station tests."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

from burn_station import xorriso


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
