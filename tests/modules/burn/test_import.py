"""The task spreadsheet: a downloadable template; an import creates one job per row; a bad
row is reported with its Excel row number and nothing is created."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, select

from collector.modules.burn.models import ArchiveProject, BurnImport, BurnJob, JobOrigin, Medium
from tests.api.support import ApiTestRuntime
from tests.console.support import csrf_of

HEADER = [
    "项目编号",
    "项目名称",
    "项目类别",
    "开标日期",
    "开标室/评标室",
    "所属中心",
    "刻录介质",
    "刻录份数",
    "NVR地址",
    "NVR通道",
    "录像开始时间",
    "录像结束时间",
    "电子文件地址",
]


def sheet(*rows: list[object]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)  # type: ignore[union-attr]
    for row in rows:
        ws.append(row)  # type: ignore[union-attr]
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


GOOD = [
    [
        "ZFCG-2026-101",
        "办公设备采购",
        "政府采购",
        "2026-11-20",
        "第二开标室",
        "c2",
        "BD",
        "存档、异地",
        "http://192.168.1.64",
        "3",
        "2026-11-20 09:00",
        "2026-11-20 11:30",
        "",
    ],
    [
        "TD-2026-007",
        "国有建设用地使用权挂牌出让",
        "土地矿业权",
        "2026-11-21",
        "",
        "",
        "DVD",
        "1",
        "",
        "",
        "",
        "",
        "http://ebid.example/td-007.zip",
    ],
]


def upload(client: TestClient, data: bytes, name: str = "任务.xlsx") -> object:
    token = csrf_of(client.get("/burn/imports").text)
    return client.post(
        "/burn/imports",
        data={"csrf_token": token},
        files={"file": (name, data, "application/octet-stream")},
        follow_redirects=False,
    )


def test_the_template_downloads_with_the_columns(client: TestClient) -> None:
    r = client.get("/burn/imports/template")
    assert r.status_code == 200 and "filename*=UTF-8''" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    headers = [c.value for c in ws[1]]  # type: ignore[index]
    assert headers[:4] == ["*项目编号", "*项目名称", "项目类别", "*开标日期"]
    assert client.get("/api/v1/burn/import-template").status_code == 200


def test_import_creates_one_job_per_row(
    operator: TestClient, runtime: ApiTestRuntime, projects: list
) -> None:
    client = operator
    r = upload(client, sheet(*GOOD))
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    with Session(runtime.engine) as session:
        jobs = session.exec(select(BurnJob).order_by(BurnJob.project_number)).all()
        assert [(j.project_number, j.medium, j.copies, j.origin) for j in jobs] == [
            ("TD-2026-007", Medium.DVD, ["archive"], JobOrigin.IMPORT),
            ("ZFCG-2026-101", Medium.BD, ["archive", "offsite"], JobOrigin.IMPORT),
        ]
        assert all(j.centre_id == "c2" and j.station_id == "burn1" for j in jobs)
        nvr = jobs[1].spec["sources"][0]
        assert nvr["kind"] == "nvr_isapi" and nvr["channel"] == 3
        assert nvr["start"] == "2026-11-20T09:00:00+08:00"  # the centre's time zone
        assert jobs[0].spec["sources"] == [
            {
                "kind": "url",
                "url": "http://ebid.example/td-007.zip",
                "name": "",
                "sha256": None,
                "size": None,
                "media": "document",
            }
        ]
        project = session.exec(
            select(ArchiveProject).where(ArchiveProject.number == "ZFCG-2026-101")
        ).one()
        assert project.category.value == "procurement" and project.rooms == ["第二开标室"]
        record = session.exec(select(BurnImport)).one()
        assert (record.rows, record.jobs, record.filename) == (2, 2, "任务.xlsx")
    assert "任务.xlsx" in client.get("/burn/imports").text


def test_a_bad_row_is_reported_by_row_number_and_nothing_is_created(
    operator: TestClient, runtime: ApiTestRuntime, projects: list
) -> None:
    client = operator
    bad = list(GOOD[1])
    bad[3] = "2026-13-45"  # no such date
    worse = list(GOOD[0])
    worse[0] = "X-9"
    worse[8] = "ftp://nvr"  # not an HTTP URL
    r = upload(client, sheet(GOOD[0], bad, worse))
    assert r.status_code == 422  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    assert 'id="import-errors"' in text
    assert "第 3 行「开标日期」" in text and "第 4 行「NVR地址」" in text
    assert "第 2 行" not in text
    with Session(runtime.engine) as session:
        assert session.exec(select(BurnJob)).all() == []
        assert session.exec(select(BurnImport)).all() == []
        assert (
            session.exec(
                select(ArchiveProject).where(ArchiveProject.number == "ZFCG-2026-101")
            ).first()
            is None
        )


def test_rows_of_an_invisible_centre_or_without_sources_are_refused(
    operator: TestClient, runtime: ApiTestRuntime, projects: list
) -> None:
    client = operator
    other = list(GOOD[1])
    other[5] = "c9"
    empty = ["E-1", "无数据源项目", "其他", "2026-11-22", "", "", "", "", "", "", "", "", ""]
    r = upload(client, sheet(other, empty))
    assert r.status_code == 422  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    assert "第 2 行：所属中心「c9」不存在或不可见" in text
    assert "第 3 行：没有可刻录的数据源" in text


def upload_for(client: TestClient, data: bytes, centre: str | None) -> object:
    token = csrf_of(client.get("/burn/imports").text)
    form = {"csrf_token": token} if centre is None else {"csrf_token": token, "centre_id": centre}
    return client.post("/burn/imports", data=form, follow_redirects=False,
                       files={"file": ("任务.xlsx", data, "application/octet-stream")})  # fmt: skip


def test_a_user_without_a_centre_imports_for_the_rows_centre_or_the_one_chosen(
    client: TestClient, runtime: ApiTestRuntime, projects: list
) -> None:
    """The system administrator belongs to no centre: the import takes the rows' centre, or
    the one chosen on the form; otherwise it asks for one, naming the field."""
    county = list(GOOD[1])
    county[5] = "c2"
    city = list(GOOD[0])
    city[0], city[5], city[8], city[12] = "SZ-2026-001", "c1", "", "http://ebid.example/sz.zip"
    assert 'id="import-centre"' in client.get("/burn/imports").text
    r = upload_for(client, sheet(GOOD[0], county), None)
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    two_centres = sheet(["SZ-2026-003", *county[1:]], city)
    r = upload_for(client, two_centres, None)
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    assert "centre_id" in r.text and "多个中心" in r.text  # type: ignore[attr-defined]
    r = upload_for(client, sheet(city), "c9")
    assert r.status_code == 422 and "所属中心（centre_id）「c9」" in r.text  # type: ignore[attr-defined]
    city_only = sheet(["SZ-2026-002", *county[1:5], "c1", *county[6:]], city)
    r = upload_for(client, city_only, "c1")
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    with Session(runtime.engine) as session:
        records = session.exec(select(BurnImport).order_by(BurnImport.id)).all()
        assert [(i.centre_id, i.rows, i.jobs) for i in records] == [("c2", 2, 2), ("c1", 2, 2)]
        numbers = {j.project_number: j.centre_id for j in session.exec(select(BurnJob))}
        assert numbers["SZ-2026-001"] == "c1" and numbers["ZFCG-2026-101"] == "c2"
