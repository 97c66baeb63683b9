"""The agent's resumable uploader against a real collector process (HTTP, SQLite, file store).

Interruptions are real: a connection cut in the middle of a PATCH body, and an agent process
SIGKILLed half-way through a file and started again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract.payloads.agent import FileUploaded
from contract.registry import registry
from edge_agent.cli import read_status
from edge_agent.heartbeat import AgentFigures, HostProbe, build_heartbeat
from edge_agent.outbox import OutboxStats
from edge_agent.settings import UploadsSection, settings_from_mapping
from edge_agent.upload_queue import UploadQueue, sha256_of
from edge_agent.uploader import Uploader
from tests.support.processes import write_toml
from tests.support.upload_collector import CENTRE, UploadCollector

from .conftest import wait_until

LOG = logging.getLogger("test.uploader")


@pytest.fixture(scope="module")
def collector() -> Iterator[UploadCollector]:
    c = UploadCollector()
    yield c
    c.close()


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event_type: str, payload: Any) -> int:
        registry.validate(event_type, 1, payload.model_dump(mode="json"))  # as the outbox does
        with self._lock:
            self.items.append((event_type, payload))
            return len(self.items)

    def uploaded(self) -> list[FileUploaded]:
        with self._lock:
            return [p for t, p in self.items if t == "agent.file_uploaded"]


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def make_uploader(
    tmp_path: Path,
    device: str,
    section: dict[str, Any],
    *,
    transport: httpx.BaseTransport | None = None,
) -> tuple[Uploader, Events]:
    events = Events()
    uploader = Uploader(
        UploadQueue(tmp_path / f"{device}-uploads.db"),
        UploadsSection(**section),
        device=device,
        emit=events,
        logger=LOG,
        transport=transport,
    )
    return uploader, events


def test_queued_file_is_uploaded_checked_and_announced(
    tmp_path: Path, collector: UploadCollector
) -> None:
    collector.enrol("rec-a")
    uploader, events = make_uploader(
        tmp_path, "rec-a", collector.uploads_section(chunk_bytes=256 * 1024)
    )
    kept = random_file(tmp_path / "seg1.mp4", 1_500_000)
    gone = random_file(tmp_path / "seg2.mp4", 300_000)
    uploader.start()
    try:
        first = uploader.enqueue(kept, kind="recording", meta={"session_id": "S1", "index": 1})
        second = uploader.enqueue(gone, kind="recording", meta={}, delete_after=True)
        wait_until(lambda: uploader.state(second) == "done", 20, "uploads done")
        assert uploader.state(first) == "done"
    finally:
        uploader.stop()
    announced = {e.upload_id: e for e in events.uploaded()}
    assert set(announced) == {first, second}
    event = announced[first]
    assert event.sha256 == sha256_of(kept) and event.size == 1_500_000
    assert event.kind == "recording" and event.meta == {"session_id": "S1", "index": 1}
    assert event.content_type == "video/mp4"
    stored = collector.file(str(event.file_id))
    assert stored["state"] == "complete" and stored["device_id"] == "rec-a"
    assert stored["meta"]["session_id"] == "S1" and stored["meta"]["upload_id"] == first
    assert collector.content_sha256(str(event.file_id)) == event.sha256
    assert kept.exists(), "kept by default: the plugin's retention decides"
    assert not gone.exists(), "delete_after removes the local copy once uploaded"
    assert uploader.stats().pending == 0 and uploader.stats().done == 2


class CutOnce(httpx.HTTPTransport):
    """A real HTTP transport that breaks the connection in the middle of the first PATCH."""

    def __init__(self, cut_after: int) -> None:
        super().__init__()
        self.cut_after = cut_after
        self.cut = False
        self.methods: list[str] = []
        self.body_bytes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        if request.method == "PATCH":
            request.stream = self._count(request.stream, cut=not self.cut)
            self.cut = True
        return super().handle_request(request)

    def _count(self, stream: Any, *, cut: bool) -> httpx.SyncByteStream:
        class Body(httpx.SyncByteStream):
            def __iter__(inner) -> Iterator[bytes]:
                sent = 0
                for block in stream:
                    if cut and sent + len(block) > self.cut_after:
                        yield block[: self.cut_after - sent]
                        self.body_bytes += self.cut_after - sent
                        raise httpx.WriteError("connection cut by the test")
                    sent += len(block)
                    self.body_bytes += len(block)
                    yield block

        return Body()


def test_connection_broken_mid_patch_resumes_from_collectors_offset(
    tmp_path: Path, collector: UploadCollector
) -> None:
    collector.enrol("rec-b")
    size = 4_000_000
    transport = CutOnce(cut_after=1_200_000)
    uploader, events = make_uploader(
        tmp_path,
        "rec-b",
        collector.uploads_section(chunk_bytes=2 * 1024 * 1024, retry_min_s=0.05),
        transport=transport,
    )
    path = random_file(tmp_path / "big.mp4", size)
    uploader.start()
    try:
        upload_id = uploader.enqueue(path, kind="recording", meta={})
        wait_until(lambda: uploader.state(upload_id) == "done", 30, "upload done")
    finally:
        uploader.stop()
    assert transport.cut
    assert "HEAD" in transport.methods, "resumed by asking the collector's offset"
    assert transport.methods.count("POST") == 1, "the same upload went on, not a new one"
    # Only what the collector had not yet received was sent again.
    assert transport.body_bytes < size + 1_300_000
    (event,) = events.uploaded()
    assert (
        collector.content_sha256(str(event.file_id))
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )


def _row(db: Path, upload_id: str) -> tuple[str, str | None]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        state, file_id = con.execute(
            "SELECT state, file_id FROM uploads WHERE id = ?", (upload_id,)
        ).fetchone()
    finally:
        con.close()
    return state, file_id


def test_agent_killed_half_way_resumes_after_restart(
    tmp_path: Path, collector: UploadCollector
) -> None:
    device = "rec-kill"
    collector.enrol(device)
    state_dir = tmp_path / device
    state_dir.mkdir()
    size = 6_000_000
    path = random_file(tmp_path / "session.mp4", size)
    # Queue the file durably, as a plugin would, before the agent starts.
    queue = UploadQueue(state_dir / "uploads.db")
    upload_id = queue.enqueue(path, kind="recording", meta={"session_id": "S-kill"})
    queue.close()
    config = write_toml(
        state_dir / "agent.toml",
        {
            "agent": {"centre": CENTRE, "device": device, "state_dir": str(state_dir)},
            "mqtt": {"url": collector.broker.url},
            "uploads": collector.uploads_section(
                chunk_bytes=256 * 1024, max_bytes_per_s=1_500_000, retry_min_s=0.2
            ),
        },
    )
    args = [sys.executable, "-m", "edge_agent", "run", "-c", str(config)]
    log = (state_dir / "agent.log").open("ab")
    agent = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        file_id = wait_until(lambda: _row(state_dir / "uploads.db", upload_id)[1], 20, "created")
        wait_until(lambda: collector.head_offset(file_id)[0] > 1_000_000, 20, "half-way")
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        offset, state = collector.head_offset(file_id)
        assert 0 < offset < size and state == "uploading", (offset, state)
        assert _row(state_dir / "uploads.db", upload_id)[0] == "pending"
        status = read_status(state_dir)  # `prtc-agent status` while the agent is down
        assert status["uploads_pending"] == 1 and status["uploads_pending_bytes"] == size

        agent = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(
            lambda: _row(state_dir / "uploads.db", upload_id)[0] == "done", 30, "upload done"
        )
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(20)
        log.close()
    assert _row(state_dir / "uploads.db", upload_id)[1] == file_id, "resumed, not restarted"
    assert collector.head_offset(file_id) == (size, "complete")
    assert collector.content_sha256(file_id) == sha256_of(path)


def test_unreachable_collector_is_retried_and_shows_in_the_heartbeat(tmp_path: Path) -> None:
    uploader, _events = make_uploader(
        tmp_path,
        "rec-c",
        {"url": "http://127.0.0.1:9", "retry_min_s": 0.05, "retry_max_s": 0.2},
    )
    path = random_file(tmp_path / "x.mp4", 1000)
    uploader.start()
    try:
        upload_id = uploader.enqueue(path, kind="recording")
        wait_until(
            lambda: (item := uploader.queue.get(upload_id)) is not None and item.attempts >= 3,
            10,
            "retries",
        )
        stats = uploader.stats()
    finally:
        uploader.stop()
    assert stats.pending == 1 and stats.pending_bytes == 1000
    assert "ConnectError" in stats.last_error
    figures = AgentFigures(
        agent_version="t",
        boot=1,
        uptime_s=1.0,
        outbox=OutboxStats(
            depth=0,
            bytes=0,
            oldest_age_s=0.0,
            last_seq=0,
            depth_by_class={},
            evicted={},
            evicted_by_reason={},
        ),
        plugins={},
        config_version=None,
        last_receipt=None,
        commands_in_flight=0,
        uploads=stats,
    )
    heartbeat = build_heartbeat(figures, HostProbe(tmp_path))
    assert heartbeat.uploads_pending == 1 and heartbeat.uploads_pending_bytes == 1000
    assert heartbeat.uploads_last_error and heartbeat.disk_free_bytes


def test_file_removed_before_upload_fails_for_good(
    tmp_path: Path, collector: UploadCollector
) -> None:
    collector.enrol("rec-d")
    uploader, events = make_uploader(tmp_path, "rec-d", collector.uploads_section())
    path = random_file(tmp_path / "lost.mp4", 1000)
    upload_id = uploader.enqueue(path, kind="recording")
    path.unlink()
    uploader.start()
    try:
        wait_until(lambda: uploader.state(upload_id) == "failed", 10, "failed")
    finally:
        uploader.stop()
    assert uploader.stats().failed == 1 and not events.uploaded()


def test_uploads_settings_from_file_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_mapping(
        {
            "agent": {"centre": "c", "device": "d"},
            "uploads": {"url": "https://collector.example:8443/", "token": "s3cret"},
        }
    )
    assert settings.uploads.url == "https://collector.example:8443"
    assert settings.uploads.token is not None
    assert settings.uploads.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings.uploads)
    monkeypatch.setenv("PRTC_AGENT_UPLOADS__CHUNK_BYTES", "1048576")
    env = settings_from_mapping({"agent": {"centre": "c", "device": "d"}}, environment=True)
    assert env.uploads.chunk_bytes == 1048576 and env.uploads.url is None
    with pytest.raises(ValueError):
        UploadsSection(url="ftp://x")
