"""xlsx/CSV import and export with real files built by openpyxl."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from enum import StrEnum

import openpyxl
import pytest
from pydantic import BaseModel, Field, field_validator

from collector.tabular import (
    ImportErrors,
    RowError,
    SheetColumn,
    YesNo,
    export,
    read_rows,
    template,
)


class Kind(StrEnum):
    BIDDER = "bidder"
    EXPERT = "expert"


class VisitorRow(BaseModel):
    name: str = Field(max_length=10)
    id_number: str
    phone: str | None = None
    visits: int = 0
    visit_date: date | None = None
    kind: Kind = Kind.BIDDER
    escorted: YesNo = False

    @field_validator("id_number")
    @classmethod
    def _id(cls, v: str) -> str:
        if len(v) != 18:
            raise ValueError("身份证号应为 18 位")
        return v.upper()


COLUMNS = [
    SheetColumn("name", "姓名", "Name", required=True, example="张三"),
    SheetColumn(
        "id_number",
        "身份证号",
        "ID number",
        required=True,
        example="11010519491231002X",
        hint="18 位",
    ),
    SheetColumn("phone", "手机号", "Phone", example="13812345678"),
    SheetColumn("visits", "来访次数", "Visits", text=False),
    SheetColumn("visit_date", "来访日期", "Visit date", example="2024-05-01", text=False),
    SheetColumn("kind", "类型", "Kind", example="bidder"),
    SheetColumn("escorted", "是否陪同", "Escorted", example="否"),
]
ID1, ID2 = "11010519491231002X", "110105194912310038"


def xlsx(rows: list[list[object]], base: bytes | None = None, start: int = 1) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(base)) if base else openpyxl.Workbook()
    ws = wb.active
    for r, row in enumerate(rows, start=start):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_template_layout():
    wb = openpyxl.load_workbook(io.BytesIO(template(COLUMNS)))
    ws = wb.active
    assert [c.value for c in ws[1]] == [
        "*姓名",
        "*身份证号",
        "手机号",
        "来访次数",
        "来访日期",
        "类型",
        "是否陪同",
    ]
    assert ws["A2"].value == "示例：张三" and ws["C2"].value == "示例：13812345678"
    assert ws["B1"].font.color.rgb.endswith("C00000")
    assert "ID number" in ws["B1"].comment.text and "18 位" in ws["B1"].comment.text
    assert ws.freeze_panes == "A3"
    assert ws.column_dimensions["B"].width >= 20
    assert ws.column_dimensions["B"].number_format == "@"


def test_filled_template_imports():
    data = xlsx(
        [
            ["李四", ID1.lower(), 13812345678, 3, datetime(2024, 5, 1), "expert", "是"],
            [None] * 7,  # blank rows are skipped
            ["王五", ID2, "139 0000 0000", None, "2024-06-02", None, None],
        ],
        base=template(COLUMNS),
        start=3,
    )
    rows = read_rows(data, COLUMNS, VisitorRow)
    assert rows == [
        VisitorRow(
            name="李四",
            id_number=ID1,
            phone="13812345678",
            visits=3,
            visit_date=date(2024, 5, 1),
            kind=Kind.EXPERT,
            escorted=True,
        ),
        VisitorRow(name="王五", id_number=ID2, phone="139 0000 0000", visit_date=date(2024, 6, 2)),
    ]


def test_every_error_is_reported_with_excel_row_and_label():
    data = xlsx(
        [
            ["姓名", "身份证号", "来访次数", "类型", "来访日期"],
            ["张三", ID1, "两次", "bidder", "2024-13-01"],  # row 2: visits, date
            ["好长好长好长好长好长的名字", "123", 1, "guest", None],  # row 3: name, id, kind
            [None, None, None, None, None],  # row 4 blank
            [None, ID2, None, None, None],  # row 5: name missing
            ["赵六", 1.10105194912310e17, None, None, None],  # row 6: as Excel stores it
            ["钱七", ID2, 2, "expert", "2024-05-01"],  # row 7: fine, but nothing is imported
        ]
    )
    with pytest.raises(ImportErrors) as caught:
        read_rows(data, COLUMNS, VisitorRow)
    errors = caught.value.errors
    assert [(e.row, e.column) for e in errors] == [
        (2, "来访次数"),
        (2, "来访日期"),
        (3, "姓名"),
        (3, "身份证号"),
        (3, "类型"),
        (5, "姓名"),
        (6, "身份证号"),
    ]
    by_cell = {(e.row, e.column): e.message for e in errors}
    assert by_cell[(2, "来访次数")] == "应为整数"
    assert by_cell[(3, "姓名")] == "长度不能超过 10 个字符"
    assert by_cell[(3, "身份证号")] == "身份证号应为 18 位"
    assert by_cell[(3, "类型")].startswith("应为以下之一")
    assert by_cell[(5, "姓名")] == "必填"
    assert "文本格式" in by_cell[(6, "身份证号")]
    assert "第 5 行「姓名」：必填" in str(caught.value)


def test_header_problems():
    with pytest.raises(ImportErrors) as caught:
        read_rows(xlsx([["姓名", "手机号"], ["张三", "1"]]), COLUMNS, VisitorRow)
    assert caught.value.errors == [RowError(1, "身份证号", "缺少必填列")]
    with pytest.raises(ImportErrors, match="未找到表头"):
        read_rows(xlsx([["a", "b"], [1, 2]]), COLUMNS, VisitorRow)
    with pytest.raises(ImportErrors, match="两次"):
        read_rows(xlsx([["姓名", "身份证号", "Name"]]), COLUMNS, VisitorRow)


def test_columns_found_by_english_label_or_key_in_any_order():
    data = xlsx([["Extra", "ID NUMBER", "name"], ["x", ID1, "张三"]])
    assert read_rows(data, COLUMNS, VisitorRow) == [VisitorRow(name="张三", id_number=ID1)]


def test_explicit_first_data_row():
    data = xlsx([["说明：请勿修改表头"], ["姓名", "身份证号"], ["跳过"], ["张三", ID1]])
    rows = read_rows(data, COLUMNS, VisitorRow, header_row=2, first_data_row=4)
    assert [r.name for r in rows] == ["张三"]


CSV_TEXT = f"姓名,身份证号,手机号,是否陪同\r\n张三,{ID1},13812345678,是\r\n李四,{ID2},,N\r\n"


@pytest.mark.parametrize(
    "encoded",
    [
        CSV_TEXT.encode("utf-8-sig"),
        CSV_TEXT.encode("utf-8"),
        CSV_TEXT.encode("gb18030"),
        CSV_TEXT.replace(",", "\t").encode("utf-16"),
    ],
    ids=["utf8-bom", "utf8", "gb18030", "utf16-tab"],
)
def test_csv_encodings(encoded):
    rows = read_rows(encoded, COLUMNS, VisitorRow)
    assert [(r.name, r.escorted, r.phone) for r in rows] == [
        ("张三", True, "13812345678"),
        ("李四", False, None),
    ]


def test_csv_saved_from_the_template_skips_the_example_row():
    text = f"*姓名,*身份证号\n示例：张三,示例：110105\n张三,{ID1}\n,\n李四,bad\n"
    with pytest.raises(ImportErrors) as caught:
        read_rows(text.encode("gb18030"), COLUMNS, VisitorRow)
    assert [(e.row, e.column) for e in caught.value.errors] == [(5, "身份证号")]


def test_unreadable_files():
    with pytest.raises(ImportErrors, match=r"\.xls"):
        read_rows(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, COLUMNS, VisitorRow)
    with pytest.raises(ImportErrors, match="无法读取"):
        read_rows(b"PK\x03\x04broken", COLUMNS, VisitorRow)
    with pytest.raises(ImportErrors, match="文件为空"):
        read_rows(b"", COLUMNS, VisitorRow)
    many = "姓名,身份证号\n" + f"张三,{ID1}\n" * 11
    with pytest.raises(ImportErrors, match="上限"):
        read_rows(many.encode(), COLUMNS, VisitorRow, max_rows=10)


def test_export_values_and_round_trip():
    rows = [
        VisitorRow(
            name="张三",
            id_number=ID1,
            phone='=HYPERLINK("http://x")',
            visits=2,
            visit_date=date(2024, 5, 1),
            kind=Kind.EXPERT,
            escorted=True,
        ),
        {"name": "李四", "id_number": ID2, "phone": "+8613800000000", "visits": None},
    ]
    data = export(rows, COLUMNS, sheet_title="来访/记录")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws.title == "来访_记录"
    assert [c.value for c in ws[1]] == [c.label for c in COLUMNS]
    assert ws["C2"].data_type == "s" and ws["C2"].value.startswith("=HYPERLINK")  # not a formula
    assert ws["C3"].value == "+8613800000000" and ws["C3"].data_type == "s"
    assert (ws["D2"].value, ws["F2"].value, ws["G2"].value) == (2, "expert", "是")
    assert ws["E2"].value == datetime(2024, 5, 1)
    # What we export, we can import again.
    again = read_rows(data, COLUMNS, VisitorRow)
    assert again[0] == rows[0] and again[1].visits == 0


def test_export_datetimes_in_china_time_and_english_headers():
    data = export(
        [{"name": "x", "visit_date": datetime(2024, 5, 1, 16, 30, tzinfo=UTC), "kind": ["a", "b"]}],
        COLUMNS,
        english=True,
    )
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws["A1"].value == "Name"
    assert ws["E2"].value == datetime(2024, 5, 2, 0, 30)
    assert ws["F2"].value == "a、b"
