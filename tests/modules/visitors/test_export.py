"""The daily register: masked unless the user holds personal_data.view; every export audited."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, col, select

from collector.auth.models import AuditEntry, User
from tests.api.support import ApiTestRuntime
from tests.modules.visitors.conftest import IDS, T0, feed, hours, passage


def _sheet(content: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _setup(runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("zhang", "in", T0), passage("zhang", "out", T0 + hours(2)))
    feed(runtime.engine, "c1", passage("li", "in", T0 + hours(1), decision="refused"))


def test_register_is_masked_and_audited(client: TestClient, runtime: ApiTestRuntime) -> None:
    _setup(runtime)
    r = client.get("/api/v1/visitors/register.xlsx", params={"day": "2026-03-02"})
    assert r.status_code == 200, r.text
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    header, *rows = _sheet(r.content)
    assert header[:4] == ["中心", "姓名", "证件类型", "证件号码"]
    assert [row[1] for row in rows] == ["张*", "李*"]
    assert rows[0][3] == "110***********002X" and rows[0][7] == "2026-03-02 09:00:00"
    assert rows[1][14] == "拒绝"
    with Session(runtime.engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "visitors.export"))
    assert entry.detail == {"rows": 2, "day": "2026-03-02", "unmasked": False}


def test_register_unmasked_with_personal_data_view(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    _setup(runtime)
    with Session(runtime.engine) as session:
        admin = session.exec(select(User).where(User.username == "admin")).one()
        admin.extra_permissions = ["personal_data.view"]
        session.add(admin)
        session.commit()
    rows = _sheet(client.get("/api/v1/visitors/register.xlsx?day=2026-03-02").content)[1:]
    assert rows[0][1] == "张三" and rows[0][3] == IDS["zhang"]
    with Session(runtime.engine) as session:
        entries = session.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "visitors.export")
        ).all()
    assert [e.detail["unmasked"] for e in entries] == [True]
    assert IDS["zhang"] not in str(entries[0].detail)


def test_console_export_needs_the_export_permission(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    _setup(runtime)
    from tests.api.support import ADMIN_PASSWORD
    from tests.console.support import form_login

    form_login(client, "admin", ADMIN_PASSWORD)
    r = client.get("/visitors/register.xlsx?day=2026-03-02")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    page = client.get("/visitors/visits?date_from=2026-03-02&date_to=2026-03-02")
    assert "张*" in page.text and IDS["zhang"] not in page.text
    found = client.get("/visitors/visits", params={"q": IDS["zhang"].lower()})
    assert found.text.count('<tr data-id="') == 1
    by_name = client.get("/visitors/visits", params={"q": "李四"})
    assert by_name.text.count('<tr data-id="') == 1 and "李*" in by_name.text
