"""Every route under /api/v1, walked automatically: a county user can neither read nor act on
another county's devices, commands, events, dead letters or files; a city user sees its
counties. New routes are covered without touching this file (a route whose body is unknown
here fails loudly, asking for one)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.auth.permissions import Role
from collector.auth.service import create_user
from collector.centres.models import Centre
from collector.devices.models import Device
from collector.ingest.models import DeadLetter, StoredEvent
from contract.ids import uuid7
from tests.api.support import ADMIN_PASSWORD, T0, ApiTestRuntime, add, log_in
from tests.modules.burn.support import OTHER_PROJECT_ID, other_county_burn
from tests.modules.experts.support import other_county_experts
from tests.modules.venues.support import other_county_venues
from tests.support.text import mentions

PASSWORD = "County-pass-1"
OPEN = {"/api/v1/auth/login", "/api/v1/auth/logout"}

# A JSON body per (method, path) that would succeed if the target were visible.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/commands"): {"device_id": "dB", "action": "agent.ping"},
    ("POST", "/api/v1/files"): {
        "name": "b.bin",
        "size": 1,
        "sha256": hashlib.sha256(b"x").hexdigest(),
        "device_id": "dB",
    },
    ("PUT", "/api/v1/devices/{device_id}/config"): {"config": {}},
    ("PUT", "/api/v1/config/{scope}/{target}"): {"config": {}},
    ("POST", "/api/v1/visitors/trace"): {"visit_id": 987654, "reason": "scope walk"},
    ("POST", "/api/v1/visitors/trace.xlsx"): {"visit_id": 987654, "reason": "scope walk"},
    ("POST", "/api/v1/visitors/rules"): {"centre_id": "c3"},
    ("POST", "/api/v1/visitors/rules/push"): {"centre_id": "c3"},
    ("POST", "/api/v1/visitors/watchlist"): {"centre_id": "c3", "id_number": "11010519491231002X"},
    ("POST", "/api/v1/visitors/watchlist/delete"): {"id": 987654},
    ("POST", "/api/v1/venues"): {"centre_id": "c3", "code": "X1", "name": "x"},
    ("PUT", "/api/v1/venues/{venue_id}"): {"centre_id": "c3", "code": "VB-3", "name": "x"},
    ("PUT", "/api/v1/venues/{venue_id}/thresholds"): {"min_daily": 1, "max_daily": 10},
    ("POST", "/api/v1/venue-units"): {"centre_id": "c3", "name": "x"},
    ("POST", "/api/v1/venue-scans/delete"): {
        "by": "collected",
        "start": "2020-01-01T00:00:00Z",
        "end": "2030-01-01T00:00:00Z",
        "centre_id": "c3",
        "confirm": True,
    },
    ("POST", "/api/v1/burn/projects"): {
        "centre_id": "c3",
        "number": "X-1",
        "name": "x",
        "opening_date": "2026-01-01",
    },
    ("POST", "/api/v1/burn/jobs"): {"project_ids": [OTHER_PROJECT_ID]},
    ("POST", "/api/v1/burn/schedules"): {"centre_id": "c3", "name": "x"},
    ("PUT", "/api/v1/burn/schedules/{burn_schedule_id}"): {"centre_id": "c3", "name": "x"},
    ("PUT", "/api/v1/burn/discs/{burn_disc_id}/location"): {"shelf": "A"},
    ("POST", "/api/v1/burn/discs/{burn_disc_id}/reverify"): {"station_id": "dB", "drive": "sr0"},
    ("POST", "/api/v1/burn/discs/{burn_disc_id}/print-label"): {"station_id": "dB"},
}
BODIES.update(
    {
        ("PUT", "/api/v1/experts/projects"): {
            "centre_id": "c3",
            "number": "X-1",
            "name": "x",
            "sessions": [],
        },
        ("POST", "/api/v1/experts/rooms"): {"centre_id": "c3", "code": "R9", "name": "x"},
        ("POST", "/api/v1/experts/push"): {"centre_id": "c3"},
    }
)
HEADERS: dict[tuple[str, str], dict[str, str]] = {
    ("PATCH", "/api/v1/files/{file_id}"): {
        "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
    },
}


@dataclass(frozen=True)
class Route:
    path: str  # with the prefixes of the routers it is included in
    api_route: APIRoute


@pytest.fixture
def county_b(runtime: ApiTestRuntime, client: TestClient) -> dict[str, str]:
    """County B (c3, under city c1) with a device, an event, a dead letter, a command and a
    file; returns the ids to fill path parameters with."""
    with Session(runtime.engine) as session:
        session.add(Centre(id="c3", name="乙县中心", parent_id="c1"))
        session.commit()
        session.add(Device(id="dB", centre_id="c3", kind="gate"))
        session.commit()
        for name, centre in (("county_a", "c2"), ("county_b", "c3"), ("city", "c1")):
            create_user(
                session,
                username=name,
                password=PASSWORD,
                role=Role.CENTRE_ADMIN,
                centre_id=centre,
                policy=runtime.settings.auth,
            )
    letter = DeadLetter(
        topic="prtc/v1/c3/dB/event/x", reason="bad_json", raw=b"{", centre_id="c3", device_id="dB"
    )
    event = StoredEvent(
        id=str(uuid7()), centre_id="c3", device_id="dB", type="x.y", seq=1, ts=T0, payload={}
    )
    add(runtime.engine, letter, event)
    command = client.post("/api/v1/commands", json={"device_id": "dB", "action": "agent.ping"})
    assert command.status_code == 201, command.text
    upload = client.post("/api/v1/files", json=BODIES[("POST", "/api/v1/files")])
    assert upload.status_code == 201, upload.text
    return {
        "device_id": "dB",
        "command_id": command.json()["id"],
        "letter_id": str(letter.id),
        "file_id": upload.json()["id"],
        "scope": "centre",
        "target": "c3",
        **other_county_burn(runtime.engine),
        **other_county_experts(runtime.engine),
        **other_county_venues(runtime.engine),
    }


def api_routes(app: FastAPI) -> list[tuple[str, Route]]:
    """(method, route) for every registered route under /api/v1, included routers too."""
    found = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        path = context.path
        if isinstance(original, APIRoute) and path and path.startswith("/api/v1"):
            route = Route(path, original)
            found += [(method, route) for method in sorted(context.methods or ())]
    assert len(found) >= 12, "the walk found too few routes"
    return found


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def call(client: TestClient, method: str, route: Route, ids: dict[str, str]) -> Any:
    key = (method, route.path)
    return client.request(
        method,
        fill(route.path, ids),
        params={"device": "dB", "centre": "c3"} if method == "GET" else None,
        json=BODIES.get(key),
        headers=HEADERS.get(key),
    )


def secrets_of_b(ids: dict[str, str]) -> list[str]:
    return ["dB", "c3", ids["command_id"], ids["file_id"]]


def test_county_user_gets_nothing_of_another_county(
    app: FastAPI, anonymous: TestClient, county_b: dict[str, str]
) -> None:
    log_in(anonymous, "county_a", PASSWORD)
    for method, route in api_routes(app):
        if route.path in OPEN:
            continue
        r = call(anonymous, method, route, county_b)
        where = f"{method} {route.path} -> {r.status_code} {r.text[:200]}"
        if r.status_code == 200:  # a list: must not contain any of B's rows
            assert "{" not in route.path, where
            for secret in secrets_of_b(county_b):
                assert not mentions(r.text, secret), where
        else:
            assert r.status_code in (403, 404), where


def test_every_route_needs_authentication(
    app: FastAPI, anonymous: TestClient, county_b: dict[str, str]
) -> None:
    for method, route in api_routes(app):
        if route.path in OPEN:
            continue
        r = call(anonymous, method, route, county_b)
        assert r.status_code == 401, f"{method} {route.path} -> {r.status_code}"


def test_every_route_declares_a_permission(app: FastAPI) -> None:
    for method, route in api_routes(app):
        if route.path in OPEN:
            continue
        declared = [
            getattr(d.call, "required_permission", None)
            for d in route.api_route.dependant.dependencies
        ]
        assert any(declared), f"{method} {route.path} declares no permission (use require())"


def test_county_user_sees_its_own_county(anonymous: TestClient, county_b: dict[str, str]) -> None:
    log_in(anonymous, "county_b", PASSWORD)
    assert anonymous.get("/api/v1/devices/dB").status_code == 200
    page = anonymous.get("/api/v1/devices").json()
    assert [d["id"] for d in page["items"]] == ["dB"]
    assert anonymous.get(f"/api/v1/commands/{county_b['command_id']}").status_code == 200
    assert anonymous.get("/api/v1/events").json()["total"] == 1


def test_city_user_sees_its_counties(anonymous: TestClient, county_b: dict[str, str]) -> None:
    log_in(anonymous, "city", PASSWORD)
    page = anonymous.get("/api/v1/devices").json()
    assert {d["centre_id"] for d in page["items"]} == {"c1", "c2", "c3"}
    assert anonymous.get("/api/v1/devices/dB").status_code == 200
    letters = anonymous.get("/api/v1/dead-letters").json()
    assert letters["total"] == 1


def test_admin_fixture_still_works(client: TestClient) -> None:
    assert ADMIN_PASSWORD and client.get("/api/v1/devices").json()["total"] == 3
