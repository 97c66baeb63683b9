from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.devices.models import Device, SequenceGap
from tests.api.support import T0, ApiTestRuntime, add, error_fields


def _ids(client: TestClient, **params: object) -> list[str]:
    r = client.get("/api/v1/devices", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] >= len(body["items"])
    return sorted(d["id"] for d in body["items"])


def test_list_filters_and_paging(client: TestClient) -> None:
    assert _ids(client) == ["d1", "d2", "d3"]
    assert _ids(client, centre="c2") == ["d3"]
    assert _ids(client, centre=["c1", "c2"], kind="entrance") == ["d1", "d3"]
    assert _ids(client, online=True) == ["d2"]
    assert _ids(client, online=False, kind="entrance", centre="c1") == ["d1"]
    pages = [client.get("/api/v1/devices", params={"limit": 2, "offset": o}).json() for o in (0, 2)]
    assert [p["total"] for p in pages] == [3, 3]
    assert sorted(d["id"] for p in pages for d in p["items"]) == ["d1", "d2", "d3"]
    assert error_fields(client.get("/api/v1/devices", params={"online": "maybe"})) == {"online"}


def test_detail_with_heartbeat_and_open_gaps(runtime: ApiTestRuntime, client: TestClient) -> None:
    with Session(runtime.engine) as session:
        d2 = session.get(Device, "d2")
        assert d2 is not None
        d2.heartbeat = {"outbox_depth": 4, "cpu_percent": 12.5}
        d2.last_heartbeat_at = T0
        d2.stored_count = 7
        session.add(d2)
        session.commit()
    add(
        runtime.engine,
        SequenceGap(device_id="d2", first_seq=3, last_seq=5, missing=3, detected_at=T0),
        SequenceGap(
            device_id="d2",
            first_seq=8,
            last_seq=8,
            missing=0,
            detected_at=T0,
            closed_at=T0 + timedelta(minutes=1),
        ),
    )
    r = client.get("/api/v1/devices/d2")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["online"] is True and body["last_seq"] == 10 and body["stored_count"] == 7
    assert body["heartbeat"]["outbox_depth"] == 4
    assert [(g["first_seq"], g["last_seq"]) for g in body["open_gaps"]] == [(3, 5)]
    assert body["missing"] == 3
    assert "broker_password_hash" not in body

    gaps = client.get("/api/v1/devices/d2/gaps").json()
    assert len(gaps) == 2
    closed = client.get("/api/v1/devices/d2/gaps", params={"state": "closed"}).json()
    assert [g["first_seq"] for g in closed] == [8]


def test_unknown_device_is_404(client: TestClient) -> None:
    for path in (
        "/api/v1/devices/nope",
        "/api/v1/devices/nope/gaps",
        "/api/v1/devices/nope/config",
    ):
        r = client.get(path)
        assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert client.put("/api/v1/devices/nope/config", json={"config": {}}).status_code == 404


def test_config_layers(runtime: ApiTestRuntime, client: TestClient) -> None:
    r = client.put("/api/v1/config/kind/entrance", json={"config": {"sim": {"rate": 1}}})
    assert r.status_code == 200, r.text
    kind_layer = r.json()
    assert kind_layer["scope"] == "kind" and kind_layer["target"] == "entrance"

    r = client.put("/api/v1/devices/d1/config", json={"config": {"sim": {"rate": 5}}})
    assert r.status_code == 200, r.text
    device_layer = r.json()
    assert device_layer["scope"] == "device" and device_layer["version"] > kind_layer["version"]

    effective = client.get("/api/v1/devices/d1/config").json()
    assert effective["version"] == device_layer["version"]
    assert effective["config"]["sim"]["rate"] == 5
    assert effective["applied_version"] is None and effective["in_sync"] is False
    published = [(topic, retain) for topic, _, _, retain in runtime.publisher.messages]
    assert ("prtc/v1/c1/d1/config", True) in published

    assert client.put("/api/v1/config/centre/c9", json={"config": {}}).status_code == 404
    assert error_fields(client.put("/api/v1/config/device/d1", json={"config": {}})) == {"scope"}
    assert error_fields(client.put("/api/v1/devices/d1/config", json={"config": []})) == {"config"}
