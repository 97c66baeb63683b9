"""The burn tests run over the API tests' app and database (``tests/api/conftest.py``), and
start real collectors and a real Mosquitto where scheduling and delivery matter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.auth.permissions import Role
from collector.devices.models import Device
from collector.modules.burn.models import ArchiveProject
from collector.modules.burn.service import upsert_project  # the public entry of other modules
from tests.api.conftest import anonymous, app, client, runtime
from tests.api.support import ApiTestRuntime
from tests.console.support import PASSWORD, add_user, form_login
from tests.support.mosquitto import Mosquitto

__all__ = ["anonymous", "app", "client", "mosquitto", "operator", "projects", "runtime"]


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
