"""The burn tests run over the API tests' app and database (``tests/api/conftest.py``), and
start real collectors and a real Mosquitto where scheduling and delivery matter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.auth.permissions import Role
from collector.devices.models import Device
from collector.modules.burn.models import ArchiveProject
from collector.modules.burn.service import upsert_project  # the public entry of other modules
from collector.modules.experts.models import ExpertSession
from collector.security.personal_data import configure_personal_data, reset_personal_data
from tests.api.conftest import anonymous, app, client, runtime
from tests.api.support import ApiTestRuntime
from tests.console.support import PASSWORD, add_user, form_login
from tests.modules.experts.support import SECRET
from tests.support.mosquitto import Mosquitto

__all__ = [
    "anonymous",
    "app",
    "client",
    "evaluation",
    "mosquitto",
    "operator",
    "personal_data",
    "projects",
    "runtime",
]


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    broker = Mosquitto().start()
    yield broker
    broker.close()


def add_projects(engine, centre: str = "c2") -> list[ArchiveProject]:  # type: ignore[no-untyped-def]
    """Three projects of ``centre`` with a document source: two pending, one archived."""
    with Session(engine, expire_on_commit=False) as session:
        rows = []
        for n, status in ((1, "pending"), (2, "pending"), (3, "done")):
            row = upsert_project(
                session,
                {
                    "centre_id": centre,
                    "number": f"GC-2026-00{n}",
                    "name": f"某某道路改造工程{n}标段",
                    "category": "construction",
                    "opening_date": f"2026-11-2{n}",
                    "rooms": ["第一开标室"],
                    "sources": [
                        {"kind": "url", "url": f"http://docs.example/{n}.pdf", "media": "document"}
                    ],
                },
            )
            row.archive_status = status  # type: ignore[assignment]
            session.add(row)
            session.commit()
            rows.append(row)
        return rows


@pytest.fixture
def projects(runtime: ApiTestRuntime) -> list[ArchiveProject]:
    with Session(runtime.engine) as session:
        session.add(Device(id="burn1", centre_id="c2", kind="burner", online=True))
        session.commit()
    return add_projects(runtime.engine)


@pytest.fixture
def operator(app: FastAPI, runtime: ApiTestRuntime) -> Iterator[TestClient]:
    """An operator of county c2, logged in through the console's form."""
    with Session(runtime.engine) as session:
        add_user(session, runtime, "op2", Role.OPERATOR, "c2")
    with TestClient(app) as c:
        assert form_login(c, "op2", PASSWORD).status_code == 303
        yield c


NUMBER = "ZFCG-2026-050"
START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


@pytest.fixture
def personal_data() -> Iterator[None]:
    configure_personal_data(SECRET)  # the experts module's sessions carry encrypted fields
    yield
    reset_personal_data()


@pytest.fixture
def evaluation(
    client: TestClient, runtime: ApiTestRuntime, personal_data: None
) -> tuple[ArchiveProject, str]:
    """A room with terminal t1 and a project pushed by the trading platform (experts module),
    which hands it to the archive; the archive project and the session's wire id."""
    room = {"centre_id": "c2", "code": "P1", "name": "评标室1", "terminals": ["t1"]}
    assert client.post("/api/v1/experts/rooms", json=room).status_code == 200
    body = {
        "centre_id": "c2", "number": NUMBER, "name": "办公家具采购", "category": "政府采购",
        "sessions": [{"key": "1", "rooms": ["P1"], "start": START.isoformat(),
                      "end": (START + timedelta(hours=3)).isoformat()}],
    }  # fmt: skip
    r = client.put("/api/v1/experts/projects", json=body)
    assert r.status_code == 200, r.text
    with Session(runtime.engine, expire_on_commit=False) as session:
        project = session.exec(select(ArchiveProject).where(ArchiveProject.number == NUMBER)).one()
        row = session.exec(select(ExpertSession)).one()
    return project, str(row.id)
