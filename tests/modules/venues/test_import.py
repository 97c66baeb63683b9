"""Scan import: template, good rows, a bad row (nothing stored, row number reported), the
same file twice (nothing duplicated), deletion by range, and the 前置库 lock."""

from __future__ import annotations

import html
import io
import re

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, func, select

from collector.auth.models import AuditEntry
from collector.auth.permissions import Role
from collector.modules.venues.columns import SCAN_COLUMNS
from collector.modules.venues.models import VenueScan, VenueScanDay
from tests.api.support import ApiTestRuntime, log_in
from tests.console.support import PASSWORD, add_user, csrf_of, form_login
from tests.modules.venues.support import keyed, scan_csv

# The fields of the rows below, in order; the files carry every template column.
KEYS = ["venue_code", "venue_name", "id_number", "person_name", "phone", "health_code",
        "collected_at"]  # fmt: skip
LABELS = [c.label for c in SCAN_COLUMNS]


def csv_bytes(rows: list[list[str]]) -> bytes:
    return scan_csv(keyed(KEYS, rows))


GOOD = [
    ["KP1", "人民医院", "440783199001011234", "张三", "13812345678", "绿码", "2022-05-01 09:30:00"],
    ["KP1", "人民医院", "440783199001015678", "李四", "13812345679", "绿码", "2022-05-01 10:00"],
    ["KP2", "图书馆", "", "", "", "绿码", "2022/05/02 08:00:00"],
]


def count(runtime: ApiTestRuntime) -> int:
    with Session(runtime.engine) as session:
        return session.exec(select(func.count()).select_from(VenueScan)).one()


def test_template_has_the_seed_columns(client: TestClient) -> None:
    r = client.get("/venue-import/template")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    headers = [str(c.value).lstrip("*") for c in ws[1]]
    assert headers[:3] == ["公共场所ID", "公共场所", "类别"] and "采集时间" in headers


def test_good_rows_then_the_same_file_again(client: TestClient, runtime: ApiTestRuntime) -> None:
    data = csv_bytes(GOOD)
    r = client.post("/api/v1/venue-scans/import/c1", content=data)
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 3
    assert r.json()["latest"].startswith("2022-05-02T00:00:00")  # 08:00 China time
    again = client.post("/api/v1/venue-scans/import/c1", content=data).json()
    assert again == {**again, "rows": 3, "inserted": 0, "duplicates": 3}
    assert count(runtime) == 3
    with Session(runtime.engine) as session:
        days = session.exec(select(VenueScanDay).order_by(VenueScanDay.day)).all()
        assert [(d.venue_code, d.day.isoformat(), d.count) for d in days] == [
            ("KP1", "2022-05-01", 2),
            ("KP2", "2022-05-02", 1),
        ]
        scan = session.exec(select(VenueScan).where(VenueScan.venue_code == "KP1")).first()
        assert scan is not None and scan.imported_by == "admin"
        assert scan.person and "张三" in scan.person
        raw = session.connection().exec_driver_sql("SELECT person FROM venue_scans").scalars()
        assert all(value is None or value.startswith("pd1:") for value in raw)  # at rest
    status = client.get("/api/v1/venue-scans/status").json()
    assert status["latest_collected_at"].startswith("2022-05-02T00:00:00")
    found = client.get("/api/v1/venue-scans", params={"id_number": "440783199001011234"}).json()
    assert found["total"] == 1 and found["items"][0]["person_name"] == "张*"


def test_a_bad_row_stores_nothing(client: TestClient, runtime: ApiTestRuntime) -> None:
    bad = [
        *GOOD,
        ["", "无ID", "", "", "", "", "2022-05-01 09:00"],
        ["KP3", "", "", "", "", "", "昨天"],
    ]
    r = client.post("/api/v1/venue-scans/import/c1", content=csv_bytes(bad))
    assert r.status_code == 422
    errors = r.json()["detail"]["errors"]
    assert [e[:2] for e in errors] == [[5, "公共场所ID"], [6, "采集时间"]]
    assert count(runtime) == 0


