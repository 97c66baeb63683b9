"""NVR video of the bid-opening rooms, kept in the collector's file store by the burn station:
played in the console with the project's recordings, and taken from there by later jobs
instead of the NVR, which overwrites its disk after some weeks.

The first test runs the real station (the ``burner`` plugin against a simulated Hikvision NVR)
and the agent's real uploader against this collector served by uvicorn; the others store
clips through the file service as an upload does."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from burn_station.plugin import BurnerPlugin
from burn_station.sim_nvr import SimClip, SimNvr, make_test_video
from collector.auth.service import create_api_token
from collector.db_types import utcnow
from collector.devices.models import Device
from collector.files.models import StoredFile
from collector.modules.burn import recording_check, service
from collector.modules.burn.models import ArchiveProject, RecordingCheck
from collector.modules.burn.settings import RoomCamera
from contract.payloads.burn import NVR_VIDEO_KIND, NvrClipMeta, NvrIsapiSource, nvr_key
from edge_agent.settings import UploadsSection
from tests.api.support import ApiTestRuntime
from tests.burn_station.helpers import settings as station_settings
from tests.burn_station.test_nvr_upload import CREDENTIALS, UploadingContext
from tests.modules.burn.conftest import NUMBER, START
from tests.modules.burn.test_recordings import store
from tests.support.net import free_port, wait_until

pytestmark = pytest.mark.usefixtures("personal_data")

CAMERA = {"kind": "nvr_isapi", "base_url": "http://10.0.8.20", "credentials": "nvr1", "channel": 3}


@pytest.fixture
def site(app: FastAPI) -> Iterator[str]:
    """This collector over real HTTP (the client fixtures run its lifespan)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 15, 0.05, "uvicorn started")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def nvr(tmp_path: Path) -> Iterator[SimNvr]:
    """Room P1's NVR: two 4-second clips back to back on channel 1 from 09:00:00 (Beijing)."""
    video = make_test_video(tmp_path / "clip.mp4", seconds=4.0)
    clips = [
        SimClip(101, datetime(2026, 11, 20, 9, 0, 0), datetime(2026, 11, 20, 9, 0, 4), video),
        SimClip(101, datetime(2026, 11, 20, 9, 0, 4), datetime(2026, 11, 20, 9, 0, 8), video),
    ]
    sim = SimNvr("admin", "Hik12345", clips).start()
    yield sim
    sim.stop()


@pytest.fixture
def opening(client: TestClient, runtime: ApiTestRuntime) -> ArchiveProject:
    """A project whose bid opening in room P1 lasted 8 seconds from START, and burn station
    ``burn1`` of its centre."""
    room = {"centre_id": "c2", "code": "P1", "name": "开标室1", "terminals": []}
    assert client.post("/api/v1/experts/rooms", json=room).status_code == 200
    body = {
        "centre_id": "c2", "number": NUMBER, "name": "办公家具采购", "category": "政府采购",
        "sessions": [{"key": "1", "rooms": ["P1"], "start": START.isoformat(),
                      "end": (START + timedelta(seconds=8)).isoformat()}],
    }  # fmt: skip
    assert client.put("/api/v1/experts/projects", json=body).status_code == 200
    with Session(runtime.engine, expire_on_commit=False) as session:
        session.add(Device(id="burn1", centre_id="c2", kind="burner", online=True))
        session.commit()
        return session.exec(select(ArchiveProject).where(ArchiveProject.number == NUMBER)).one()


