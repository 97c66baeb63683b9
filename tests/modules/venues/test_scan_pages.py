"""The scan lists (扫码进场信息查询, the list of 扫码进场信息管理, ``GET /api/v1/venue-scans``)
count the matching records only up to ``service.COUNT_LIMIT``: beyond it the pager says
“共 10,000+ 条” (English “More than 10,000”) and the API ``total_is_lower_bound``; below it the
exact number. The order of the pages (newest 采集时间 first, then the later id) is the same
whether the count stopped or not, over one centre, several merged, or a unit's venues."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from collector.auth.permissions import Role
from collector.centres.models import Centre
from collector.modules.venues import service
from collector.modules.venues.importer import ScanRecord, insert_records
from collector.modules.venues.models import Venue, VenueScan, VenueUnit, VenueUnitMember
from collector.modules.venues.scope import VenueScope
from tests.api.support import ApiTestRuntime
from tests.console.support import PASSWORD, add_user, form_login
from tests.modules.venues.support import scans_for

DAY = date(2025, 3, 2)


# 12 scans: 8 in c1 (VA, VB), 4 in c2 (VC), interleaved in time and not stored in time order;
# on 09:05 five scans of both centres (c1: #0, #2, #8; c2: #1, #10), on 09:00 three (c1: #3,
# #9; c2: #7), so merging the centres' branches must order a second by id across them.
PLAN = [("c1", "VA", 5), ("c2", "VC", 5), ("c1", "VB", 5), ("c1", "VA", 0), ("c2", "VC", 9),
        ("c1", "VB", 1), ("c1", "VA", 7), ("c2", "VC", 0), ("c1", "VB", 5), ("c1", "VA", 0),
        ("c2", "VC", 5), ("c1", "VB", 8)]  # fmt: skip
# The order of the lists, as PLAN's indexes: newest 采集时间 first, then the later id.
NEWEST_FIRST = [4, 11, 6, 10, 8, 2, 1, 0, 5, 9, 7, 3]


def store(engine: Engine) -> list[int]:
    """The scans of PLAN, stored in PLAN's order. Their ids in the order of NEWEST_FIRST."""
    at = datetime(2025, 3, 2, 9)
    with Session(engine) as session:
        for n, (centre_id, code, minute) in enumerate(PLAN):
            record = ScanRecord(
                venue_code=code,
                collected_at=at + timedelta(minutes=minute),
                id_number=f"4407831990010100{n:02d}",  # same second, another record
            )
            insert_records(session, [record], centre_id=centre_id, actor="t", source="import")
        session.commit()
        stored = sorted(session.exec(select(col(VenueScan.id))).all())  # one id per record
    assert len(stored) == len(PLAN)
    return [stored[n] for n in NEWEST_FIRST]


def walk(
    session: Session, scope: VenueScope, limit: int, f: service.ScanFilters | None = None
) -> tuple[list[int], list[tuple[int, bool, bool]]]:
    """Every page of the list: the ids in order, and (total, more, has_next) of each page."""
    ids: list[int] = []
    pagers = []
    offset = 0
    while True:
        page = service.query_scans(
            session, scope, f or service.ScanFilters(), limit=limit, offset=offset
        )
        ids += [s.id or 0 for s in page.rows]
        pagers.append((page.total, page.more, page.has_next))
        if not page.has_next:
            return ids, pagers
        offset += limit


