"""Jobs and the archive status of their projects over time: a failed job gives its project back
to the schedules; a station gets at most ``max_jobs_per_station`` jobs at once, the others wait
at the collector and go out, oldest first, as jobs end; a "busy" answer makes a job wait again
instead of failing it. (The real station answering "busy" is in ``test_end_to_end``.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from collector.commands.models import Command, CommandState
from collector.modules.burn import schedules, service
from collector.modules.burn.models import (
    ArchiveProject,
    ArchiveStatus,
    BurnJob,
    BurnJobLog,
    BurnSchedule,
    Frequency,
    JobState,
)
from collector.modules.burn.module import send_waiting
from tests.api.support import ApiTestRuntime
from tests.modules.burn.test_jobs import T0, bus_for, deliver, state

DAY1 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # after 02:00 China time on the 24th


def add_schedule(runtime: ApiTestRuntime) -> int:
    with Session(runtime.engine) as session:
        row = BurnSchedule(centre_id="c2", name="每日归档", frequency=Frequency.DAILY,
                           time_of_day="02:00", copies=["archive"])  # fmt: skip
        session.add(row)
        session.commit()
        return row.id or 0


def run(runtime: ApiTestRuntime, schedule_id: int, now: datetime) -> list[BurnJob]:
    with Session(runtime.engine, expire_on_commit=False) as session:
        return schedules.run_occurrence(session, runtime, schedule_id, now=now) or []


def status_of(runtime: ApiTestRuntime, project_id: int | None) -> ArchiveStatus:
    with Session(runtime.engine) as session:
        row = session.get(ArchiveProject, project_id)
        assert row is not None
        return row.archive_status


def test_a_failed_job_gives_its_project_back_to_the_schedules(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    schedule_id = add_schedule(runtime)
    first = {j.project_number: j for j in run(runtime, schedule_id, DAY1)}
    assert sorted(first) == ["GC-2026-001", "GC-2026-002"]
    failed = first["GC-2026-001"]
    bus = bus_for(runtime)
    deliver(runtime, bus, "burn.job_state", state(failed.id, "fetching", 0.1), T0)
    deliver(runtime, bus, "burn.job_state", state(failed.id, "failed", 0.1, error="NVR 无响应",
            failed_stage="fetching"), T0 + timedelta(seconds=5))  # fmt: skip
    assert status_of(runtime, projects[0].id) == ArchiveStatus.PENDING
    assert status_of(runtime, projects[1].id) == ArchiveStatus.QUEUED  # its job runs on
    page = client.get("/burn/projects").text
    assert f'id="tick-{projects[0].id}"' in page and f'id="tick-{projects[1].id}"' not in page

    second = run(runtime, schedule_id, DAY1 + timedelta(days=1))
    assert [j.project_number for j in second] == ["GC-2026-001"]
    assert status_of(runtime, projects[0].id) == ArchiveStatus.QUEUED
    # the failed job is not run a second time next to the new one
    r = client.post(f"/api/v1/burn/jobs/{failed.id}/retry", json={})
    assert r.status_code == 409 and "进行中" in r.json()["detail"]

    # a failed re-burn of an archived project leaves it archived
    deliver(runtime, bus, "burn.job_state", state(second[0].id, "done", 1.0), T0)
    assert status_of(runtime, projects[0].id) == ArchiveStatus.DONE
    again = client.post("/api/v1/burn/jobs", json={"project_ids": [projects[0].id]}).json()[0]
    deliver(runtime, bus, "burn.job_state", state(again["id"], "failed", 0.2, error="x",
            failed_stage="burning"), T0 + timedelta(seconds=9))  # fmt: skip
    assert status_of(runtime, projects[0].id) == ArchiveStatus.DONE


def test_schedules_give_up_on_a_project_after_repeated_failures(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    limit = runtime.settings.burn.schedule_max_failures
    schedule_id = add_schedule(runtime)
    bus = bus_for(runtime)
    for day in range(limit):
        jobs = {j.project_number: j for j in run(runtime, schedule_id, DAY1 + timedelta(days=day))}
        assert "GC-2026-001" in jobs, f"day {day}: the failing project was not picked up"
        for number, job in jobs.items():
            final = "failed" if number == "GC-2026-001" else "done"
            deliver(runtime, bus, "burn.job_state", state(job.id, final, 0.5, error="NVR 无响应",
                    failed_stage="fetching"), T0 + timedelta(days=day))  # fmt: skip
    assert run(runtime, schedule_id, DAY1 + timedelta(days=limit)) == []
    assert status_of(runtime, projects[0].id) == ArchiveStatus.PENDING  # still to archive
    # the operator can still tick it; one finished job starts the count again
    ticked = client.post("/api/v1/burn/jobs", json={"project_ids": [projects[0].id]})
    assert ticked.status_code == 201, ticked.text


def sent_jobs(runtime: ApiTestRuntime) -> dict[str, str]:
    """Project number → command id of each job sent to a station and not finished."""
    with Session(runtime.engine) as session:
        rows = session.exec(
            select(BurnJob).where(
                col(BurnJob.command_id).is_not(None), col(BurnJob.state).in_(service.ACTIVE_STATES)
            )
        )
        return {j.project_number: j.command_id or "" for j in rows}


def test_a_station_gets_its_share_and_busy_jobs_wait_again(
    runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    runtime.settings.burn.max_jobs_per_station = 2
    with Session(runtime.engine) as session:
        for n in (4, 5, 6):
            service.upsert_project(session, {
                "centre_id": "c2", "number": f"GC-2026-00{n}", "name": f"项目{n}",
                "opening_date": f"2026-11-2{n}",
                "sources": [{"kind": "url", "url": f"http://docs.example/{n}.pdf"}],
            })  # fmt: skip
    jobs = run(runtime, add_schedule(runtime), DAY1)
    assert len(jobs) == 5
    assert sorted(sent_jobs(runtime)) == ["GC-2026-001", "GC-2026-002"]  # oldest openings
    assert len(runtime.publisher.messages) == 2
    with Session(runtime.engine) as session:
        waiting = session.exec(select(BurnJob).where(col(BurnJob.command_id).is_(None))).all()
        assert len(waiting) == 3 and all("排队等待" in j.message for j in waiting)

    # the station answers "busy" to the second job (as the ingest stores its ack)
    busy_command = sent_jobs(runtime)["GC-2026-002"]
    with Session(runtime.engine) as session:
        command = session.get(Command, busy_command)
        assert command is not None
        command.state, command.message = CommandState.BUSY, "4 running"
        session.add(command)
        session.commit()
    with Session(runtime.engine) as session:
        assert service.fail_unanswered(session) == 0  # "busy" is no end of a job
    send_waiting(runtime)  # type: ignore[arg-type]
    again = sent_jobs(runtime)
    assert sorted(again) == ["GC-2026-001", "GC-2026-002"]  # sent again, before the others
    assert again["GC-2026-002"] != busy_command

    bus = bus_for(runtime)
    finished: list[str] = []
    for step in range(10):
        active = sent_jobs(runtime)
        assert len(active) <= 2
        if not active:
            break
        number = min(active)
        job_id = next(j.id for j in jobs if j.project_number == number)
        deliver(runtime, bus, "burn.job_state", state(job_id, "done", 1.0),
                T0 + timedelta(minutes=step))  # fmt: skip
        finished.append(number)
        send_waiting(runtime)  # type: ignore[arg-type]
    assert finished == [f"GC-2026-00{n}" for n in (1, 2, 4, 5, 6)]
    with Session(runtime.engine) as session:
        states = {j.project_number: j.state for j in session.exec(select(BurnJob))}
        assert set(states.values()) == {JobState.DONE}
        requeued = session.exec(
            select(BurnJobLog).where(col(BurnJobLog.message).contains("重新排队"))
        ).all()
        assert [line.job_id for line in requeued] == [
            next(j.id for j in jobs if j.project_number == "GC-2026-002")
        ]
    assert len(runtime.publisher.messages) == 6  # five jobs, one of them twice


def test_a_busy_station_hands_a_picked_job_to_another_but_keeps_a_chosen_one(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    from collector.devices.models import Device

    runtime.settings.burn.max_jobs_per_station = 1
    with Session(runtime.engine) as session:
        session.add(Device(id="burn2", centre_id="c2", kind="burner", online=True))
        session.commit()
    picked = client.post("/api/v1/burn/jobs", json={"project_ids": [projects[0].id]}).json()[0]
    chosen = client.post(
        "/api/v1/burn/jobs", json={"project_ids": [projects[1].id], "station_id": "burn1"}
    ).json()[0]

    def command_of(job_id: str) -> Command | None:
        with Session(runtime.engine) as session:
            job = session.get(BurnJob, job_id)
            assert job is not None
            return session.get(Command, job.command_id) if job.command_id else None

    first = command_of(picked["id"])
    assert first is not None and first.device_id == "burn1"  # both free: the first by id
    assert command_of(chosen["id"]) is None  # burn1 is full; the chosen job waits for it
    with Session(runtime.engine) as session:  # burn1 answers "busy" (a re-verification)
        row = session.get(Command, first.id)
        assert row is not None
        row.state, row.message = CommandState.BUSY, "1 running"
        session.add(row)
        session.commit()
    send_waiting(runtime)  # type: ignore[arg-type]
    again = command_of(picked["id"])
    assert again is not None and again.device_id == "burn2"  # not back to the busy one
    chosen_command = command_of(chosen["id"])
    assert chosen_command is not None and chosen_command.device_id == "burn1"


def test_a_busy_station_keeps_a_job_it_already_worked_on(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    """A picked station that worked on a job keeps what it fetched and staged: a retry it
    answers "busy" to waits for it rather than go to another station."""
    from collector.devices.models import Device

    runtime.settings.burn.max_jobs_per_station = 1
    with Session(runtime.engine) as session:
        session.add(Device(id="burn2", centre_id="c2", kind="burner", online=True))
        session.commit()
    job = client.post("/api/v1/burn/jobs", json={"project_ids": [projects[0].id]}).json()[0]

    def command_of(job_id: str) -> Command | None:
        with Session(runtime.engine) as session:
            row = session.get(BurnJob, job_id)
            assert row is not None
            return session.get(Command, row.command_id) if row.command_id else None

    first = command_of(job["id"])
    assert first is not None and first.device_id == "burn1"  # picked, not chosen
    bus = bus_for(runtime)
    deliver(runtime, bus, "burn.job_state", state(job["id"], "fetching", 0.1), T0)
    deliver(runtime, bus, "burn.job_state", state(job["id"], "failed", 0.1, error="NVR 无响应",
            failed_stage="fetching"), T0 + timedelta(seconds=5))  # fmt: skip
    assert client.post(f"/api/v1/burn/jobs/{job['id']}/retry", json={}).status_code == 200
    retry = command_of(job["id"])
    assert retry is not None and retry.device_id == "burn1" and retry.action.endswith(".retry")
    with Session(runtime.engine) as session:  # burn1 answers "busy" to the retry
        row = session.get(Command, retry.id)
        assert row is not None
        row.state, row.message = CommandState.BUSY, "1 running"
        session.add(row)
        session.commit()
    send_waiting(runtime)  # type: ignore[arg-type]
    again = command_of(job["id"])
    assert again is not None and again.id != retry.id
    assert again.device_id == "burn1" and again.action.endswith(".retry")  # burn2 was free too
    assert again.args["from_stage"] == "fetching"
