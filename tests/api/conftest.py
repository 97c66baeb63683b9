"""A real app over a temporary SQLite database and a local file store.

Requests go through the real authentication: ``client`` is logged in as a system
administrator (cookie + CSRF header), ``anonymous`` is not. The only stand-in is
:class:`tests.api.support.RecordingPublisher`, which records what the services publish; the
end-to-end tests elsewhere use a real broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter
from sqlmodel import Session

from collector.api.app import create_app
from collector.auth.permissions import Role
from collector.auth.service import create_user
from collector.centres.models import Centre
from collector.db import make_engine
from collector.devices.models import Device
from collector.files.store import LocalFileStore
from collector.migrate import upgrade
from collector.settings import load_settings
from tests.api.support import (
    ADMIN_PASSWORD,
    FAST_AUTH,
    ApiTestRuntime,
    Metrics,
    RecordingPublisher,
    log_in,
)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ApiTestRuntime]:
    settings = load_settings(
        development=True,
        database={"url": f"sqlite:///{tmp_path}/api.db"},
        files={"root": str(tmp_path / "files"), "max_upload_bytes": 10 * 2**20},
        auth=FAST_AUTH,
    )
    engine = make_engine(settings.database.url)
    upgrade(engine)  # the real schema, as production has it
    registry = CollectorRegistry()
    Counter("prtc_events_stored", "events stored", registry=registry).inc(3)
    rt = ApiTestRuntime(
        settings=settings,
        engine=engine,
        publisher=RecordingPublisher(),
        file_store=LocalFileStore(Path(settings.files.root)),
        metrics=Metrics(registry),
    )
    with Session(engine) as session:
        session.add(Centre(id="c1", name="市中心"))
        session.add(Centre(id="c2", name="县中心", parent_id="c1"))
        session.add_all(
            [
                Device(id="d1", centre_id="c1", kind="entrance", name="入口"),
                Device(id="d2", centre_id="c1", kind="gate", online=True, last_seq=10),
                Device(id="d3", centre_id="c2", kind="entrance"),
            ]
        )
        session.commit()
        create_user(
            session,
            username="admin",
            password=ADMIN_PASSWORD,
            role=Role.SYSTEM_ADMIN,
            policy=settings.auth,
        )
    yield rt
    engine.dispose()


@pytest.fixture
def app(runtime: ApiTestRuntime) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Logged in as a system administrator, with the CSRF header set for every request."""
    with TestClient(app) as c:
        log_in(c, "admin", ADMIN_PASSWORD)
        yield c
