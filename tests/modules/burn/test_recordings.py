"""Evaluation-room recordings reach their project's archive the way the room terminals upload
them: tagged with their session only (``device_plugins/recorder``), linked to the session by
the experts module when the upload is reported. Playback serves only files of archive projects.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.files.models import StoredFile
from collector.files.service import FileService
from collector.modules.burn import recording_check, service
from collector.modules.burn.models import ArchiveProject
from collector.modules.burn.settings import BurnSettings
from tests.api.support import ApiTestRuntime
from tests.modules.burn.conftest import NUMBER, START
from tests.modules.experts.support import feed_event

pytestmark = pytest.mark.usefixtures("personal_data")


def store(
    runtime: ApiTestRuntime,
    name: str,
    data: bytes,
    meta: dict[str, object],
    *,
    content_type: str = "video/mp4",
    device: str = "t1",
) -> StoredFile:
    """A complete upload, as the file API stores what an agent sends."""
    files = FileService(runtime.file_store, max_upload_bytes=2**30)
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = files.create_upload(
            session, name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
            content_type=content_type, device_id=device, centre_id="c2", meta=meta,
        )  # fmt: skip
        writer = files.begin_chunk(session, row.id, 0)
        writer.write(data)
        return files.end_chunk(session, writer)


def recorded_segment(runtime: ApiTestRuntime, session_ref: str, index: int) -> StoredFile:
    """A segment uploaded by the room terminal ``t1``, with the recorder plugin's metadata,
    then reported (``agent.file_uploaded``) and linked by the experts module's handler."""
    data = bytes([index]) * 4096
    started = START + timedelta(minutes=index)
    meta: dict[str, object] = {"recorder": "recorder", "session_id": session_ref,
                               "index": index, "started_at": started.isoformat(),
                               "duration_s": 60.0}  # fmt: skip
    row = store(runtime, f"P1_20261120_{index:05d}.mp4", data, meta)
    uploaded = {
        "file_id": row.id, "upload_id": f"u{index}", "name": row.name, "size": len(data),
        "sha256": row.sha256, "kind": "recording", "content_type": "video/mp4", "meta": meta,
    }  # fmt: skip
    feed_event(runtime.engine, "agent.file_uploaded", uploaded, "c2", "t1", started)
    return row


def test_session_recordings_are_the_projects_sources(
    client: TestClient, runtime: ApiTestRuntime, evaluation: tuple[ArchiveProject, str]
) -> None:
    project, session_ref = evaluation
    first = recorded_segment(runtime, session_ref, 0)
    second = recorded_segment(runtime, session_ref, 1)
    stray = recorded_segment(runtime, "999999", 2)  # a session the collector does not know
    with Session(runtime.engine) as session:
        row = session.get(ArchiveProject, project.id)
        assert row is not None
        sources = [
            s
            for s in service.project_sources(session, BurnSettings(), row)
            if s["kind"] == "file_store"
        ]
        assert [s["file_id"] for s in sources] == [first.id, second.id]
        assert sources[0]["media"] == "video" and sources[0]["sha256"] == first.sha256
        waiting = {f.id for f in recording_check.pending(session)}
        assert waiting == {first.id, second.id}  # decode-checked like tagged recordings
    api = client.get(f"/api/v1/burn/projects/{project.id}").json()
    assert [r["id"] for r in api["recordings"]] == [first.id, second.id]
    assert f"/burn/play/{first.id}" in client.get(f"/burn/projects/{project.id}").text
    assert stray.id not in client.get(f"/burn/projects/{project.id}").text
    # a job for the project fetches them
    r = client.post("/api/v1/burn/jobs", json={"project_ids": [project.id]})
    assert r.status_code == 201, r.text
    spec_ids = [s.get("file_id") for s in r.json()[0]["spec"]["sources"]]
    assert spec_ids == [first.id, second.id]


def test_playback_serves_only_files_of_archive_projects(
    client: TestClient, runtime: ApiTestRuntime, evaluation: tuple[ArchiveProject, str]
) -> None:
    _, session_ref = evaluation
    segment = recorded_segment(runtime, session_ref, 0)
    tagged = store(runtime, "开标.mp4", b"tagged" * 100, {"project": NUMBER}, device="x")
    photo = store(runtime, "visitor.jpg", b"\xff\xd8 face", {}, content_type="image/jpeg")
    unlinked = recorded_segment(runtime, "999999", 1)
    for row, data in ((segment, bytes([0]) * 4096), (tagged, b"tagged" * 100)):
        r = client.get(f"/api/v1/burn/media/{row.id}", params={"original": "true"})
        assert r.status_code == 200 and r.content == data, row.name
        assert client.get(f"/burn/play/{row.id}").status_code == 200
    for row in (photo, unlinked):  # files of the same centre, but of no archive project
        assert client.get(f"/api/v1/burn/media/{row.id}").status_code == 404, row.name
        assert client.get(f"/burn/play/{row.id}").status_code == 404, row.name
