"""Scan import: template, good rows, a bad row (nothing stored, row number reported), the
same file twice (nothing duplicated), deletion by range, and the 前置库 lock."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, func, select

from collector.auth.models import AuditEntry
from collector.modules.venues.models import VenueScan, VenueScanDay
from tests.api.support import ApiTestRuntime

HEADER = [
    "公共场所ID",
    "公共场所",
    "被采集人身份证",
    "被采集人",
    "联系电话",
    "健康码状态",
    "采集时间",
]


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


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
    ws.append(HEADER)
    for row in GOOD:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    page = client.get("/venue-import").text
    assert "已导入最新一笔记录的采集时间" in page
    from tests.console.support import csrf_of

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
            "by": "collected",
            "start": "2022-05-01",
            "end": "2022-05-01",
            "confirm": "yes",
        },
    )
    assert r.status_code == 200 and "已删除 2 条" in r.text
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
