"""A job's log: stage changes and errors, progress only now and then (stations report about
once a second); the newest lines are shown, so a long job's failure is on its page; the page's
log follows the job live."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.console import live
from collector.modules.burn import service
from collector.modules.burn.models import ArchiveProject, BurnJob, BurnJobLog, JobState
from tests.api.support import ApiTestRuntime
from tests.modules.burn.support import other_county_burn
from tests.modules.burn.test_jobs import T0, bus_for, deliver, state, tick


def new_job(client: TestClient, project: ArchiveProject) -> str:
    r = client.post("/api/v1/burn/jobs", json={"project_ids": [project.id]})
    assert r.status_code == 201, r.text
    return str(r.json()[0]["id"])


def test_progress_reports_do_not_flood_the_log(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    job_id = new_job(client, projects[0])
    bus = bus_for(runtime)
    deliver(runtime, bus, "burn.job_state", state(job_id, "fetching", 0.05), T0)
    for second in range(1, 181):  # three minutes of burning, a report a second
        report = state(job_id, "burning", 0.3 + second / 1000, message=f"burning {second}s")
        deliver(runtime, bus, "burn.job_state", report, T0 + timedelta(seconds=second))
    failure = state(job_id, "failed", 0.48, error="sr0: write error at sector 9120",
                    failed_stage="burning")  # fmt: skip
    deliver(runtime, bus, "burn.job_state", failure, T0 + timedelta(seconds=181))
    with Session(runtime.engine) as session:
        job = session.get(BurnJob, job_id)
        assert job is not None and job.state == JobState.FAILED and job.progress == 0.48
        lines = session.exec(select(BurnJobLog).where(BurnJobLog.job_id == job_id)).all()
    stages = [line.state for line in lines]
    # created, sent, fetching, burning, a progress line a minute, the failure
    assert stages[:4] == ["queued", "queued", "fetching", "burning"]
    assert stages[-1] == "failed" and len(lines) <= 8, [(x.state, x.message) for x in lines]
    assert "write error" in lines[-1].message


def test_the_newest_lines_are_shown_oldest_first(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    job_id = new_job(client, projects[0])
    with Session(runtime.engine) as session:  # a long job's log (a day of hourly notes...)
        for n in range(600):
            session.add(BurnJobLog(job_id=job_id, state="burning", progress=n / 600,
                                   message=f"note {n}", ts=T0 + timedelta(minutes=n)))  # fmt: skip
        session.commit()
    bus = bus_for(runtime)
    failure = state(job_id, "failed", 0.9, error="verify: MD5 mismatch in video/1.mp4",
                    failed_stage="verifying")  # fmt: skip
    deliver(runtime, bus, "burn.job_state", failure, T0 + timedelta(days=1))
    log = client.get(f"/api/v1/burn/jobs/{job_id}").json()["log"]
    assert len(log) == service.JOB_LOG_LINES
    assert log[-1]["state"] == "failed" and "MD5 mismatch" in log[-1]["message"]
    assert [line["message"] for line in log[:2]] == ["note 401", "note 402"]
    page = client.get(f"/burn/jobs/{job_id}").text
    assert "MD5 mismatch" in page and "note 401" in page and "note 400<" not in page


def first_update(client: TestClient, path: str) -> dict[str, Any]:
    with client.stream("GET", path) as stream:
        assert stream.status_code == 200, path
        for line in stream.iter_lines():
            if line.startswith("data: "):
                return json.loads(line[6:])  # type: ignore[no-any-return]
    raise AssertionError(f"no update from {path}")


def test_the_job_page_follows_the_job_and_its_log_live(
    operator: TestClient,
    runtime: ApiTestRuntime,
    projects: list[ArchiveProject],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "POLL_S", 0.05)
    monkeypatch.setattr(live, "MAX_STREAM_S", 0.5)
    assert tick(operator, [projects[0].id or 0]).status_code == 303
    with Session(runtime.engine) as session:
        job_id = session.exec(select(BurnJob)).one().id
    bus = bus_for(runtime)
    deliver(runtime, bus, "burn.job_state", state(job_id, "burning", 0.5, message="sr0"), T0)
    page = operator.get(f"/burn/jobs/{job_id}").text
    assert f'data-live="/console/events/burn-jobs/{job_id}/log" data-live-append' in page
    assert f'data-live="/console/events/burn-jobs/{job_id}"' in page
    log = first_update(operator, f"/console/events/burn-jobs/{job_id}/log")["items"]
    assert [line["state"] for line in log] == ["排队", "排队", "刻录"]
    assert log[-1]["progress"] == "50%" and log[-1]["message"] == "sr0"
    for line in log:  # the page drew the same rows, so the stream's rows replace them in place
        assert f'<tr data-id="{line["id"]}">' in page
    job = first_update(operator, f"/console/events/burn-jobs/{job_id}")["items"]
    assert [(j["id"], j["state"], j["progress"]) for j in job] == [(job_id, "刻录", "50%")]
    from collector.centres.models import Centre

    with Session(runtime.engine) as session:
        session.add(Centre(id="c3", name="乙县", parent_id="c1"))
        session.commit()
    other = other_county_burn(runtime.engine)["burn_job_id"]
    assert operator.get(f"/console/events/burn-jobs/{other}").status_code == 404
    assert operator.get(f"/console/events/burn-jobs/{other}/log").status_code == 404
