"""NVR video of a project's sessions: each camera of its rooms, over each session's time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session

from collector.modules.burn import service
from collector.modules.burn.models import ArchiveProject, BurnJob
from collector.modules.burn.settings import BurnSettings, RoomCamera
from tests.api.support import ApiTestRuntime
from tests.modules.burn.conftest import NUMBER, START

ISAPI = {"kind": "nvr_isapi", "base_url": "http://10.0.8.20", "credentials": "nvr1", "channel": 3}
DAHUA = {"kind": "rtsp", "vendor": "dahua", "url": "rtsp://10.0.8.21:554", "channel": 2}


def nvr_sources(runtime: ApiTestRuntime, client: TestClient, project_id: int) -> list[Any]:
    r = client.post("/api/v1/burn/jobs", json={"project_ids": [project_id]})
    assert r.status_code == 201, r.text
    with Session(runtime.engine) as session:
        job = session.get(BurnJob, r.json()[0]["id"])
        assert job is not None
        return [s for s in job.spec["sources"] if s["kind"] in ("nvr_isapi", "rtsp")]


def test_each_camera_of_the_sessions_rooms_gives_the_sessions_video(
    client: TestClient, runtime: ApiTestRuntime, evaluation: tuple[ArchiveProject, str]
) -> None:
    project, _ = evaluation
    runtime.settings.burn.room_cameras = [
        RoomCamera(centre="c2", room="P1", name="全景", source=ISAPI),
        RoomCamera(centre="c2", room="P1", source=DAHUA),
        RoomCamera(centre="c2", room="P9", source={**ISAPI, "channel": 9}),  # another room
        RoomCamera(centre="c1", room="P1", source={**ISAPI, "channel": 7}),  # another centre
    ]
    sources = nvr_sources(runtime, client, project.id or 0)
    before, after = timedelta(minutes=15), timedelta(minutes=60)
    assert [(s["kind"], s["channel"], s["room"]) for s in sources] == [
        ("nvr_isapi", 3, "P1"),
        ("rtsp", 2, "P1"),
    ]
    for s in sources:  # the session ran 3 hours from START
        assert s["start"] == (START - before).isoformat().replace("+00:00", "Z")
        assert s["end"] == (START + timedelta(hours=3) + after).isoformat().replace("+00:00", "Z")
    assert sources[0]["name"] == "P1_全景" and sources[0]["credentials"] == "nvr1"
    assert sources[1]["vendor"] == "dahua" and sources[1]["name"] == ""


def test_a_room_with_video_named_by_hand_keeps_only_that(
    client: TestClient, runtime: ApiTestRuntime, evaluation: tuple[ArchiveProject, str]
) -> None:
    project, _ = evaluation
    runtime.settings.burn.room_cameras = [RoomCamera(centre="c2", room="P1", source=ISAPI)]
    by_hand = {**ISAPI, "channel": 5, "room": "P1", "start": START.isoformat(),
               "end": (START + timedelta(hours=1)).isoformat()}  # fmt: skip
    with Session(runtime.engine) as session:
        service.upsert_project(session, {
            "centre_id": "c2", "number": NUMBER, "name": project.name,
            "opening_date": project.opening_date, "sources": [by_hand],
        })  # fmt: skip
    assert [s["channel"] for s in nvr_sources(runtime, client, project.id or 0)] == [5]


@pytest.mark.parametrize(
    "source",
    [
        {**ISAPI, "start": "2026-11-20T01:00:00Z"},  # the window comes from the sessions
        {"kind": "url", "url": "http://docs.example/a.pdf"},  # not a camera
        {"kind": "nvr_isapi", "base_url": "http://10.0.8.20"},  # no channel
    ],
)
def test_a_camera_that_cannot_give_video_is_refused_with_the_settings(
    source: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        BurnSettings(room_cameras=[{"centre": "c2", "room": "P1", "source": source}])  # type: ignore[list-item]
