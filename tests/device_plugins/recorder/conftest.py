"""A small agent for the recorder: the real PluginManager, command executor, outbox and
uploader (its queue in a temporary directory), events validated against the registry as the
outbox does; ffmpeg is the real binary recording lavfi test sources."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from contract.envelopes import ConfigEnvelope
from contract.registry import registry
from edge_agent.commands import CommandExecutor
from edge_agent.db import Database
from edge_agent.outbox import Outbox
from edge_agent.plugins import PluginManager
from edge_agent.settings import PluginSection, UploadsSection
from edge_agent.upload_queue import UploadQueue
from edge_agent.uploader import Uploader

LOG = logging.getLogger("test.recorder")
FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")

pytestmark = pytest.mark.skipif(not (FFMPEG and FFPROBE), reason="ffmpeg/ffprobe not installed")

TEST_SOURCES = [
    {"type": "lavfi", "device": "testsrc=size=320x240:rate=10"},
    {"type": "lavfi", "device": "sine=frequency=440:sample_rate=44100"},
]


def recorder_settings(output_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "recorder",
        "sources": TEST_SOURCES,
        "output_dir": str(output_dir),
        "segment_s": 2,
        "keyframe_s": 1,
        "framerate": 10,
        "preset": "ultrafast",
        "stop_grace_s": 5,
        "restart_min_s": 0.2,
        "critical_free_bytes": 0,
        "low_free_bytes": 0,
        **extra,
    }


class RecorderSite:
    def __init__(
        self, path: Path, plugins: Mapping[str, Mapping[str, Any]], uploads: dict[str, Any]
    ) -> None:
        self.path = path
        self.outbox = Outbox(Database(path / "outbox.db"))
        self.executor = CommandExecutor(
            outbox=self.outbox, centre="c", device="room1", max_in_flight=4, logger=LOG
        )
        self._lock = threading.Lock()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.uploader = Uploader(
            UploadQueue(path / "uploads.db"),
            UploadsSection(**uploads),
            device="room1",
            emit=self.emit,
            logger=LOG,
        )
        sections = {name: PluginSection(**values) for name, values in plugins.items()}
        self.manager = PluginManager(
            centre="c",
            device="room1",
            sections=sections,
            emit=self.emit,
            executor=self.executor,
            desired=lambda _name: {},
            logger=LOG,
            uploader=self.uploader,
        )

    def emit(self, event_type: str, payload: Any) -> int:
        body = payload.model_dump(mode="json") if hasattr(payload, "model_dump") else payload
        registry.validate(event_type, 1, body)  # what the outbox would refuse, refuse here
        with self._lock:
            self.events.append((event_type, body))
            return len(self.events)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [b for t, b in self.events if t == event_type]

    def start(self) -> RecorderSite:
        self.uploader.start()
        self.manager.start_all()
        return self

    def stop(self) -> None:
        self.manager.stop_all()
        self.executor.stop()
        self.uploader.stop()

    def call(self, action: str, args: Mapping[str, Any] | None = None) -> Any:
        return self.executor.call(action, args)

    def configure(self, version: int, config: dict[str, Any]) -> list[str]:
        envelope = ConfigEnvelope.model_validate(
            {"version": version, "config": config, "issued_at": "2026-01-01T00:00:00Z"}
        )
        return self.manager.apply_desired(envelope)

    def health(self, name: str) -> Any:
        return self.manager.health()[name]


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Callable[..., RecorderSite]]:
    sites: list[RecorderSite] = []

    def make(
        plugins: Mapping[str, Mapping[str, Any]], uploads: dict[str, Any] | None = None
    ) -> RecorderSite:
        site = RecorderSite(tmp_path, plugins, uploads or {})
        sites.append(site)
        return site.start()

    yield make
    for site in sites:
        site.stop()


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's view of a file; raises if ffprobe refuses it."""
    out = subprocess.run(
        [FFPROBE or "ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data
