"""Recorder → uploader → a real collector: every finished segment ends up in the file store
with the SHA-256 the agent computed, and ``agent.file_uploaded`` links it to its session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.upload_queue import sha256_of
from tests.device_plugins.conftest import wait_until
from tests.support.upload_collector import UploadCollector

from .conftest import recorder_settings


@pytest.fixture(scope="module")
def collector() -> Iterator[UploadCollector]:
    c = UploadCollector()
    c.enrol("room1")
    yield c
    c.close()


def test_segments_are_uploaded_with_matching_checksums(
    make_site, tmp_path: Path, collector: UploadCollector
) -> None:
    site = make_site(
        {"rec1": recorder_settings(tmp_path / "rec")},
        collector.uploads_section(retry_min_s=0.1),
    )
    site.call("rec1.start", {"session_id": "P-7"})
    wait_until(lambda: len(site.of_type("agent.file_uploaded")) >= 2, 30, "two uploads")
    site.call("rec1.stop")
    wait_until(lambda: site.uploader.stats().pending == 0, 30, "all uploaded")
    uploaded = site.of_type("agent.file_uploaded")
    assert len(uploaded) >= 3
    for event in uploaded:
        assert event["kind"] == "recording" and event["content_type"] == "video/mp4"
        assert event["meta"]["session_id"] == "P-7" and event["meta"]["recorder"] == "rec1"
        local = Path(site.uploader.queue.get(event["upload_id"]).path)
        assert event["sha256"] == sha256_of(local)
        assert collector.content_sha256(event["file_id"]) == event["sha256"]
        stored = collector.file(event["file_id"])
        assert stored["state"] == "complete" and stored["meta"]["session_id"] == "P-7"
    health = site.health("rec1")
    wait_until(lambda: site.call("rec1.status")["uploads_pending"] == 0, 10, "status updated")
    assert health.data["session_id"] is None
