"""Console pages: every page renders, is scoped by centre, and the admin forms work; the
devices stream reports a device coming online."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.auth.models import User
from collector.centres.models import Centre
from collector.console import live
from collector.devices.models import Device
from tests.api.support import ADMIN_PASSWORD, ApiTestRuntime
from tests.console.support import OTHER_IDS, PASSWORD, csrf_of, form_login
from tests.support.text import mentions


def test_every_page_renders_for_the_admin(anonymous: TestClient) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    for path in ["/devices", "/devices/d1", "/events", "/dead-letters", "/audit", "/users"]:
        r = anonymous.get(path)
        assert r.status_code == 200, path
        for label in ["设备", "事件", "死信", "审计日志", "用户", "中心"]:
            assert label in r.text, (path, label)
    assert anonymous.get("/centres").status_code == 200
    english = anonymous.get("/devices?lang=en").text
    assert "Devices" in english and "Dead letters" in english


def test_console_pages_of_another_county_are_not_found(
    app: FastAPI, anonymous: TestClient, county_user: str
) -> None:
    """Walks every console route with a path parameter as a county user."""
    form_login(anonymous, county_user, PASSWORD)
    token = csrf_of(anonymous.get("/devices").text)
    walked = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path.startswith("/api/"):
            continue
        if context.path in ("/login", "/logout"):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: OTHER_IDS.get(m[1], m[0]), context.path)
        assert "{" not in path, f"unknown path parameter in {context.path}"
        for method in context.methods or ():
            if method == "GET" and path.startswith("/console/events/"):
                continue  # streams: covered below
            r = anonymous.request(method, path, data={"csrf_token": token, "action": "agent.ping"})
            walked += 1
            if r.status_code == 200:
                for hidden in ("dB", "c3", "opb", "tokB"):
                    assert not mentions(r.text, hidden), f"{method} {path}: {hidden}"
            else:
                assert r.status_code in (403, 404, 422), f"{method} {path} {r.status_code}"
    assert walked >= 10
    page = anonymous.get("/devices").text
    assert 'data-id="d3"' in page and 'data-id="d1"' not in page  # c2 only


def test_users_and_centres_are_created_through_forms(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    token = csrf_of(anonymous.get("/centres").text)
    centre = {"id": "c9", "name": "丙县", "level": "county", "parent_id": "c1", "csrf_token": token}
    assert anonymous.post("/centres", data=centre, follow_redirects=False).status_code == 303
    user = {
        "username": "op9",
        "password": "Operator-9x",
        "role": "operator",
        "centre_id": "c9",
        "csrf_token": csrf_of(anonymous.get("/users").text),
    }
    assert anonymous.post("/users", data=user, follow_redirects=False).status_code == 303
    weak = {**user, "username": "op10", "password": "x"}
    assert anonymous.post("/users", data=weak).status_code == 422
    with Session(runtime.engine) as session:
        assert session.exec(select(User).where(User.username == "op9")).one().centre_id == "c9"
        assert session.get(Centre, "c9").parent_id == "c1"  # type: ignore[union-attr]
    audit = anonymous.get("/audit").text
    assert "user.create" in audit and "centre.create" in audit


def test_county_admin_cannot_create_outside_its_centres(
    anonymous: TestClient, county_user: str
) -> None:
    form_login(anonymous, county_user, PASSWORD)
    token = csrf_of(anonymous.get("/users").text)
    user = {"username": "x1", "password": "Operator-9x", "role": "operator", "centre_id": "c3"}
    r = anonymous.post("/users", data={**user, "csrf_token": token})
    assert r.status_code == 422 and "不可见" in r.text
    centre = {"id": "c8", "name": "x", "level": "county", "parent_id": "c3", "csrf_token": token}
    assert anonymous.post("/centres", data=centre).status_code == 403


def test_device_stream_reports_a_device_coming_online(
    anonymous: TestClient, runtime: ApiTestRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "POLL_S", 0.05)
    monkeypatch.setattr(live, "MAX_STREAM_S", 2.0)  # the test client waits for the end
    form_login(anonymous, "admin", ADMIN_PASSWORD)

    def bring_online() -> None:
        with Session(runtime.engine) as session:
            device = session.get(Device, "d1")
            assert device is not None
            device.online = True
            session.add(device)
            session.commit()

    updates = []
    with anonymous.stream("GET", "/console/events/devices") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                updates.append(json.loads(line[6:]))
                if len(updates) == 1:
                    threading.Thread(target=bring_online).start()
                else:
                    break
    first = {item["id"]: item["online"] for item in updates[0]["items"]}
    assert first == {"d1": False, "d2": True, "d3": False}
    assert updates[1]["items"] == [
        {**next(i for i in updates[0]["items"] if i["id"] == "d1"), "online": True}
    ]


def test_the_stream_needs_a_login(anonymous: TestClient) -> None:
    assert anonymous.get("/console/events/devices").status_code == 401


def test_devices_show_backlog_and_times_in_the_centres_time_zone(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    with Session(runtime.engine) as session:
        device = session.get(Device, "d1")
        assert device is not None
        device.last_heartbeat_at = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
        device.heartbeat = {"outbox_depth": 4321}
        session.add(device)
        session.commit()
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get("/devices").text
    row = page[page.index('data-id="d1"') :].split("</tr>")[0]
    assert "2026-01-01 08:00:05" in row  # Asia/Shanghai, the default time zone
    assert ">4321<" in row
