"""Helpers of the API tests: the recording publisher, the runtime stand-in, row inserts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.auth.policy import AuthPolicy
from collector.auth.throttle import LoginThrottle
from collector.files.store import LocalFileStore
from collector.settings import CollectorSettings

# Cheap argon2 parameters: tests hash many passwords; production keeps the defaults.
FAST_AUTH = AuthPolicy(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)
ADMIN_PASSWORD = "Admin-pass-1"


def log_in(client: Any, username: str, password: str) -> dict[str, Any]:
    """Log a TestClient in through the API; every later request carries the CSRF header."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    client.headers["X-CSRF-Token"] = body["csrf_token"]
    return body


@dataclass
class RecordingPublisher:
    """Records what the services publish; acceptable only in API unit tests."""

    messages: list[tuple[str, bytes, int, bool]] = field(default_factory=list)
    connected: bool = True

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.messages.append((topic, payload, qos, retain))


@dataclass
class Metrics:
    registry: CollectorRegistry


@dataclass
class ApiTestRuntime:
    """The attributes of ``collector.runtime.Runtime`` that the API uses."""

    settings: CollectorSettings
    engine: Engine
    publisher: RecordingPublisher
    file_store: LocalFileStore
    metrics: Metrics
    ready: bool = True
    login_throttle: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.login_throttle = LoginThrottle(self.settings.auth)


T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def add(engine: Engine, *rows: Any) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.add_all(rows)
        session.commit()


def error_fields(response: Any) -> set[str]:
    """The names of the fields a 422 response complains about."""
    assert response.status_code == 422, response.text
    return {str(e["loc"][-1]) for e in response.json()["detail"]}
