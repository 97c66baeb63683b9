"""The registry's forms and its initial import: all rows or none, errors by row; a unit's
phone checked where it is entered; a venue's unit from its own centre; thresholds that are
not whole numbers refused, not read as empty."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, select

from collector.auth.models import AuditEntry
from collector.modules.venues.columns import VENUE_COLUMNS
from collector.modules.venues.models import Venue, VenueUnit
from tests.api.support import ApiTestRuntime
from tests.console.support import csrf_of


def registry_csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.label for c in VENUE_COLUMNS])
    for row in rows:
        writer.writerow([row.get(c.key, "") for c in VENUE_COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def seed(runtime: ApiTestRuntime) -> dict[str, int]:
    """A unit in c1 and one in c2; a registered venue and one found only in the scans."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        u1 = VenueUnit(centre_id="c1", name="卫健局", phone="13900001111")
        u2 = VenueUnit(centre_id="c2", name="县卫健局", phone="13900002222")
        session.add_all([u1, u2])
        session.add(Venue(centre_id="c1", code="OLD", name="已登记"))
        session.add(Venue(centre_id="c1", code="SEEN", name="扫码发现", discovered=True))
        session.commit()
        return {"u1": u1.id or 0, "u2": u2.id or 0}


def venues(runtime: ApiTestRuntime) -> dict[str, tuple[str, int | None, bool]]:
    with Session(runtime.engine) as session:
        return {v.code: (v.name, v.unit_id, v.discovered) for v in session.exec(select(Venue))}


def post_registry(client: TestClient, data: bytes, centre_id: str = "c1") -> Response:
    token = csrf_of(client.get("/venues").text)
    return client.post(
        "/venues/import",
        data={"csrf_token": token, "centre_id": centre_id},
        files={"file": ("venues.csv", data)},
        follow_redirects=False,
    )


def test_registry_import_stores_nothing_on_any_error_and_names_the_rows(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    seed(runtime)
    before = venues(runtime)
    rows = [
        {"code": "N1", "name": "新场所一", "unit": "卫健局"},  # row 2
        {"code": "N2", "name": "新场所二"},  # row 3
        {"code": "OLD", "name": "重复登记"},  # row 4: already registered
        {"code": "N1", "name": "又一个"},  # row 5: repeated in the file
        {"code": "N3", "name": "新场所三", "unit": "县卫健局"},  # row 6: a unit of c2
    ]
    r = post_registry(client, registry_csv(rows))
    assert r.status_code == 422
    text = r.text
    assert "第 4 行「公共场所ID」：已存在于场所信息中" in text
    assert "第 5 行「公共场所ID」：在文件中重复" in text
    assert "第 6 行「监管单位」：“县卫健局”不存在" in text
    assert venues(runtime) == before  # rows 2 and 3 were not stored either


def test_registry_import_stores_every_row_at_once(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    ids = seed(runtime)
    rows = [
        {"code": "N1", "name": "新场所一", "unit": "卫健局"},
        {"code": "SEEN", "name": "扫码发现的场所", "street": "长沙街道"},  # completes it
    ]
    r = post_registry(client, registry_csv(rows))
    assert r.status_code == 303, r.text
    stored = venues(runtime)
    assert stored["N1"] == ("新场所一", ids["u1"], False)
    assert stored["SEEN"] == ("扫码发现的场所", None, False)
    with Session(runtime.engine) as session:
        lines = session.exec(
            select(AuditEntry).where(AuditEntry.action == "venues.registry_import")
        ).all()
        assert [line.detail for line in lines] == [{"rows": 2, "completed": 1}]


def test_a_unit_phone_is_checked_where_it_is_entered(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    r = client.post("/api/v1/venue-units", json={"centre_id": "c1", "name": "甲", "phone": "无"})
    assert r.status_code == 422
    assert "监管单位负责人手机号应为 11 位手机号码" in r.text
    r = client.post(
        "/api/v1/venue-units", json={"centre_id": "c1", "name": "乙", "phone": "+86 138-1234-5678"}
    )
    assert r.status_code == 201, r.text
    page = client.get("/venue-units").text
    r = client.post(
        "/venue-units",
        data={"csrf_token": csrf_of(page), "centre_id": "c1", "name": "丙", "phone": "0750-123"},
    )
    assert r.status_code == 422
    assert "监管单位负责人手机号应为 11 位手机号码" in r.text
    r = client.post(
        "/venue-units", data={"csrf_token": csrf_of(page), "centre_id": "c1", "name": "乙"}
    )
    assert r.status_code == 422 and "监管单位“乙”已存在" in r.text  # not a server error
    with Session(runtime.engine) as session:
        assert [(u.name, u.phone) for u in session.exec(select(VenueUnit))] == [
            ("乙", "13812345678")
        ]


def test_a_venue_gets_no_unit_of_another_centre(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    ids = seed(runtime)
    body = {"centre_id": "c1", "code": "X1", "name": "场所", "unit_id": ids["u2"]}
    r = client.post("/api/v1/venues", json=body)
    assert r.status_code == 422 and "监管单位“县卫健局”不属于场所所在的中心 c1" in r.text
    with Session(runtime.engine) as session:
        old = session.exec(select(Venue).where(Venue.code == "OLD")).one()
    r = client.put(f"/api/v1/venues/{old.id}", json={**body, "code": "OLD"})
    assert r.status_code == 422
    page = client.get(f"/venues/{old.id}").text
    r = client.post(
        f"/venues/{old.id}",
        data={"csrf_token": csrf_of(page), "code": "OLD", "name": "已登记", "unit_id": ids["u2"]},
    )
    assert r.status_code == 422 and "不属于场所所在的中心" in r.text
    assert venues(runtime)["OLD"][1] is None
    r = client.post("/api/v1/venues", json={**body, "unit_id": ids["u1"]})
    assert r.status_code == 201
    assert client.post("/api/v1/venues", json={**body, "unit_id": None}).status_code == 409


def test_a_threshold_that_is_not_a_whole_number_is_refused(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        venue = Venue(centre_id="c1", code="T1", name="场所", min_daily=5, max_daily=50)
        session.add(venue)
        session.commit()
    url = f"/venue-thresholds/{venue.id}"
    token = csrf_of(client.get(url).text)
    for bad in ("-5", "abc", "1.5"):
        r = client.post(url, data={"csrf_token": token, "min_daily": bad, "max_daily": "50"})
        assert r.status_code == 422, bad
        assert "场所日人流量阈值（最小值）应为不小于 0 的整数" in r.text
    r = client.post(url, data={"csrf_token": token, "min_daily": "9", "max_daily": "3"})
    assert r.status_code == 422 and "最大值不能小于最小值" in r.text
    with Session(runtime.engine) as session:
        stored = session.get(Venue, venue.id)
        assert stored is not None and (stored.min_daily, stored.max_daily) == (5, 50)
    r = client.post(url, data={"csrf_token": token, "min_daily": "", "max_daily": "60"})
    assert r.status_code == 200  # empty still means "not set"
    with Session(runtime.engine) as session:
        stored = session.get(Venue, venue.id)
        assert stored is not None and (stored.min_daily, stored.max_daily) == (None, 60)
