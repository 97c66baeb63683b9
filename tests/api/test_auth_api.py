"""Login API, cookie attributes, CSRF on cookie requests, bearer tokens, logout, audit."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.auth.models import AuditEntry
from collector.auth.service import create_api_token
from tests.api.support import ADMIN_PASSWORD, ApiTestRuntime, log_in

PING = {"device_id": "d1", "action": "agent.ping"}


def test_login_sets_an_httponly_lax_cookie(anonymous: TestClient) -> None:
    r = anonymous.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "prtc_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert r.json()["csrf_token"] and r.json()["role"] == "system_admin"


def test_wrong_password_then_lockout(anonymous: TestClient, runtime: ApiTestRuntime) -> None:
    bad = {"username": "admin", "password": "wrong"}
    attempts = runtime.settings.auth.max_failed_attempts
    codes = [anonymous.post("/api/v1/auth/login", json=bad).status_code for _ in range(attempts)]
    assert codes == [401] * (attempts - 1) + [423]
    good = {"username": "admin", "password": ADMIN_PASSWORD}
    assert anonymous.post("/api/v1/auth/login", json=good).status_code == 423


def test_cookie_requests_that_change_state_need_the_csrf_header(anonymous: TestClient) -> None:
    token = log_in(anonymous, "admin", ADMIN_PASSWORD)["csrf_token"]
    del anonymous.headers["X-CSRF-Token"]
    assert anonymous.get("/api/v1/devices").status_code == 200  # reads need none
    assert anonymous.post("/api/v1/commands", json=PING).status_code == 403
    forged = {"X-CSRF-Token": "abc.def"}
    assert anonymous.post("/api/v1/commands", json=PING, headers=forged).status_code == 403
    ok = anonymous.post("/api/v1/commands", json=PING, headers={"X-CSRF-Token": token})
    assert ok.status_code == 201 and ok.json()["created_by"] == "admin"


def test_bearer_tokens_need_no_csrf_and_are_scoped(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        _, county = create_api_token(
            session, name="county", centre_id="c2", permissions=["devices.view"]
        )
    auth = {"Authorization": f"Bearer {county}"}
    page = anonymous.get("/api/v1/devices", headers=auth).json()
    assert [d["id"] for d in page["items"]] == ["d3"]
    assert anonymous.get("/api/v1/devices/d1", headers=auth).status_code == 404
    assert anonymous.post("/api/v1/commands", json=PING, headers=auth).status_code == 403
    assert anonymous.get("/api/v1/events", headers=auth).status_code == 403
    bad = {"Authorization": "Bearer prtc_not-a-token"}
    assert anonymous.get("/api/v1/devices", headers=bad).status_code == 401


def test_logout_ends_the_session(client: TestClient) -> None:
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/devices").status_code == 401


def test_logins_and_commands_are_audited(client: TestClient, runtime: ApiTestRuntime) -> None:
    assert client.post("/api/v1/commands", json=PING).status_code == 201
    assert client.put("/api/v1/devices/d1/config", json={"config": {"a": {}}}).status_code == 200
    with Session(runtime.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-3:] == ["auth.login", "command.send", "config.set"]


def test_open_endpoints_stay_open(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/metrics").status_code == 200
    assert anonymous.get("/api/v1/devices").status_code == 401