def test_the_stations_nvr_video_plays_in_the_console_and_spares_the_nvr(
    client: TestClient,
    operator: TestClient,
    runtime: ApiTestRuntime,
    opening: ArchiveProject,
    site: str,
    nvr: SimNvr,
    tmp_path: Path,
) -> None:
    burn = runtime.settings.burn
    burn.video_before_min = burn.video_after_min = 0
    burn.room_cameras = [
        RoomCamera(centre="c2", room="P1", name="全景", source={**CAMERA, "base_url": nvr.url,
                                                             "channel": 1}),
    ]  # fmt: skip
    r = client.post("/api/v1/burn/jobs", json={"project_ids": [opening.id]})
    assert r.status_code == 201, r.text
    spec = r.json()[0]["spec"]
    [camera] = [s for s in spec["sources"] if s["kind"] == "nvr_isapi"]

    with Session(runtime.engine) as session:
        _, token = create_api_token(
            session, name="burn1", centre_id="c2", permissions=["devices.view", "devices.command"]
        )
    drive = {"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}"}
    values = station_settings(tmp_path, [drive], collector_url=site, collector_token=token,
                              credentials=CREDENTIALS)  # fmt: skip
    ctx = UploadingContext(values, tmp_path, UploadsSection(url=site, token=token), "burn1")
    ctx.uploader.start()
    plugin = BurnerPlugin(ctx)
    plugin.start()
    try:
        assert ctx.call("burn", spec).stage == "done"
        assert len(ctx.uploads) == 2  # the job did not wait for them
        wait_until(lambda: all(ctx.uploader.state(u) == "done" for u in ctx.uploads), 30, 0.05,
                   "uploads done")  # fmt: skip
    finally:
        plugin.stop()
        ctx.uploader.stop()
    outbox = tmp_path / "work" / "outbox"
    assert not [p for p in outbox.rglob("*") if p.is_file()], "uploaded files leave the outbox"

    with Session(runtime.engine, expire_on_commit=False) as session:
        project = session.get(ArchiveProject, opening.id)
        assert project is not None
        stored = service.project_recordings(session, project)
        clips = [service.nvr_clip(f) for f in stored]
        assert [(c.part, c.parts) for c in clips if c] == [(1, 2), (2, 2)]
        assert all(f.meta["kind"] == NVR_VIDEO_KIND and f.device_id == "burn1" for f in stored)
        assert {c.nvr_key for c in clips if c} == {nvr_key(NvrIsapiSource.model_validate(camera))}
        # decode-checked by the collector like the rooms' recordings, so the station need not
        assert {f.id for f in stored} <= {f.id for f in recording_check.pending(session)}
        # a later job takes them from the file store and does not ask the NVR again
        sources = service.project_sources(session, burn, project)
    assert [s["kind"] for s in sources] == ["file_store", "file_store"]
    assert [s["file_id"] for s in sources] == [f.id for f in stored]
    assert [s["name"] for s in sources] == [f.name for f in stored]

    page = operator.get(f"/burn/projects/{opening.id}").text
    assert page.count("NVR录像") == 2 and "P1_全景" in page and "通道 1" in page
    assert "录像时段 2026-11-20 09:00:00 – 2026-11-20 09:00:08" in page
    assert "分段 1/2" in page and "分段 2/2" in page
    for f in stored:
        assert f"/burn/play/{f.id}" in page
        player = operator.get(f"/burn/play/{f.id}")
        assert player.status_code == 200 and "NVR录像" in player.text and "通道 1" in player.text
        whole = operator.get(f"/api/v1/burn/media/{f.id}")
        assert whole.status_code == 200 and hashlib.sha256(whole.content).hexdigest() == f.sha256
        part = operator.get(f"/api/v1/burn/media/{f.id}", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == whole.content[:100]
    api = operator.get(f"/api/v1/burn/projects/{opening.id}").json()
    assert [r["nvr"]["part"] for r in api["recordings"]] == [1, 2]


def camera_key(channel: int) -> str:
    """The key of camera ``channel`` of room P1 over the evaluation session (three hours
    from START, 15 minutes before, 60 after), as the station computes it."""
    source = NvrIsapiSource.model_validate({
        **CAMERA, "channel": channel, "room": "P1",
        "start": START - timedelta(minutes=15), "end": START + timedelta(hours=3, minutes=60),
    })  # fmt: skip
    return nvr_key(source)


def stored_clip(
    runtime: ApiTestRuntime,
    channel: int,
    part: int,
    parts: int,
    warning: str = "",
    *,
    job_id: str = "",
    device: str = "burn1",
    kind: str | None = NVR_VIDEO_KIND,
) -> StoredFile:
    """Part ``part`` of ``parts`` of camera ``channel``'s video, uploaded by ``device`` as the
    station's uploader does (``kind`` None: an upload without it)."""
    meta: dict[str, object] = NvrClipMeta(
        project_number=NUMBER, nvr_key=camera_key(channel), part=part, parts=parts,
        source_kind="nvr_isapi", nvr=CAMERA["base_url"], room="P1", channel=channel,
        window_start=START - timedelta(minutes=15), window_end=START + timedelta(hours=4),
        job_id=job_id, warning=warning,
    ).model_dump(mode="json", exclude_defaults=True)  # fmt: skip
    if kind is not None:
        meta["kind"] = kind
    data = f"channel {channel} part {part} of {parts} job {job_id} by {device}".encode() * 100
    return store(runtime, f"P1_ch{channel}_part{part:02d}.mp4", data, meta, device=device)


def fail_check(runtime: ApiTestRuntime, row: StoredFile) -> None:
    """The collector's decode check of ``row`` failed."""
    with Session(runtime.engine) as session:
        check = RecordingCheck(
            file_id=row.id, sha256=row.sha256, ok=False, detail="ffmpeg: Invalid data",
            checked_at=utcnow(),
        )  # fmt: skip
        session.merge(check)
        session.commit()


def kinds(sources: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(s["kind"], s.get("file_id") or s.get("channel")) for s in sources]


def test_stored_parts_replace_the_camera_only_when_all_are_there_and_once_each(
    client: TestClient, runtime: ApiTestRuntime, evaluation: tuple[ArchiveProject, str]
) -> None:
    project, _ = evaluation
    with Session(runtime.engine) as session:
        session.add(Device(id="burn1", centre_id="c2", kind="burner", online=True))
        session.commit()
    runtime.settings.burn.room_cameras = [
        RoomCamera(centre="c2", room="P1", source=CAMERA),
        RoomCamera(centre="c2", room="P1", source={**CAMERA, "channel": 4}),
    ]

    def sources(allow_partial_video: bool = False) -> list[dict[str, Any]]:
        with Session(runtime.engine) as session:
            row = session.get(ArchiveProject, project.id)
            assert row is not None
            return service.project_sources(
                session, runtime.settings.burn, row, allow_partial_video=allow_partial_video
            )

    first = stored_clip(runtime, 3, 1, 2)
    again = stored_clip(runtime, 3, 1, 2)  # the same clip from another job: listed once
    # part 1 of 2 only: the NVR is asked, and the stored part stays off the disc
    assert kinds(sources()) == [("nvr_isapi", 3), ("nvr_isapi", 4)]
    listed = client.get(f"/api/v1/burn/projects/{project.id}").json()["recordings"]
    assert [r["id"] for r in listed] == [first.id]
    page = client.get(f"/burn/projects/{project.id}").text
    assert first.id in page and again.id not in page

    second = stored_clip(runtime, 3, 2, 2)
    assert kinds(sources()) == [("file_store", first.id), ("file_store", second.id),
                                ("nvr_isapi", 4)]  # fmt: skip

    # channel 4, stored whole but archived incomplete: only a job that allows it takes it
    short = [stored_clip(runtime, 4, n, 2, warning="missing 09:00:04–09:00:10") for n in (1, 2)]
    assert kinds(sources()) == [("file_store", first.id), ("file_store", second.id),
                                ("nvr_isapi", 4)]  # fmt: skip
    allowing = sources(allow_partial_video=True)
    assert kinds(allowing) == [("file_store", f.id) for f in (first, second, *short)]
    assert [s.get("warning", "") for s in allowing] == ["", ""] + ["missing 09:00:04–09:00:10"] * 2
    assert "录像不完整" in client.get(f"/burn/projects/{project.id}").text

    # the job sent to the station: the stored parts, not the camera
    r = client.post("/api/v1/burn/jobs", json={"project_ids": [project.id]})
    assert r.status_code == 201, r.text
    sent = r.json()[0]["spec"]["sources"]
    assert kinds(sent) == [("file_store", first.id), ("file_store", second.id), ("nvr_isapi", 4)]


def test_an_nvr_window_named_by_hand_is_not_fetched_again_once_stored(
    client: TestClient, runtime: ApiTestRuntime, evaluation: tuple[ArchiveProject, str]
) -> None:
    project, _ = evaluation
    by_hand = {**CAMERA, "channel": 5, "room": "P1", "start": START.isoformat(),
               "end": (START + timedelta(hours=1)).isoformat()}  # fmt: skip
    with Session(runtime.engine) as session:
        session.add(Device(id="burn1", centre_id="c2", kind="burner", online=True))
        session.commit()
        service.upsert_project(session, {
            "centre_id": "c2", "number": NUMBER, "name": project.name,
            "opening_date": project.opening_date, "sources": [by_hand],
        })  # fmt: skip
    key = nvr_key(NvrIsapiSource.model_validate(by_hand))
    meta = NvrClipMeta(
        project_number=NUMBER, nvr_key=key, part=1, parts=1, source_kind="nvr_isapi",
        window_start=START, window_end=START + timedelta(hours=1),
    ).model_dump(mode="json", exclude_defaults=True)  # fmt: skip
    clip = store(runtime, "P1_ch5.mp4", b"by hand" * 100, {**meta, "kind": NVR_VIDEO_KIND},
                 device="burn1")  # fmt: skip
    r = client.post("/api/v1/burn/jobs", json={"project_ids": [project.id]})
    assert r.status_code == 201, r.text
    assert kinds(r.json()[0]["spec"]["sources"]) == [("file_store", clip.id)]


def sources_of(
    runtime: ApiTestRuntime, project: ArchiveProject, allow_partial_video: bool = False
) -> list[dict[str, Any]]:
    with Session(runtime.engine) as session:
        row = session.get(ArchiveProject, project.id)
        assert row is not None
        return service.project_sources(
            session, runtime.settings.burn, row, allow_partial_video=allow_partial_video
        )


def listed(client: TestClient, project: ArchiveProject) -> list[str]:
    """Ids of the project's recordings in the API's project record."""
    return [r["id"] for r in client.get(f"/api/v1/burn/projects/{project.id}").json()["recordings"]]


@pytest.fixture
def camera3(runtime: ApiTestRuntime, evaluation: tuple[ArchiveProject, str]) -> ArchiveProject:
    """The evaluation project, room P1's camera on channel 3, burn station ``burn1`` of the
    project's centre, a disabled one ``burn2``, and ``burn9`` of another centre."""
    with Session(runtime.engine) as session:
        session.add(Device(id="burn1", centre_id="c2", kind="burner", online=True))
        session.add(Device(id="burn2", centre_id="c2", kind="burner", enabled=False))
        session.add(Device(id="burn9", centre_id="c1", kind="burner", online=True))
        session.add(Device(id="t7", centre_id="c2", kind="room_terminal", online=True))
        session.commit()
    runtime.settings.burn.room_cameras = [RoomCamera(centre="c2", room="P1", source=CAMERA)]
    return evaluation[0]


def test_only_a_burn_station_of_the_centre_uploading_nvr_video_spares_the_nvr(
    client: TestClient, runtime: ApiTestRuntime, camera3: ArchiveProject
) -> None:
    project = camera3
    # tagged like a clip, but not uploaded as NVR video (no meta.kind): an ordinary recording
    untagged = stored_clip(runtime, 3, 1, 1, kind=None)
    assert kinds(sources_of(runtime, project)) == [("file_store", untagged.id), ("nvr_isapi", 3)]
    # NVR video from a device that is no enabled burn station of the centre: listed, never
    # standing in for the NVR, and, like stored parts of a fetched key, off the disc
    others = []
    for device in ("t7", "burn2", "burn9"):
        others.append(stored_clip(runtime, 3, 1, 1, job_id=f"job-{device}", device=device))
        assert service.nvr_clip(others[-1]) is not None
        assert kinds(sources_of(runtime, project)) == [("file_store", untagged.id),
                                                       ("nvr_isapi", 3)]  # fmt: skip
        assert listed(client, project) == [untagged.id, others[0].id]
    # the station's upload of the same video, newer than the others: it wins and is taken
    mine = stored_clip(runtime, 3, 1, 1, job_id="job-burn1")
    assert kinds(sources_of(runtime, project)) == [("file_store", untagged.id),
                                                   ("file_store", mine.id)]  # fmt: skip
    assert listed(client, project) == [untagged.id, mine.id]
    page = client.get(f"/burn/projects/{project.id}").text
    assert mine.id in page and page.count("NVR录像") == 1


def test_a_later_whole_upload_wins_over_an_older_incomplete_one(
    client: TestClient, runtime: ApiTestRuntime, camera3: ArchiveProject
) -> None:
    project = camera3
    # job a stored part 1 of 3 and stopped; a retry of it cut the video into 2 and stored part 2
    a1 = stored_clip(runtime, 3, 1, 3, job_id="a")
    stored_clip(runtime, 3, 2, 2, job_id="a")
    assert kinds(sources_of(runtime, project)) == [("nvr_isapi", 3)]
    assert listed(client, project) == [a1.id]  # the oldest set, not a jumble of both
    # job b stored it whole, archived incomplete: better than a, but a job that does not
    # allow partial video asks the NVR again
    b = [stored_clip(runtime, 3, n, 2, "missing 09:00:04–09:00:10", job_id="b") for n in (1, 2)]
    assert listed(client, project) == [f.id for f in b]
    assert kinds(sources_of(runtime, project)) == [("nvr_isapi", 3)]
    assert kinds(sources_of(runtime, project, True)) == [("file_store", f.id) for f in b]
    # job c stored it whole without a gap: listed, played and taken instead of all others
    c = [stored_clip(runtime, 3, n, 2, job_id="c") for n in (1, 2)]
    stored_clip(runtime, 3, 1, 1, job_id="d")  # whole too, but later than c
    assert listed(client, project) == [f.id for f in c]
    page = client.get(f"/burn/projects/{project.id}").text
    assert all(f.id in page for f in c) and a1.id not in page and b[0].id not in page
    assert page.count("NVR录像") == 2
    for allow in (False, True):
        assert kinds(sources_of(runtime, project, allow)) == [("file_store", f.id) for f in c]
    r = client.post("/api/v1/burn/jobs", json={"project_ids": [project.id]})
    assert r.status_code == 201, r.text
    assert kinds(r.json()[0]["spec"]["sources"]) == [("file_store", f.id) for f in c]


def test_a_clip_that_fails_its_decode_check_is_not_stored(
    client: TestClient, runtime: ApiTestRuntime, camera3: ArchiveProject
) -> None:
    project = camera3
    a = [stored_clip(runtime, 3, n, 2, job_id="a") for n in (1, 2)]
    assert kinds(sources_of(runtime, project)) == [("file_store", f.id) for f in a]
    fail_check(runtime, a[1])
    # the NVR is asked again, and the damaged set stays off the disc
    assert kinds(sources_of(runtime, project)) == [("nvr_isapi", 3)]
    assert kinds(sources_of(runtime, project, True)) == [("nvr_isapi", 3)]
    assert listed(client, project) == [f.id for f in a]  # still the best there is
    # the next job's sound upload replaces it; a sound copy of a part in the same set would too
    b = [stored_clip(runtime, 3, n, 2, job_id="b") for n in (1, 2)]
    assert listed(client, project) == [f.id for f in b]
    assert kinds(sources_of(runtime, project)) == [("file_store", f.id) for f in b]
    fail_check(runtime, b[0])
    assert kinds(sources_of(runtime, project)) == [("nvr_isapi", 3)]
    again = stored_clip(runtime, 3, 1, 2, job_id="b")
    assert listed(client, project) == [b[1].id, again.id]
    assert kinds(sources_of(runtime, project)) == [("file_store", b[1].id),
                                                   ("file_store", again.id)]  # fmt: skip
