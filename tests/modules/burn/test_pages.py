"""Console pages of the burn module: scoped to the user's centres, schedules edited through
their forms, every page in Chinese first."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.console import live
from collector.modules.burn.models import BurnSchedule, Drive, Frequency
from tests.api.support import ApiTestRuntime
from tests.console.support import csrf_of
from tests.modules.burn.support import other_county_burn
from tests.support.text import mentions

PAGES = [
    "/burn",
    "/burn/projects",
    "/burn/schedules",
    "/burn/imports",
    "/burn/drives",
    "/burn/archive",
]


def test_every_page_renders_in_chinese_and_english(client: TestClient, projects: list) -> None:
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
        assert "自动刻录" in r.text and "光盘档案" in r.text, path
    assert "Disc archive" in client.get("/burn/archive?lang=en").text


def test_an_operator_sees_only_their_centre(
    operator: TestClient, client: TestClient, runtime: ApiTestRuntime, projects: list
) -> None:
    from collector.centres.models import Centre

    with Session(runtime.engine) as session:
        session.add(Centre(id="c3", name="乙县", parent_id="c1"))
        session.commit()
    other = other_county_burn(runtime.engine)
    for path in PAGES:
        text = operator.get(path).text
        assert not mentions(text, "YX-2026-003") and not mentions(text, "YX2026003_1"), path
        assert not mentions(text, "dB"), path
    assert "GC-2026-001" in operator.get("/burn/projects").text
    assert operator.get(f"/burn/jobs/{other['burn_job_id']}").status_code == 404
    assert operator.get(f"/burn/discs/{other['burn_disc_id']}").status_code == 404
    assert operator.get("/api/v1/burn/discs").json()["total"] == 0
    # the city administrator (system admin here) sees both
    assert "YX-2026-003" in client.get("/burn/projects").text
    # operators may burn but not manage schedules
    assert operator.get("/burn/schedules").status_code == 200
    token = csrf_of(operator.get("/burn/schedules").text)
    denied = operator.post(
        "/burn/schedules", data={"csrf_token": token, "name": "x", "centre_id": "c2"}
    )
    assert denied.status_code == 403


def test_schedules_are_created_edited_and_deleted_through_the_forms(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    token = csrf_of(client.get("/burn/schedules").text)
    form = {
        "csrf_token": token,
        "name": "每周五归档",
        "centre_id": "c2",
        "frequency": "weekly",
        "time_of_day": "22:30",
        "weekday": "4",
        "medium": "bd",
        "copies": ["archive", "offsite"],
        "category": "procurement",
        "enabled": "on",
    }
    assert client.post("/burn/schedules", data=form, follow_redirects=False).status_code == 303
    with Session(runtime.engine) as session:
        row = session.exec(select(BurnSchedule)).one()
        assert (row.frequency, row.weekday, row.time_of_day, row.copies) == (
            Frequency.WEEKLY,
            4,
            "22:30",
            ["archive", "offsite"],
        )
        assert not row.synced  # no scheduler in this app: the leader picks it up
    page = client.get(f"/burn/schedules?edit={row.id}").text
    assert 'value="每周五归档"' in page
    edited = {**form, "frequency": "monthly", "day_of_month": "31", "weekday": ""}
    r = client.post(f"/burn/schedules/{row.id}", data=edited, follow_redirects=False)
    assert r.status_code == 303
    with Session(runtime.engine) as session:
        row = session.exec(select(BurnSchedule)).one()
        assert (row.frequency, row.day_of_month) == (Frequency.MONTHLY, 31)
    bad = {**form, "frequency": "weekly", "weekday": ""}
    assert client.post("/burn/schedules", data=bad).status_code == 422
    r = client.post(
        f"/burn/schedules/{row.id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    with Session(runtime.engine) as session:
        assert session.exec(select(BurnSchedule)).all() == []
    audit = client.get("/audit").text
    for action in ("burn.schedule_create", "burn.schedule_edit", "burn.schedule_delete"):
        assert action in audit


def test_the_job_and_drive_streams_send_rows_of_the_users_centres(
    operator: TestClient, runtime: ApiTestRuntime, projects: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "POLL_S", 0.05)
    monkeypatch.setattr(live, "MAX_STREAM_S", 0.5)
    token = csrf_of(operator.get("/burn/projects").text)
    data = {"csrf_token": token, "project_id": [str(projects[0].id)], "copies": ["archive"]}
    assert operator.post("/burn/jobs", data=data, follow_redirects=False).status_code == 303
    with Session(runtime.engine) as session:
        session.add(Drive(centre_id="c2", station_id="burn1", drive="sr0", state="idle",
                          medium="DVD+R", free=4_700_000_000))  # fmt: skip
        session.commit()

    def first_update(path: str) -> dict:  # type: ignore[type-arg]
        with operator.stream("GET", path) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    return json.loads(line[6:])  # type: ignore[no-any-return]
        raise AssertionError(f"no update from {path}")

    jobs = first_update("/console/events/burn-jobs")["items"]
    assert [(j["state"], j["progress"], j["station_id"]) for j in jobs] == [("排队", "0%", "burn1")]
    drives = first_update("/console/events/burn-drives")["items"]
    assert drives == [
        {"id": "burn1/sr0", "state": "idle", "medium": "DVD+R", "free": "4.7 GB",
         "current_job_id": "-", "message": "", "updated_at": drives[0]["updated_at"]}
    ]  # fmt: skip
