"""A supervising unit sees only its own venues: every venues/notify API route and console
page, walked automatically as unit A's user with unit B's ids, answers 403/404 or shows
nothing of B; unit A's own data is there."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.auth.models import User
from collector.auth.permissions import Role
from collector.modules.venues.importer import insert_records
from collector.modules.venues.models import Venue, VenueAlert, VenueUnit, VenueUnitMember
from tests.api.support import ApiTestRuntime, log_in
from tests.console.support import PASSWORD, add_user, csrf_of, form_login
from tests.modules.venues.support import scans_for

B_SECRETS = ("VB-code", "乙单位场所", "乙监管单位")


@pytest.fixture
def units(runtime: ApiTestRuntime) -> dict[str, str]:
    with Session(runtime.engine, expire_on_commit=False) as session:
        ua = VenueUnit(centre_id="c1", name="甲监管单位", phone="13900000001")
        ub = VenueUnit(centre_id="c1", name="乙监管单位", phone="13900000002")
        session.add_all([ua, ub])
        session.flush()
        va = Venue(centre_id="c1", code="VA-code", name="甲单位场所", unit_id=ua.id, min_daily=1)
        vb = Venue(centre_id="c1", code="VB-code", name="乙单位场所", unit_id=ub.id, min_daily=1)
        session.add_all([va, vb])
        session.flush()
        alerts = {}
        for v in (va, vb):
            alert = VenueAlert(
                centre_id="c1",
                venue_id=v.id or 0,
                direction="low",
                threshold=1,
                start_day=date(2025, 3, 1),
                end_day=date(2025, 3, 7),
                counts=[0] * 7,
            )
            session.add(alert)
            session.flush()
            alerts[v.code] = alert.id
            insert_records(
                session,
                scans_for(v.code, date(2025, 3, 2), 3),
                centre_id="c1",
                actor="t",
                source="import",
            )
        session.commit()
        for name, unit in (("unit_a", ua), ("unit_b", ub)):
            user = add_user(session, runtime, name, Role.SUPERVISOR_UNIT, "c1")
            session.add(VenueUnitMember(user_id=user.id or 0, unit_id=unit.id or 0))
        add_user(session, runtime, "unit_none", Role.SUPERVISOR_UNIT, "c1")
        session.commit()
        return {
            "venue_id": str(vb.id),
            "alert_id": str(alerts["VB-code"]),
            "centre_id": "c1",
            "own_venue": str(va.id),
            "own_alert": str(alerts["VA-code"]),
        }


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/venues"): {"centre_id": "c1", "code": "X1", "name": "x"},
    ("PUT", "/api/v1/venues/{venue_id}"): {"centre_id": "c1", "code": "VB-code", "name": "x"},
    ("PUT", "/api/v1/venues/{venue_id}/thresholds"): {"min_daily": 1, "max_daily": 10},
    ("POST", "/api/v1/venue-units"): {"centre_id": "c1", "name": "x"},
    ("POST", "/api/v1/venue-scans/delete"): {
        "by": "collected",
        "start": "2020-01-01T00:00:00Z",
        "end": "2030-01-01T00:00:00Z",
        "confirm": True,
    },
}
STATS = {"start": "2025-03-01", "end": "2025-03-31"}


def _module_routes(app: FastAPI, api: bool) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if not isinstance(route, APIRoute) or not path:
            continue
        mine = re.match(r"^(/api/v1)?/(venue|notify|sms-log)", path)
        if mine and path.startswith("/api/") == api:
            found += [(m, path) for m in sorted(context.methods or ())]
    return found


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def test_a_unit_gets_nothing_of_another_unit_through_the_api(
    app: FastAPI, anonymous: TestClient, units: dict[str, str]
) -> None:
    log_in(anonymous, "unit_a", PASSWORD)
    walked = 0
    for method, path in _module_routes(app, api=True):
        r = anonymous.request(
            method,
            _fill(path, units),
            json=BODIES.get((method, path)),
            params=STATS if method == "GET" else None,
        )
        walked += 1
        where = f"{method} {path} -> {r.status_code} {r.text[:200]}"
        if r.status_code == 200:
            assert "{" not in path, where
            for secret in B_SECRETS:
                assert secret not in r.text, where
        else:
            assert r.status_code in (403, 404), where
    assert walked >= 15
    # and its own venue, scans, statistics and alerts are there
    assert [v["code"] for v in anonymous.get("/api/v1/venues").json()["items"]] == ["VA-code"]
    scans = anonymous.get("/api/v1/venue-scans").json()
    assert scans["total"] == 3 and {s["unit"] for s in scans["items"]} == {"甲监管单位"}
    assert scans["items"][0]["phone"] == "138****5678"  # masked
    stats = anonymous.get("/api/v1/venue-stats", params=STATS).json()
    assert [(s["venue_code"], s["count"]) for s in stats["items"]] == [("VA-code", 3)]
    assert anonymous.get(f"/api/v1/venue-alerts/{units['own_alert']}").status_code == 200
    r = anonymous.put(
        f"/api/v1/venues/{units['own_venue']}/thresholds", json={"min_daily": 2, "max_daily": 9}
    )
    assert r.status_code == 200 and r.json()["max_daily"] == 9
    export = anonymous.get("/api/v1/venue-scans/export")
    assert export.status_code == 200


def test_a_unit_without_a_unit_link_sees_nothing(
    anonymous: TestClient, units: dict[str, str]
) -> None:
    log_in(anonymous, "unit_none", PASSWORD)
    assert anonymous.get("/api/v1/venues").json()["total"] == 0
    assert anonymous.get("/api/v1/venue-scans").json()["total"] == 0
    assert anonymous.get("/api/v1/venue-alerts").json()["total"] == 0


def test_a_unit_gets_nothing_of_another_unit_in_the_console(
    app: FastAPI, anonymous: TestClient, units: dict[str, str]
) -> None:
    form_login(anonymous, "unit_a", PASSWORD)
    token = csrf_of(anonymous.get("/venue-alerts").text)
    walked = 0
    for method, path in _module_routes(app, api=False):
        r = anonymous.request(
            method,
            _fill(path, units),
            data={"csrf_token": token, "min_daily": "1"} if method == "POST" else None,
            params=STATS if method == "GET" else None,
        )
        walked += 1
        where = f"{method} {path} -> {r.status_code}"
        if r.status_code == 200:
            for secret in B_SECRETS:
                assert secret not in r.text, where
        else:
            assert r.status_code in (403, 404, 422), where
    assert walked >= 10
    assert "甲单位场所" in anonymous.get("/venue-thresholds?tab=set").text
    assert "VA-code" in anonymous.get("/venue-scans").text
    assert "VA-code" in anonymous.get("/venue-alerts").text
    page = anonymous.get("/venue-alerts").text
    assert "/venue-units" not in page and "/venue-import" not in page  # not in the menu


def test_the_data_bureau_sees_every_venue_of_its_centres(
    client: TestClient, units: dict[str, str]
) -> None:
    venues = client.get("/api/v1/venues").json()
    assert {v["code"] for v in venues["items"]} == {"VA-code", "VB-code"}
    scans = client.get("/api/v1/venue-scans").json()
    assert scans["total"] == 6


def test_scans_of_unknown_venues_show_an_empty_unit(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    with Session(runtime.engine) as session:
        insert_records(
            session,
            scans_for("NOPE", date(2025, 3, 2), 1),
            centre_id="c1",
            actor="t",
            source="import",
        )
        session.commit()
        assert session.get(User, 1) is not None
    items = client.get("/api/v1/venue-scans").json()["items"]
    assert [s["unit"] for s in items] == ["空"]
    assert items[0]["collected_at"].startswith("2025-03-02T00:00:00")  # 08:00 China time