def test_xlsx_upload_through_the_console_and_deletion(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(LABELS)
    for row in keyed(KEYS, GOOD):
        ws.append([row.get(c.key, "") for c in SCAN_COLUMNS])
    buffer = io.BytesIO()
    wb.save(buffer)
    page = client.get("/venue-import").text
    assert "已导入最新一笔记录的采集时间" in page
    token = csrf_of(page)
    r = client.post(
        "/venue-import",
        data={"csrf_token": token, "centre_id": "c1"},
        files={"file": ("scans.xlsx", buffer.getvalue())},
    )
    assert r.status_code == 200 and "新增 3 条" in r.text
    r = client.post(
        "/venue-import/delete",
        data={"csrf_token": token, "by": "collected", "start": "2022-05-01", "end": "2022-05-01"},
    )
    assert r.status_code == 422  # not confirmed
    r = client.post(
        "/venue-import/delete",
        data={
            "csrf_token": token,
            "centre_id": "c1",
            "by": "collected",
            "start": "2022-05-01",
            "end": "2022-05-01",
            "confirm": "yes",
        },
    )
    assert r.status_code == 200 and "已删除 c1 的 2 条" in r.text
    assert count(runtime) == 1
    with Session(runtime.engine) as session:
        assert session.exec(select(func.sum(VenueScanDay.count))).one() == 1
        actions = set(session.exec(select(AuditEntry.action)).all())
        assert {"venues.scans_import", "venues.scans_delete"} <= actions
    r = client.post(
        "/api/v1/venue-scans/delete",
        json={"by": "imported", "start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z",
              "confirm": True},
    )  # fmt: skip
    assert r.json() == {"deleted": 1}


def test_the_front_database_sync_locks_manual_import(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    runtime.settings.venues.front_db.enabled = True
    try:
        r = client.post("/api/v1/venue-scans/import/c1", content=csv_bytes(GOOD))
        assert r.status_code == 409
        body = {"by": "collected", "start": "2000-01-01T00:00:00", "end": "2100-01-01T00:00:00",
                "confirm": True}  # fmt: skip
        assert client.post("/api/v1/venue-scans/delete", json=body).status_code == 409
        page = client.get("/venue-import").text
        assert "前置库同步已启用" in page and 'id="import-form"' not in page
    finally:
        runtime.settings.venues.front_db.enabled = False
    assert count(runtime) == 0


def test_a_file_must_have_exactly_the_template_columns(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    short = "公共场所ID,采集时间\nKP1,2022-05-01 09:30:00\n".encode()
    r = client.post("/api/v1/venue-scans/import/c1", content=short)
    assert r.status_code == 422
    message = r.json()["detail"]["message"]
    missing = [c.label for c in SCAN_COLUMNS if c.label not in ("公共场所ID", "采集时间")]
    assert f"缺少模板中的列：{'、'.join(missing)}" in message
    extra = scan_csv(keyed(KEYS, GOOD)).decode("utf-8-sig").splitlines()
    extra = [f"{line},x" for line in extra]
    extra[0] = extra[0].removesuffix(",x") + ",序号"
    r = client.post("/api/v1/venue-scans/import/c1", content="\n".join(extra).encode())
    assert r.status_code == 422 and "模板中没有的列：序号" in r.json()["detail"]["message"]
    assert count(runtime) == 0
    # An empty header cell (a column Excel kept after its title was cleared) is no column.
    blank = "\n".join(f"{line}," for line in extra).replace(",序号,", ",,").replace(",x,", ",,")
    r = client.post("/api/v1/venue-scans/import/c1", content=blank.encode())
    assert r.status_code == 200, r.text
    assert count(runtime) == 3


def test_import_page_per_centre_latest_the_records_and_the_centre_of_a_deletion(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    assert client.post("/api/v1/venue-scans/import/c1", content=csv_bytes(GOOD)).status_code == 200
    later = [[*GOOD[0][:6], "2022-06-01 10:00:00"]]
    assert client.post("/api/v1/venue-scans/import/c2", content=csv_bytes(later)).status_code == 200
    page = client.get("/venue-import").text
    assert '<tr data-centre="c1"><th>c1</th><td>2022-05-02 08:00:00</td>' in page
    assert '<tr data-centre="c2"><th>c2</th><td>2022-06-01 10:00:00</td>' in page
    # The records, in the query page's table, with who imported them and when.
    table = page[page.index('<table id="scans">') :]
    assert table.count("<tr data-id=") == 4 and "<td>admin</td>" in table
    assert "138****5678" in table and "13812345678" not in table
    status = client.get("/api/v1/venue-scans/status").json()
    assert status["latest_by_centre"]["c1"].startswith("2022-05-02T00:00:00")
    # A deletion acts on the chosen centre only.
    r = client.post(
        "/venue-import/delete",
        data={"csrf_token": csrf_of(page), "centre_id": "c2", "by": "collected",
              "start": "2022-01-01", "end": "2022-12-31", "confirm": "yes"},
    )  # fmt: skip
    assert r.status_code == 200 and "已删除 c2 的 1 条" in r.text
    assert count(runtime) == 3
    r = client.post(
        "/venue-import/delete",
        data={"csrf_token": csrf_of(page), "by": "collected",
              "start": "2022-01-01", "end": "2022-12-31", "confirm": "yes"},
    )  # fmt: skip
    assert r.status_code == 422 and "请选择中心" in r.text
    assert count(runtime) == 3


def test_a_supervising_unit_cannot_import_or_delete_through_the_console(
    client: TestClient, anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    assert client.post("/api/v1/venue-scans/import/c1", content=csv_bytes(GOOD)).status_code == 200
    with Session(runtime.engine) as session:
        user = add_user(session, runtime, "unit_x", Role.SUPERVISOR_UNIT, "c1")
        user.extra_permissions = ["venues.import"]  # the menu granted to this one person
        session.add(user)
        session.commit()
    form_login(anonymous, "unit_x", PASSWORD)
    token = csrf_of(anonymous.get("/venue-import").text)
    r = anonymous.post(
        "/venue-import",
        data={"csrf_token": token, "centre_id": "c1"},
        files={"file": ("scans.csv", csv_bytes([[*GOOD[0][:6], "2022-07-01 10:00"]]))},
    )
    assert r.status_code == 403 and "监管单位用户不能导入或删除扫码进场信息" in r.text
    r = anonymous.post(
        "/venue-import/delete",
        data={"csrf_token": token, "centre_id": "c1", "by": "collected",
              "start": "2022-01-01", "end": "2022-12-31", "confirm": "yes"},
    )  # fmt: skip
    assert r.status_code == 403
    log_in(anonymous, "unit_x", PASSWORD)  # the API answers the same, from the same check
    r = anonymous.post("/api/v1/venue-scans/import/c1", content=csv_bytes(GOOD))
    assert r.status_code == 403 and "监管单位用户不能导入" in r.json()["detail"]
    assert count(runtime) == 3


def test_the_query_page_links_its_export_with_the_same_filters(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    assert client.post("/api/v1/venue-scans/import/c1", content=csv_bytes(GOOD)).status_code == 200
    page = client.get("/venue-scans", params={"start": "2022-05-01", "end": "2022-05-01"}).text
    match = re.search(r'<a href="([^"]+)" id="scans-export">导出</a>', page)
    assert match, page
    r = client.get(html.unescape(match.group(1)))
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    codes = [row[0] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert codes == ["KP1", "KP1"]  # the two scans of 1 May (China time), not KP2's of the 2nd