@pytest.mark.parametrize("bound", [100, 12, 11, 5, 2])
def test_the_order_and_the_count_with_the_count_bounded_or_not(
    engine: Engine, bound: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        session.add_all([Centre(id="c1", name="市"), Centre(id="c2", name="县", parent_id="c1")])
        session.commit()
    newest_first = store(engine)
    monkeypatch.setattr(service, "COUNT_LIMIT", bound)
    with Session(engine) as session:
        both = VenueScope(frozenset({"c1", "c2"}))
        ids, pagers = walk(session, both, limit=5)
        assert ids == newest_first  # NEWEST_FIRST, written out
        # the pages [#4 #11 #6 #10 #8] [#2 #1 #0 #5 #9] [#7 #3]: 09:05, the centres alternating
        # by id, goes over the first page break, 09:00 over the second
        assert [PLAN[n][0] for n in NEWEST_FIRST[3:8]] == ["c2", "c1", "c1", "c2", "c1"]
        if bound >= 12:  # counted: exact on every page
            assert pagers == [(12, False, True), (12, False, True), (12, False, False)]
        else:  # more than the bound, then more than the rows so far, exact on the last page
            assert pagers == [
                (max(bound, 5), True, True),
                (max(bound, 10), True, True),
                (12, False, False),
            ]
        c1 = [i for i in newest_first if session.get(VenueScan, i).centre_id == "c1"]  # type: ignore[union-attr]
        assert walk(session, VenueScope(frozenset({"c1"})), limit=3)[0] == c1
        beyond = service.query_scans(session, both, service.ScanFilters(), limit=5, offset=20)
        assert beyond.rows == [] and not beyond.has_next
        assert (beyond.total, beyond.more) == ((12, False) if bound >= 12 else (bound, True))
        only_vb = service.ScanFilters(venue_code="VB")
        vb = [i for i in newest_first if session.get(VenueScan, i).venue_code == "VB"]  # type: ignore[union-attr]
        assert walk(session, both, limit=2, f=only_vb)[0] == vb
        unit = VenueUnit(centre_id="c1", name="甲监管单位")
        session.add(unit)
        session.flush()
        session.add(Venue(centre_id="c1", code="VA", name="VA场所", unit_id=unit.id))
        session.commit()
        of_unit = service.ScanFilters(unit_id=unit.id, start=datetime(2025, 3, 2, tzinfo=UTC))
        va = [i for i in newest_first if session.get(VenueScan, i).venue_code == "VA"]  # type: ignore[union-attr]
        assert walk(session, both, limit=3, f=of_unit)[0] == va
        # more centres than merged (_MERGE_CENTRES): one statement over the scope, same order
        monkeypatch.setattr(service, "_MERGE_CENTRES", 1)
        assert walk(session, both, limit=5) == (ids, pagers)
        assert walk(session, both, limit=4)[0] == newest_first


@pytest.fixture
def twelve(runtime: ApiTestRuntime) -> list[int]:
    return store(runtime.engine)


def api(client: TestClient, query: str) -> dict[str, object]:
    r = client.get(f"/api/v1/venue-scans?{query}")
    assert r.status_code == 200, r.text
    found: dict[str, object] = r.json()
    return found


def test_the_api_says_when_the_total_is_a_lower_bound(
    client: TestClient, twelve: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    exact = api(client, "limit=5")
    assert (exact["total"], exact["total_is_lower_bound"]) == (12, False)
    monkeypatch.setattr(service, "COUNT_LIMIT", 5)
    first = api(client, "limit=5")  # more than the 5 on this page: the 6th is read
    assert (first["total"], first["total_is_lower_bound"]) == (6, True)
    assert [s["id"] for s in first["items"]] == twelve[:5]  # type: ignore[attr-defined]
    second = api(client, "limit=5&offset=5")
    assert (second["total"], second["total_is_lower_bound"]) == (11, True)
    assert [s["id"] for s in second["items"]] == twelve[5:10]  # type: ignore[attr-defined]
    monkeypatch.setattr(service, "COUNT_LIMIT", 8)  # at least the bound
    assert (api(client, "limit=5")["total"], api(client, "limit=2&offset=2")["total"]) == (8, 8)
    assert api(client, "limit=5&offset=5")["total"] == 11
    monkeypatch.setattr(service, "COUNT_LIMIT", 5)
    last = api(client, "limit=5&offset=10")
    assert (last["total"], last["total_is_lower_bound"]) == (12, False)
    assert [s["id"] for s in last["items"]] == twelve[10:]  # type: ignore[attr-defined]
    small = api(client, "venue_code=VC&limit=5")  # 4 match: under the bound, exact
    assert (small["total"], small["total_is_lower_bound"]) == (4, False)
    beyond = api(client, "limit=5&offset=20")  # past the end: the bound, no more is known
    assert (beyond["items"], beyond["total"], beyond["total_is_lower_bound"]) == ([], 5, True)


@pytest.mark.parametrize("bound", [2, 5, 10, 11])
@pytest.mark.parametrize("limit", [1, 3, 5])
def test_an_old_client_paging_while_offset_is_below_total_gets_every_record_once(
    client: TestClient, twelve: list[int], monkeypatch: pytest.MonkeyPatch, bound: int, limit: int
) -> None:
    """A client that ignores total_is_lower_bound: the count bounded (10 with 5 a page was
    the review's case: at offset 5 the total was 10, so the client stopped at 10 records)."""
    monkeypatch.setattr(service, "COUNT_LIMIT", bound)
    seen: list[int] = []
    offset, total = 0, 1
    while offset < total:
        page = api(client, f"limit={limit}&offset={offset}")
        items: list[dict[str, int]] = page["items"]  # type: ignore[assignment]
        assert items, offset  # never asked past the end
        seen += [s["id"] for s in items]
        total = page["total"]  # type: ignore[assignment]
        offset += limit
    assert seen == twelve
    assert (page["total"], page["total_is_lower_bound"]) == (12, False)


def test_the_pages_count_what_they_show(
    client: TestClient, twelve: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in ("/venue-scans", "/venue-import"):
        page = client.get(path).text
        assert '<p class="pager" id="scan-pager" data-total="12">共 12' in page
        assert "下一页" not in page  # 12 records: one page of 50
    monkeypatch.setattr(service, "COUNT_LIMIT", 5)
    for path in ("/venue-scans", "/venue-import"):  # all 12 on the page: counted all the same
        page = client.get(path).text
        assert 'data-total="12">共 12' in page and "+ 条" not in page and "下一页" not in page
    filtered = client.get("/venue-scans?venue_code=VC").text  # 4 records: under the bound
    assert 'data-total="4">共 4' in filtered


def test_the_bound_is_shown_with_its_thousands(
    client: TestClient, runtime: ApiTestRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(runtime.engine) as session:
        insert_records(session, scans_for("VA", DAY, 1001), centre_id="c1", actor="t",
                       source="import")  # fmt: skip
        session.commit()
    monkeypatch.setattr(service, "COUNT_LIMIT", 1000)
    for path in ("/venue-scans", "/venue-import"):
        page = client.get(path).text
        assert 'data-total="1000" data-more="1">共 1,000+ 条' in page
        assert "offset=50" in page and "下一页" in page  # the next page
    deep = client.get("/venue-scans?offset=600").text  # more than the rows up to here
    assert 'data-more="1">共 1,000+ 条' in deep and "offset=650" in deep
    last = client.get("/venue-scans?offset=1000").text  # the last page: counted
    assert 'data-total="1001">共 1,001\n' in last and "offset=950" in last
    monkeypatch.setattr(service, "COUNT_LIMIT", 1001)
    assert 'data-total="1001">共 1,001\n' in client.get("/venue-scans").text
    assert api(client, "offset=950")["total"] == 1001  # the API: the same numbers, exact
    monkeypatch.setattr(service, "COUNT_LIMIT", 1000)
    assert (api(client, "offset=950")["total"], api(client, "offset=900")["total"]) == (1001, 1000)
    assert "More than 1,000" in client.get("/venue-scans?lang=en").text  # English second


def test_a_units_user_sees_its_own_venues_with_the_count_bounded(
    anonymous: TestClient, runtime: ApiTestRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    twelve = store(runtime.engine)
    with Session(runtime.engine) as session:
        unit = VenueUnit(centre_id="c1", name="甲监管单位", phone="13900000001")
        session.add(unit)
        session.flush()
        session.add(Venue(centre_id="c1", code="VA", name="VA场所", unit_id=unit.id))
        user = add_user(session, runtime, "unit_a", Role.SUPERVISOR_UNIT, "c1")
        session.add(VenueUnitMember(user_id=user.id or 0, unit_id=unit.id or 0))
        session.commit()
        va = set(session.exec(select(VenueScan.id).where(col(VenueScan.venue_code) == "VA")).all())
    form_login(anonymous, "unit_a", PASSWORD)
    monkeypatch.setattr(service, "COUNT_LIMIT", 2)
    first = api(anonymous, "limit=3")  # a 4th follows: more than the 3 of this page
    assert (first["total"], first["total_is_lower_bound"]) == (4, True)
    rest = api(anonymous, "limit=3&offset=3")
    assert (rest["total"], rest["total_is_lower_bound"]) == (4, False)
    seen = [s["id"] for s in [*first["items"], *rest["items"]]]  # type: ignore[misc]
    assert seen == [i for i in twelve if i in va] and len(seen) == 4
    page = anonymous.get("/venue-scans").text
    assert 'data-total="4">共 4' in page and "VB" not in page and "VC" not in page
    assert api(anonymous, "venue_code=VC")["total"] == 0
