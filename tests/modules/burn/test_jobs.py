"""Jobs from ticked projects, dispatch as a durable command, the station's events moving the
job through its stages into the archive, retry from the failed stage, cancel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.commands.models import Command, CommandState
from collector.event_bus import EventBus
from collector.ingest.models import StoredEvent
from collector.modules.burn.models import (
    ArchiveProject,
    ArchiveStatus,
    BurnJob,
    BurnJobLog,
    Disc,
    DiscFile,
    Drive,
    JobState,
    VerifyResult,
)
from collector.modules.burn.module import setup
from contract.ids import uuid7
from contract.payloads.burn import BurnJobSpec
from tests.api.support import ApiTestRuntime
from tests.console.support import csrf_of

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
SHA = "ab" * 32


def bus_for(runtime: ApiTestRuntime) -> EventBus:
    bus = EventBus()
    setup(SimpleNamespace(settings=runtime.settings, event_bus=bus))  # type: ignore[arg-type]
    return bus


def deliver(
    runtime: ApiTestRuntime, bus: EventBus, type_: str, payload: dict[str, Any], ts: datetime
) -> None:
    """What the ingest does for a newly stored event: the handlers, inside its transaction."""
    event = StoredEvent(
        id=str(uuid7()),
        centre_id="c2",
        device_id="burn1",
        type=type_,
        seq=1,
        ts=ts,
        payload=payload,
    )
    with Session(runtime.engine) as session:
        session.add(event)
        bus.dispatch(session, event)
        session.commit()


def state(job_id: str, stage: str, progress: float, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "project_number": "GC-2026-001",
        "stage": stage,
        "progress": progress,
        **extra,
    }


def disc(
    job_id: str, role: str, verify: str = "ok", attempt: int = 1, disc_id: str | None = None
) -> dict[str, Any]:
    return {
        "disc_id": disc_id or str(uuid7()),
        "job_id": job_id,
        "project_number": "GC-2026-001",
        "disc_index": 1,
        "disc_count": 1,
        "copy_role": role,
        "copy_number": 1,
        "volume_id": "GC2026001_1",
        "drive": "sr0",
        "medium": "dvd",
        "files": [
            {
                "path": "video/第一开标室_0900.mp4",
                "size": 1000,
                "sha256": SHA,
                "media": "video",
                "duration_s": 3600.0,
                "codec": "h264",
            },
            {"path": "docs/招标文件.pdf", "size": 10, "sha256": SHA, "media": "document"},
        ],
        "image_size": 2048,
        "image_sha256": SHA,
        "verify": verify,
        "attempt": attempt,
        "burned_at": T0.isoformat(),
    }


def tick(client: TestClient, project_ids: list[int], **form: Any) -> Any:
    token = csrf_of(client.get("/burn/projects").text)
    data = {
        "csrf_token": token,
        "project_id": [str(i) for i in project_ids],
        "medium": "dvd",
        "copies": ["archive", "offsite"],
        **form,
    }
    return client.post("/burn/jobs", data=data, follow_redirects=False)


def test_ticked_project_becomes_a_job_sent_to_the_station(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    r = tick(client, [projects[0].id or 0], label_lines="保存期限：永久\n密级：内部")
    assert r.status_code == 303, r.text
    with Session(runtime.engine) as session:
        job = session.exec(select(BurnJob)).one()
        assert job.spec["label"]["lines"] == ["保存期限：永久", "密级：内部"]
        assert job.station_id == "burn1" and job.state == JobState.QUEUED
        assert session.get(ArchiveProject, projects[0].id).archive_status == ArchiveStatus.QUEUED  # type: ignore[union-attr]
        command = session.get(Command, job.command_id)
        assert command is not None and command.durable and command.action == "burner.burn"
    topic, payload, _, _ = runtime.publisher.messages[-1]
    assert topic == "prtc/v1/c2/burn1/cmd"
    spec = BurnJobSpec.model_validate(json.loads(payload)["args"])
    assert str(spec.job_id) == job.id and spec.project.number == "GC-2026-001"
    assert [c.role for c in spec.copies] == ["archive", "offsite"]
    assert spec.sources[0].kind == "url"
    assert spec.allow_partial_video is False  # NVR video with gaps fails unless allowed
    # a second job for the same project is refused while the first is under way
    assert tick(client, [projects[0].id or 0]).status_code == 422
    page = client.get("/burn").text
    assert "GC-2026-001" in page and 'data-live="/console/events/burn-jobs"' in page


def test_a_job_may_allow_incomplete_nvr_video_from_the_console_and_the_api(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    assert 'name="allow_partial_video"' in client.get("/burn/projects").text
    assert tick(client, [projects[0].id or 0], allow_partial_video="1").status_code == 303
    r = client.post(
        "/api/v1/burn/jobs", json={"project_ids": [projects[1].id], "allow_partial_video": True}
    )
    assert r.status_code == 201, r.text
    with Session(runtime.engine) as session:
        jobs = session.exec(select(BurnJob)).all()
        assert len(jobs) == 2
        assert all(BurnJobSpec.model_validate(j.spec).allow_partial_video for j in jobs)


def test_events_move_the_job_and_fill_the_archive(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    assert tick(client, [projects[0].id or 0]).status_code == 303
    with Session(runtime.engine) as session:
        job_id = session.exec(select(BurnJob)).one().id
    bus = bus_for(runtime)
    deliver(runtime, bus, "burn.job_state", state(job_id, "fetching", 0.1), T0)
    deliver(
        runtime, bus, "burn.job_state", state(job_id, "burning", 0.5), T0 + timedelta(seconds=5)
    )
    deliver(
        runtime,
        bus,
        "burn.drive_state",
        {
            "drive": "sr0",
            "device": "/dev/sr0",
            "state": "busy",
            "job_id": job_id,
            "medium": {
                "type": "DVD+R",
                "blank": False,
                "capacity_bytes": 4_700_000_000,
                "free_bytes": 0,
            },
        },
        T0 + timedelta(seconds=6),
    )
    # an older report arriving late changes nothing
    deliver(
        runtime, bus, "burn.job_state", state(job_id, "fetching", 0.2), T0 + timedelta(seconds=1)
    )
    deliver(
        runtime,
        bus,
        "burn.job_state",
        state(job_id, "failed", 0.5, error="drive sr0: write error", failed_stage="burning"),
        T0 + timedelta(seconds=10),
    )
    with Session(runtime.engine) as session:
        job = session.get(BurnJob, job_id)
        assert job is not None and job.state == JobState.FAILED and job.failed_stage == "burning"
        assert "write error" in job.error
        drive = session.exec(select(Drive)).one()
        assert (drive.state, drive.medium, drive.current_job_id) == ("busy", "DVD+R", job_id)
    page = client.get(f"/burn/jobs/{job_id}").text
    assert "write error" in page and 'id="retry"' in page

    # retry from the failed stage: the station is asked to re-run its own job
    r = client.post(f"/api/v1/burn/jobs/{job_id}/retry", json={})
    assert r.status_code == 200, r.text
    command = json.loads(runtime.publisher.messages[-1][1])
    assert command["action"] == "burner.retry"
    assert command["args"] == {"job_id": job_id, "from_stage": "burning"}

    later = T0 + timedelta(minutes=1)
    deliver(runtime, bus, "burn.job_state", state(job_id, "burning", 0.6, attempt=2), later)
    bad_id = str(uuid7())
    deliver(runtime, bus, "burn.disc", disc(job_id, "archive", "bad", disc_id=bad_id), later)
    deliver(
        runtime, bus, "burn.disc", disc(job_id, "archive", "ok", attempt=2, disc_id=bad_id), later
    )
    deliver(runtime, bus, "burn.disc", disc(job_id, "offsite"), later)
    deliver(runtime, bus, "burn.job_state", state(job_id, "verifying", 0.9, attempt=2), later)
    deliver(
        runtime,
        bus,
        "burn.job_state",
        state(job_id, "done", 1.0, attempt=2),
        later + timedelta(seconds=1),
    )
    with Session(runtime.engine) as session:
        job = session.get(BurnJob, job_id)
        assert job is not None and job.state == JobState.DONE and job.progress == 1.0
        assert job.attempt == 2 and job.failed_stage is None and job.finished_at is not None
        project = session.get(ArchiveProject, projects[0].id)
        assert project is not None and project.archive_status == ArchiveStatus.DONE
        discs = session.exec(select(Disc).order_by(Disc.copy_role)).all()
        assert [(d.copy_role.value, d.verify, d.attempt) for d in discs] == [
            ("archive", VerifyResult.OK, 2),
            ("offsite", VerifyResult.OK, 1),
        ]
        assert discs[0].next_verify_due == datetime(2029, 11, 23).date()  # burned_at + 3 years
        assert len(session.exec(select(DiscFile)).all()) == 4  # re-burn replaced its files
        stages = [
            line.state
            for line in session.exec(select(BurnJobLog).where(BurnJobLog.job_id == job_id))
        ]
        assert stages[:1] == ["queued"] and "failed" in stages and stages[-1] == "done"
    # the archive finds the discs by file name and shows what each holds
    found = client.get("/api/v1/burn/discs", params={"file": "招标文件"}).json()
    assert found["total"] == 2 and found["items"][0]["matched"] == ["docs/招标文件.pdf"]
    page = client.get("/burn/archive", params={"file": "开标室"}).text
    assert "第一开标室_0900.mp4" in page and "GC2026001_1" in page


def test_cancel_before_the_station_took_it_up(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    with Session(runtime.engine) as session:
        station = session.get(
            __import__("collector.devices.models", fromlist=["Device"]).Device, "burn1"
        )
        station.online = False  # type: ignore[union-attr]
        session.add(station)
        session.commit()
    assert tick(client, [projects[1].id or 0]).status_code == 303
    with Session(runtime.engine) as session:
        job = session.exec(select(BurnJob)).one()
        assert session.get(Command, job.command_id).state == CommandState.QUEUED  # type: ignore[union-attr]
    token = csrf_of(client.get(f"/burn/jobs/{job.id}").text)
    r = client.post(
        f"/burn/jobs/{job.id}/cancel", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    with Session(runtime.engine) as session:
        job = session.get(BurnJob, job.id)  # type: ignore[assignment]
        assert job.state == JobState.CANCELLED
        assert session.get(Command, job.command_id).state == CommandState.EXPIRED  # type: ignore[union-attr]
        assert session.get(ArchiveProject, projects[1].id).archive_status == ArchiveStatus.PENDING  # type: ignore[union-attr]
    assert "burn.job_cancel" in client.get("/audit").text
    # a retry of a job the station never took up sends the whole job again
    sent = len(runtime.publisher.messages)
    assert client.post(f"/api/v1/burn/jobs/{job.id}/retry").status_code == 200
    with Session(runtime.engine) as session:
        again = session.get(BurnJob, job.id)
        assert again is not None and again.state == JobState.QUEUED
        assert session.get(ArchiveProject, projects[1].id).archive_status == ArchiveStatus.QUEUED  # type: ignore[union-attr]
        command = session.get(Command, again.command_id)
        assert command is not None and command.action == "burner.burn"
        assert command.state == CommandState.QUEUED  # the station is still offline
    assert len(runtime.publisher.messages) == sent


def test_storage_location_is_audited_and_reverify_sends_verify_disc(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    assert tick(client, [projects[0].id or 0]).status_code == 303
    with Session(runtime.engine) as session:
        job_id = session.exec(select(BurnJob)).one().id
    bus = bus_for(runtime)
    old = T0 - timedelta(days=4 * 365)
    payload = disc(job_id, "archive")
    payload["burned_at"] = old.isoformat()
    deliver(runtime, bus, "burn.disc", payload, old)
    deliver(
        runtime,
        bus,
        "burn.drive_state",
        {"drive": "sr0", "device": "/dev/sr0", "state": "idle"},
        T0,
    )
    disc_id = payload["disc_id"]
    page = client.get("/burn/archive").text
    assert 'id="due-notice"' in page  # burned four years ago: due for re-verification
    assert 'id="due-notice"' in client.get("/burn").text  # reminded on the jobs page too
    token = csrf_of(client.get(f"/burn/discs/{disc_id}").text)
    r = client.post(
        f"/burn/discs/{disc_id}/location",
        data={"csrf_token": token, "shelf": "A-03", "box": "12"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "A-03" in client.get(f"/burn/discs/{disc_id}").text
    assert "burn.disc_location" in client.get("/audit").text
    r = client.post(
        f"/burn/discs/{disc_id}/reverify",
        data={"csrf_token": token, "drive": "burn1|sr0"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    command = json.loads(runtime.publisher.messages[-1][1])
    assert command["action"] == "burner.verify_disc"
    assert command["args"] == {"drive": "sr0", "disc_id": disc_id}
    deliver(
        runtime,
        bus,
        "burn.disc_check",
        {
            "drive": "sr0",
            "disc_id": disc_id,
            "ok": True,
            "files_checked": 2,
            "checked_at": T0.isoformat(),
        },
        T0,
    )
    with Session(runtime.engine) as session:
        row = session.get(Disc, disc_id)
        assert (
            row is not None
            and row.last_verified_at == T0
            and row.next_verify_due == datetime(2029, 11, 23).date()
        )
    assert 'id="due-notice"' not in client.get("/burn/archive").text


def test_label_links_to_the_disc_record_and_archive_filters(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    runtime.settings.burn.archive_url = "https://prtc.example.cn/"
    r = client.post("/api/v1/burn/jobs", json={"project_ids": [projects[0].id, projects[1].id]})
    assert r.status_code == 201, r.text
    jobs = {j["project_number"]: j for j in r.json()}
    label = jobs["GC-2026-001"]["spec"]["label"]
    assert label["archive_url"] == "https://prtc.example.cn/burn/discs/{disc_id}"
    assert label["centre_name"] == "县中心"  # the centre's name, printed on the label
    bus = bus_for(runtime)
    for number, job in jobs.items():
        payload = disc(job["id"], "archive")
        payload["project_number"] = number
        deliver(runtime, bus, "burn.disc", payload, T0)

    def found(**params: str) -> list[str]:
        items = client.get("/api/v1/burn/discs", params=params).json()["items"]
        return sorted(i["project_number"] for i in items)

    assert found() == ["GC-2026-001", "GC-2026-002"]
    assert found(date_from="2026-11-22") == ["GC-2026-002"]  # opened 21st and 22nd
    assert found(date_to="2026-11-21") == ["GC-2026-001"]
    assert found(category="construction") == ["GC-2026-001", "GC-2026-002"]
    assert found(category="land") == []
    assert found(q="2标段") == ["GC-2026-002"]
    assert found(q="GC-2026-001") == ["GC-2026-001"]
