"""Console login: the page, the form with CSRF, lockout, logout, session timeout, language."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.auth.policy import AuthPolicy
from collector.commands.models import Command
from tests.api.support import ADMIN_PASSWORD, FAST_AUTH, ApiTestRuntime
from tests.console.support import csrf_of, form_login


def test_login_page_renders_in_chinese_then_english(anonymous: TestClient) -> None:
    page = anonymous.get("/login")
    assert page.status_code == 200
    assert "登录" in page.text and 'name="csrf_token"' in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    english = anonymous.get("/login?lang=en")
    assert "Log in" in english.text and "登录" not in english.text
    assert anonymous.cookies.get("prtc_lang") == "en"
    assert "Log in" in anonymous.get("/login").text  # remembered


def test_pages_redirect_to_login_until_logged_in(anonymous: TestClient) -> None:
    r = anonymous.get("/devices", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fdevices")
    r = form_login(anonymous, "admin", ADMIN_PASSWORD, next_url="/devices")
    assert r.status_code == 303 and r.headers["location"] == "/devices"
    assert "httponly" in r.headers["set-cookie"].lower()
    devices = anonymous.get("/devices")
    assert devices.status_code == 200 and "d1" in devices.text and "设备" in devices.text


def test_wrong_password_shows_an_error_and_locks_after_repeated_failures(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    r = form_login(anonymous, "admin", "wrong")
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    for _ in range(runtime.settings.auth.max_failed_attempts - 1):
        r = form_login(anonymous, "admin", "wrong")
    assert "锁定" in r.text
    r = form_login(anonymous, "admin", ADMIN_PASSWORD)  # the right password is refused too
    assert r.status_code == 401 and "锁定" in r.text


def test_forged_forms_are_rejected(anonymous: TestClient, runtime: ApiTestRuntime) -> None:
    anonymous.get("/login")
    forged = {"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": "x.y"}
    assert anonymous.post("/login", data=forged).status_code == 403
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    command = {"action": "agent.ping", "args": "{}"}
    r = anonymous.post("/devices/d1/commands", data=command, follow_redirects=False)
    assert r.status_code == 403
    r = anonymous.post("/devices/d1/commands", data={**command, "csrf_token": "a.b"})
    assert r.status_code == 403
    with Session(runtime.engine) as session:
        assert session.exec(select(Command)).all() == []
    token = csrf_of(anonymous.get("/devices/d1").text)
    r = anonymous.post(
        "/devices/d1/commands", data={**command, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and "sent=" in r.headers["location"]


def test_logout(anonymous: TestClient) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    token = csrf_of(anonymous.get("/devices").text)
    r = anonymous.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert anonymous.get("/devices", follow_redirects=False).status_code == 303


def test_session_times_out_when_idle(anonymous: TestClient, runtime: ApiTestRuntime) -> None:
    runtime.settings.auth = AuthPolicy(
        **{**FAST_AUTH.model_dump(), "session_idle_minutes": 0.01, "session_touch_seconds": 0}
    )
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    assert anonymous.get("/devices", follow_redirects=False).status_code == 200
    time.sleep(0.8)
    r = anonymous.get("/devices", follow_redirects=False)
    assert r.status_code == 303 and "expired=1" in r.headers["location"]
    assert "会话已过期" in anonymous.get(r.headers["location"]).text
