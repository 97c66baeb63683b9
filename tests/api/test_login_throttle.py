"""Failed logins per client address: a username spray from one address is cut off with 429."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.auth.models import AuditEntry
from collector.auth.throttle import LoginThrottle, TooManyAttempts
from tests.api.support import ADMIN_PASSWORD, FAST_AUTH, ApiTestRuntime
from tests.console.support import form_login

LIMIT = 3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def small_throttle(clock: Clock | None = None) -> LoginThrottle:
    policy = FAST_AUTH.model_copy(update={"ip_max_failures": LIMIT, "ip_window_minutes": 1})
    return LoginThrottle(policy, clock or Clock())


def test_an_address_is_held_back_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = small_throttle(clock)
    for _ in range(LIMIT):
        throttle.check("10.0.0.9")
        throttle.failed("10.0.0.9")
        clock.now += 10
    with pytest.raises(TooManyAttempts) as held:
        throttle.check("10.0.0.9")
    assert held.value.retry_after_s == 60 - 30  # the first failure leaves the window in 30 s
    assert "秒后重试" in str(held.value)
    throttle.check("10.0.0.10")  # another address is not affected
    clock.now += 30
    throttle.check("10.0.0.9")  # the oldest failure left: one more try is allowed


def test_api_spray_over_usernames_gets_429_without_a_password_check(
    app: FastAPI, runtime: ApiTestRuntime
) -> None:
    runtime.login_throttle = small_throttle()
    with TestClient(app, client=("203.0.113.7", 5000)) as sprayer:
        codes = [
            sprayer.post(
                "/api/v1/auth/login", json={"username": f"user{i}", "password": "Spring2026!"}
            ).status_code
            for i in range(LIMIT)
        ]
        assert codes == [401] * LIMIT
        held = sprayer.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
        assert "登录失败次数过多" in held.json()["detail"]
    with TestClient(app, client=("198.51.100.1", 5000)) as colleague:
        ok = colleague.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert ok.status_code == 200
    with Session(runtime.engine) as session:
        failures = session.exec(
            select(AuditEntry).where(AuditEntry.action == "auth.login_failed")
        ).all()
    assert len(failures) == LIMIT  # the held-back attempt never reached the password check


def test_console_login_form_shows_the_wait(app: FastAPI, runtime: ApiTestRuntime) -> None:
    runtime.login_throttle = small_throttle()
    with TestClient(app, client=("203.0.113.8", 5000)) as browser:
        for _ in range(LIMIT):
            assert form_login(browser, "admin", "wrong").status_code == 401
        page = form_login(browser, "admin", ADMIN_PASSWORD)
        assert page.status_code == 429 and "登录失败次数过多" in page.text
        assert int(page.headers["retry-after"]) > 0
