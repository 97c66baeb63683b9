"""Centre scoping of every visitors route, with visits in two counties of one city: a county
user sees only its county, the city user sees both; ids of the other county are not found."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.auth.permissions import Role
from collector.centres.models import Centre
from collector.devices.models import Device
from tests.api.support import ApiTestRuntime, log_in
from tests.console.support import PASSWORD, add_user, csrf_of, form_login
from tests.modules.visitors.conftest import IDS, T0, feed, passage
from tests.support.text import mentions

OTHER = "11010519491231002X"  # zhang, only in county c3


@pytest.fixture
def two_counties(runtime: ApiTestRuntime) -> None:
    """City c1 with counties c2 and c3; zhang visits c3, li visits c2; users of each."""
    with Session(runtime.engine) as session:
        session.add(Centre(id="c3", name="乙县", parent_id="c1"))
        session.add(Device(id="dB", centre_id="c3", kind="entrance"))
        session.commit()
        for name, centre in (("county_a", "c2"), ("county_b", "c3"), ("city", "c1")):
            add_user(session, runtime, name, Role.CENTRE_ADMIN, centre)
    feed(runtime.engine, "c3", passage("zhang", "in", T0, door="乙门"), device="dB")
    feed(runtime.engine, "c2", passage("li", "in", T0, door="甲门"), device="d3")


BODIES = {
    "/api/v1/visitors/trace": {"id_number": OTHER, "reason": "scope"},
    "/api/v1/visitors/trace.xlsx": {"id_number": OTHER, "reason": "scope"},
    "/api/v1/visitors/rules": {"centre_id": "c3"},
    "/api/v1/visitors/rules/push": {"centre_id": "c3"},
    "/api/v1/visitors/watchlist": {"centre_id": "c3", "id_number": OTHER},
    "/api/v1/visitors/watchlist/delete": {"id": 1},
}
SECRETS = ("c3", "dB", "乙门", "乙县", "张*")  # + zhang's masked ID, except where typed in
MASKED_OTHER = "110***********002X"


def secrets(path: str) -> tuple[str, ...]:
    """A tracing answer names its own subject (masked, as typed by the asker)."""
    return SECRETS if "trace" in path else (*SECRETS, MASKED_OTHER)


def routes(app: FastAPI, prefix: str) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, APIRoute) and "visitors" in path and path.startswith(prefix):
            found += [(m, context.path) for m in sorted(context.methods or ())]
    return found


@pytest.mark.usefixtures("two_counties")
def test_api_county_user_sees_nothing_of_the_other_county(
    app: FastAPI, anonymous: TestClient
) -> None:
    log_in(anonymous, "county_a", PASSWORD)
    walked = routes(app, "/api/v1/visitors")
    assert len(walked) >= 10
    for method, path in walked:
        r = anonymous.request(
            method,
            path,
            params={"centre": "c3"} if method == "GET" else None,
            json=BODIES.get(path),
        )
        where = f"{method} {path} -> {r.status_code} {r.text[:300]}"
        if r.status_code == 200:
            for secret in secrets(path):
                assert not mentions(r.text, secret), where
        else:
            assert r.status_code in (403, 404), where


@pytest.mark.usefixtures("two_counties")
def test_console_county_user_sees_nothing_of_the_other_county(
    app: FastAPI, anonymous: TestClient
) -> None:
    form_login(anonymous, "county_a", PASSWORD)
    token = csrf_of(anonymous.get("/visitors").text)
    for method, path in routes(app, "/"):
        if path.startswith("/api/") or path.startswith("/console/events/"):
            continue
        data = {"csrf_token": token, "centre_id": "c3", "id": "1", "id_number": OTHER}
        for params in ({}, {"centre": "c3"}):
            r = anonymous.request(
                method, path, data=data | {"reason": "scope"} if method == "POST" else None,
                params=params,
            )  # fmt: skip
            where = f"{method} {path} {params} -> {r.status_code} {r.text[:300]}"
            if r.status_code == 200:
                for secret in secrets(path):
                    assert not mentions(r.text, secret), where
            else:
                assert r.status_code in (403, 404, 422), where


@pytest.mark.usefixtures("two_counties")
def test_county_sees_its_own_visits_and_city_sees_both(anonymous: TestClient) -> None:
    log_in(anonymous, "county_b", PASSWORD)
    page = anonymous.get("/api/v1/visitors/visits").json()
    assert [v["centre_id"] for v in page["items"]] == ["c3"]
    assert anonymous.get("/api/v1/visitors/dashboard").json()["inside"] == 1
    log_in(anonymous, "city", PASSWORD)
    page = anonymous.get("/api/v1/visitors/visits").json()
    assert sorted(v["centre_id"] for v in page["items"]) == ["c2", "c3"]
    board = anonymous.get("/api/v1/visitors/dashboard").json()
    assert board["inside"] == 2
    assert {c["centre_id"]: c["inside"] for c in board["centres"]} == {"c1": 0, "c2": 1, "c3": 1}
    county = anonymous.get("/api/v1/visitors/dashboard", params={"centre": "c3"}).json()
    assert county["inside"] == 1 and [c["centre_id"] for c in county["centres"]] == ["c3"]


@pytest.mark.usefixtures("two_counties")
def test_tracing_stays_inside_the_visible_centres(anonymous: TestClient) -> None:
    feed(anonymous.app.state.runtime.engine, "c3", passage("wang", "in", T0), device="dB")  # type: ignore[attr-defined]
    body = {"id_number": IDS["zhang"], "reason": "疑似病例"}
    log_in(anonymous, "county_a", PASSWORD)
    assert anonymous.post("/api/v1/visitors/trace", json=body).json()["contacts"] == []
    log_in(anonymous, "county_b", PASSWORD)
    contacts = anonymous.post("/api/v1/visitors/trace", json=body).json()["contacts"]
    assert [c["name"] for c in contacts] == ["王*"]
    assert re.fullmatch(r"420\*+3456", contacts[0]["id_number"])
