"""Fixtures of the visitors tests: the API app over a temporary SQLite database (from
``tests/api``), personal-data encryption configured, and helpers that feed passages through
the module's event-bus handler as the ingest does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.ingest.models import StoredEvent
from collector.modules.visitors.handler import handle_passage
from collector.security.personal_data import configure_personal_data, reset_personal_data
from contract.ids import uuid7
from tests.api.conftest import anonymous, app, client, runtime

__all__ = ["anonymous", "app", "client", "runtime"]

SECRET = "visitors-test-secret-" + "x" * 32
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Monday

# Valid GB 11643 numbers (check characters computed), from different provinces.
IDS = {
    "zhang": "11010519491231002X",  # 北京市朝阳区
    "li": "440106199003071234",  # 广东省广州市天河区
    "wang": "420111198510203456",  # 湖北省武汉市洪山区
    "zhao": "320102197707077777",  # 江苏省南京市玄武区
}


@pytest.fixture(autouse=True)
def personal_data() -> Iterator[None]:
    configure_personal_data(SECRET)
    yield
    reset_personal_data()


def passage(
    who: str,
    direction: str = "in",
    at: datetime = T0,
    *,
    pid: str | None = None,
    door: str = "东门",
    decision: str = "admitted",
    flags: list[dict[str, str]] | None = None,
    temperature: float | None = 36.5,
    id_number: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """An ``entrance.passage`` payload as an entrance agent sends it."""
    return {
        "passage_id": pid or f"p-{uuid7()}",
        "direction": direction,
        "door": door,
        "at": at.isoformat(),
        "person": {
            "document_type": "resident",
            "name": name or {"zhang": "张三", "li": "李四", "wang": "王五"}.get(who, "赵六"),
            "id_number": id_number or IDS.get(who, IDS["zhao"]),
        },
        "flags": flags or [],
        "temperature_c": temperature,
        "temperature_source": "sensor" if temperature else None,
        "decision": decision,
        "decided_by": "rules",
        "operator": "op1",
        "rules_version": 3,
    }


def feed(engine: Engine, centre: str, *payloads: dict[str, Any], device: str = "d1") -> None:
    """Store passages as new events and run the handler in the same transaction."""
    with Session(engine) as session:
        for seq, payload in enumerate(payloads, start=1):
            event = StoredEvent(
                id=str(uuid7()),
                centre_id=centre,
                device_id=device,
                type="entrance.passage",
                seq=seq,
                ts=datetime.fromisoformat(payload["at"]),
                payload=payload,
            )
            session.add(event)
            session.flush()
            handle_passage(session, event)
        session.commit()


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
