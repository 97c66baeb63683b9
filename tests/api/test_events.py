from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.ingest.models import DeadLetter, StoredEvent
from contract.ids import uuid7
from tests.api.support import T0, ApiTestRuntime, add, error_fields


@pytest.fixture
def events(runtime: ApiTestRuntime) -> list[StoredEvent]:
    """120 events on two devices in two centres; pairs share a timestamp to test the
    tie-break on id."""
    rows = []
    for i in range(120):
        device, centre = ("d1", "c1") if i % 3 else ("d3", "c2")
        rows.append(
            StoredEvent(
                id=str(uuid7()),
                centre_id=centre,
                device_id=device,
                type="visitor.card_read" if i % 2 else "agent.heartbeat",
                seq=i + 1,
                ts=T0 + timedelta(seconds=i // 2),
                payload={"i": i},
            )
        )
    add(runtime.engine, *rows)
    return rows


def _newest_first(rows: list[StoredEvent]) -> list[str]:
    return [r.id for r in sorted(rows, key=lambda r: (r.ts, r.id), reverse=True)]


def _get(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/events", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_offset_paging_returns_every_row_once_newest_first(
    client: TestClient, events: list[StoredEvent]
) -> None:
    seen: list[str] = []
    for offset in range(0, 150, 50):
        page = _get(client, limit=50, offset=offset)
        assert page["total"] == 120 and page["limit"] == 50 and page["offset"] == offset
        seen += [e["id"] for e in page["items"]]
    assert seen == _newest_first(events)


def test_cursor_paging_returns_every_row_once(
    client: TestClient, events: list[StoredEvent]
) -> None:
    seen: list[str] = []
    page = _get(client, limit=7, count=False)
    assert page["total"] is None
    while True:
        seen += [e["id"] for e in page["items"]]
        if page["next_cursor"] is None:
            break
        page = _get(client, limit=7, cursor=page["next_cursor"], count=False)
    assert seen == _newest_first(events)
    assert len(set(seen)) == 120


def test_filters(client: TestClient, events: list[StoredEvent]) -> None:
    def ids(**params: Any) -> list[str]:
        page = _get(client, limit=500, **params)
        assert page["total"] == len(page["items"])
        return [e["id"] for e in page["items"]]

    assert ids(device="d3") == _newest_first([e for e in events if e.device_id == "d3"])
    assert ids(centre="c1") == _newest_first([e for e in events if e.centre_id == "c1"])
    assert ids(type="agent.heartbeat") == _newest_first(
        [e for e in events if e.type == "agent.heartbeat"]
    )
    assert ids(type="visitor.*") == _newest_first(
        [e for e in events if e.type.startswith("visitor.")]
    )
    since, until = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    expected = [e for e in events if since <= e.ts < until]
    assert len(expected) == 20
    assert ids(since=since.isoformat(), until=until.isoformat()) == _newest_first(expected)
    assert ids(device="d3", type="visitor.*", since=since.isoformat()) == _newest_first(
        [
            e
            for e in events
            if e.device_id == "d3" and e.type.startswith("visitor.") and e.ts >= since
        ]
    )
    assert ids(device="nobody") == []


def test_bad_query_parameters_name_the_field(client: TestClient) -> None:
    assert error_fields(client.get("/api/v1/events", params={"limit": 501})) == {"limit"}
    assert error_fields(client.get("/api/v1/events", params={"limit": 0})) == {"limit"}
    assert error_fields(client.get("/api/v1/events", params={"offset": -1})) == {"offset"}
    naive = {"since": "2025-03-01T08:00:00"}
    assert error_fields(client.get("/api/v1/events", params=naive)) == {"since"}
    assert error_fields(client.get("/api/v1/events", params={"cursor": "!!"})) == {"cursor"}
    assert error_fields(client.get("/api/v1/events", params={"type": "Bad Type"})) == {"type"}


def test_dead_letters_raw_bytes_and_filters(runtime: ApiTestRuntime, client: TestClient) -> None:
    raw = b'\x00\xff{"id": "x"}\n\xe4\xb8\xad'
    add(
        runtime.engine,
        DeadLetter(topic="prtc/v1/c1/d1/event/x.y", reason="bad_json", raw=raw, received_at=T0),
        DeadLetter(
            topic="prtc/v1/c1/d9/status",
            reason="unknown_device",
            raw=b"{}",
            device_id="d9",
            centre_id="c1",
            received_at=T0 + timedelta(hours=1),
        ),
    )
    page = client.get("/api/v1/dead-letters").json()
    assert page["total"] == 2
    assert [d["reason"] for d in page["items"]] == ["unknown_device", "bad_json"]
    bad = page["items"][1]
    assert base64.b64decode(bad["raw_base64"]) == raw and bad["raw_size"] == len(raw)
    assert (
        bad["preview"].isprintable() and '{"id": "x"}' in bad["preview"] and "中" in bad["preview"]
    )

    only = client.get("/api/v1/dead-letters", params={"reason": "bad_json"}).json()
    assert [d["id"] for d in only["items"]] == [bad["id"]]
    later = client.get("/api/v1/dead-letters", params={"since": "2025-03-01T08:30:00Z"}).json()
    assert [d["reason"] for d in later["items"]] == ["unknown_device"]
    assert client.get(f"/api/v1/dead-letters/{bad['id']}").json()["raw_base64"] == bad["raw_base64"]
    assert client.get("/api/v1/dead-letters/9999").status_code == 404
