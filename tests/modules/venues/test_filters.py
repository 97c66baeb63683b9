"""The combined conditions of 扫码进场信息查询 and 扫码统计查询 (seed 001, (四) and (五)):
所在市区, 公共场所管理员, 核酸结果, 类别 and 监管单位 next to the older ones, on the API and the
pages, always inside the user's own scope."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.auth.permissions import Role
from collector.modules.venues.importer import insert_records
from collector.modules.venues.models import Venue, VenueUnit, VenueUnitMember
from tests.api.support import ApiTestRuntime
from tests.console.support import PASSWORD, add_user, form_login
from tests.modules.venues.support import scans_for

DAY = date(2025, 3, 2)
RANGE = "start=2025-03-01&end=2025-03-07"


@pytest.fixture
def two_units(runtime: ApiTestRuntime) -> dict[str, int]:
    """Unit 甲 has a restaurant in 开平, unit 乙 a mall in 台山; each had 3 scans on DAY."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        ua = VenueUnit(centre_id="c1", name="甲监管单位", phone="13900000001")
        ub = VenueUnit(centre_id="c1", name="乙监管单位", phone="13900000002")
        session.add_all([ua, ub])
        session.flush()
        places = (
            ("VA", "开平市", "餐饮", "李管理", "阴性", ua),
            ("VB", "台山市", "商场", "王管理", "阳性", ub),
        )
        for code, city, category, admin, nucleic, unit in places:
            session.add(Venue(centre_id="c1", code=code, name=f"{code}场所", city=city,
                              category=category, unit_id=unit.id))  # fmt: skip
            fields = {"city": city, "category": category, "venue_admin": admin}
            records = [
                replace(r, nucleic_result=nucleic, **fields) for r in scans_for(code, DAY, 3)
            ]
            insert_records(session, records, centre_id="c1", actor="t", source="import")
        session.commit()
        user = add_user(session, runtime, "unit_a", Role.SUPERVISOR_UNIT, "c1")
        session.add(VenueUnitMember(user_id=user.id or 0, unit_id=ua.id or 0))
        session.commit()
        return {"a": ua.id or 0, "b": ub.id or 0}


def stats(client: TestClient, query: str) -> list[str]:
    r = client.get(f"/api/v1/venue-stats?{RANGE}&{query}")
    assert r.status_code == 200, r.text
    return [row["venue_code"] for row in r.json()["items"]]


def scans(client: TestClient, query: str) -> list[str]:
    r = client.get(f"/api/v1/venue-scans?{query}")
    assert r.status_code == 200, r.text
    return sorted({row["venue_code"] for row in r.json()["items"]})


def test_statistics_by_category_city_and_unit(
    client: TestClient, two_units: dict[str, int]
) -> None:
    assert stats(client, "") == ["VA", "VB"]
    assert stats(client, "category=餐饮") == ["VA"]
    assert stats(client, "city=台山") == ["VB"]
    assert stats(client, f"unit_id={two_units['b']}") == ["VB"]
    assert stats(client, f"unit_id={two_units['a']}&city=台山") == []
    page = client.get(f"/venue-stats?{RANGE}&unit_id={two_units['b']}").text
    assert 'data-id="VB"' in page and 'data-id="VA"' not in page
    assert f'value="{two_units["b"]}" selected' in page  # the choice stays on the page


def test_scans_by_city_admin_nucleic_result_and_unit(
    client: TestClient, two_units: dict[str, int]
) -> None:
    assert scans(client, "") == ["VA", "VB"]
    assert scans(client, "city=开平") == ["VA"]
    assert scans(client, "venue_admin=王") == ["VB"]
    assert scans(client, "nucleic_result=阴性") == ["VA"]
    assert scans(client, f"unit_id={two_units['a']}") == ["VA"]
    page = client.get(f"/venue-scans?unit_id={two_units['b']}&city=台山").text
    assert 'data-field="unit">乙监管单位' in page and 'data-field="unit">甲监管单位' not in page
    assert client.get("/venue-scans?unit_id=abc").status_code == 200  # ignored, not a 500


def test_a_units_user_cannot_filter_its_way_into_another_unit(
    anonymous: TestClient, two_units: dict[str, int]
) -> None:
    form_login(anonymous, "unit_a", PASSWORD)
    assert stats(anonymous, f"unit_id={two_units['b']}") == []
    assert scans(anonymous, f"unit_id={two_units['b']}") == []
    assert scans(anonymous, "city=台山") == []
    page = anonymous.get(f"/venue-stats?{RANGE}").text
    assert 'name="unit_id"' not in page  # it sees only its own unit: nothing to choose
