from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.commands.models import CommandAck
from contract.ids import uuid7
from tests.api.support import T0, ApiTestRuntime, add, error_fields

GOOD = {"device_id": "d2", "action": "sim.set_rate", "args": {"rate": 2}, "ttl_s": 60}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ttl_s": 0}, "ttl_s"),
        ({"ttl_s": 30 * 24 * 3600 + 1}, "ttl_s"),
        ({"ttl_s": "soon"}, "ttl_s"),
        ({"action": "Open Gate"}, "action"),
        ({"action": "open"}, "action"),
        ({"device_id": "../d2"}, "device_id"),
        ({"args": [1, 2]}, "args"),
        ({"durable": "perhaps"}, "durable"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_command_input_names_the_field(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    assert error_fields(client.post("/api/v1/commands", json={**GOOD, **change})) == {field}


def test_missing_device_id_names_the_field(client: TestClient) -> None:
    body = {k: v for k, v in GOOD.items() if k != "device_id"}
    assert error_fields(client.post("/api/v1/commands", json=body)) == {"device_id"}


def test_unknown_device_is_404(client: TestClient) -> None:
    r = client.post("/api/v1/commands", json={**GOOD, "device_id": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert client.get(f"/api/v1/commands/{uuid7()}").status_code == 404


def test_send_list_and_follow_a_command(runtime: ApiTestRuntime, client: TestClient) -> None:
    r = client.post("/api/v1/commands", json={**GOOD, "durable": True})
    assert r.status_code == 201, r.text
    command = r.json()
    assert command["device_id"] == "d2" and command["centre_id"] == "c1"
    assert command["action"] == "sim.set_rate" and command["args"] == {"rate": 2}
    assert command["durable"] is True and command["state"] == "sent"  # d2 is online
    assert [m[0] for m in runtime.publisher.messages] == ["prtc/v1/c1/d2/cmd"]

    add(
        runtime.engine,
        CommandAck(
            id=str(uuid7()),
            command_id=command["id"],
            device_id="d2",
            seq=11,
            status="received",
            ts=T0,
        ),
    )
    detail = client.get(f"/api/v1/commands/{command['id']}").json()
    assert [a["status"] for a in detail["acks"]] == ["received"]

    listed = client.get("/api/v1/commands", params={"device": "d2"}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == command["id"]
    assert client.get("/api/v1/commands", params={"device": "d1"}).json()["total"] == 0
    assert error_fields(client.get("/api/v1/commands", params={"state": "nonsense"})) == {"state"}
