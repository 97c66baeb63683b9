"""A real collector (process, with its own Mosquitto) that agents upload files to.

Used by the uploader and recorder tests and by ``benchmarks/recording.py``: the agent side
speaks HTTP to it exactly as in production, with an API token of the device's centre.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.support.mosquitto import Mosquitto
from tests.support.processes import CollectorProcess, tmpdir

CENTRE = "upload-city"
PERMISSIONS = "devices.view,devices.command"


class UploadCollector:
    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = workdir or tmpdir("prtc-upload-")
        self._own_dir = workdir is None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = Mosquitto().start()
        self.process = CollectorProcess(self.workdir, self.broker.url)
        self.process.start()
        self.process.wait_ready()
        self.process.cli("centre", "add", CENTRE, "上传测试中心")
        self.token = self.process.cli(
            "token", "add", "uploads", "--centre", CENTRE, "--permissions", PERMISSIONS, "-q"
        ).strip()
        self._devices: set[str] = set()

    @property
    def url(self) -> str:
        return self.process.api

    @property
    def files_root(self) -> Path:
        return self.workdir / "files"

    def enrol(self, device: str) -> None:
        if device not in self._devices:
            self.process.enrol(CENTRE, device, kind="recorder")
            self._devices.add(device)

    def uploads_section(self, **extra: Any) -> dict[str, Any]:
        return {"url": self.url, "token": self.token, **extra}

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def file(self, file_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/api/v1/files/{file_id}", headers=self._headers(), timeout=10)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def head_offset(self, file_id: str) -> tuple[int, str]:
        r = httpx.head(f"{self.url}/api/v1/files/{file_id}", headers=self._headers(), timeout=10)
        r.raise_for_status()
        return int(r.headers["Upload-Offset"]), r.headers["Upload-State"]

    def content_sha256(self, file_id: str) -> str:
        digest = hashlib.sha256()
        with httpx.stream(
            "GET",
            f"{self.url}/api/v1/files/{file_id}/content",
            headers=self._headers(),
            timeout=30,
        ) as r:
            r.raise_for_status()
            for block in r.iter_bytes():
                digest.update(block)
        return digest.hexdigest()

    def close(self) -> None:
        self.process.stop()
        self.broker.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
