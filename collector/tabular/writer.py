"""Writing spreadsheets: import templates and exports (xlsx, via openpyxl)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from enum import Enum
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from collector.tabular.columns import SheetColumn

# Mainland China has had no daylight saving since 1991: a fixed offset is exact.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
HINT_PREFIX = "示例："

_HEADER_FONT = Font(bold=True)
_REQUIRED_FONT = Font(bold=True, color="C00000")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HINT_FONT = Font(italic=True, color="808080")


def _display_width(text: str) -> float:
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


def _width(column: SheetColumn, *samples: str) -> float:
    if column.width:
        return column.width
    widest = max((_display_width(s) for s in (column.label, *samples) if s), default=8)
    return float(min(max(widest + 4, 10), 60))


def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "_", title)[:31] or "Sheet1"


def _header_label(column: SheetColumn, english: bool) -> str:
    return (column.label_en or column.key) if english else column.label


def template(
    columns: Sequence[SheetColumn], *, sheet_title: str = "导入模板", english: bool = False
) -> bytes:
    """An import template: row 1 the headers (required ones starred, red, with a comment
    giving the English label and hint), row 2 the examples in grey (the reader skips it),
    data from row 3. Text columns are formatted as text."""
    wb = Workbook()
    ws: Worksheet = wb.active  # type: ignore[assignment]
    ws.title = _sheet_title(sheet_title)
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        header = ws.cell(row=1, column=index, value=_header_label(column, english))
        if column.required:
            header.value = f"*{header.value}"
        header.font = _REQUIRED_FONT if column.required else _HEADER_FONT
        header.fill = _HEADER_FILL
        header.alignment = Alignment(horizontal="center", vertical="center")
        note = [
            column.label_en or column.key,
            "必填 / required" if column.required else "选填 / optional",
        ]
        if column.hint:
            note.append(column.hint)
        header.comment = Comment("\n".join(note), "prtc")
        hint = ws.cell(
            row=2,
            column=index,
            value=f"{HINT_PREFIX}{column.example}" if column.example else HINT_PREFIX,
        )
        hint.font = _HINT_FONT
        hint.data_type = "s"
        ws.column_dimensions[letter].width = _width(column, hint.value or "")
        if column.text:
            ws.column_dimensions[letter].number_format = "@"
    ws.freeze_panes = "A3"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def cell_value(value: Any, tz: tzinfo = CHINA_TZ) -> Any:
    """A Python value as a spreadsheet cell: enums by value, 是/否 for bools, aware
    datetimes in ``tz`` (Excel has no time zones), sequences joined with 、."""
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(tz).replace(tzinfo=None)
        return value
    if isinstance(value, int | float | Decimal | date | time):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return "、".join(str(cell_value(v, tz)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _get(row: Any, key: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(key)
    return getattr(row, key, None)


def export(
    rows: Iterable[Any],
    columns: Sequence[SheetColumn],
    *,
    sheet_title: str = "数据",
    english: bool = False,
    tz: tzinfo = CHINA_TZ,
) -> bytes:
    """An xlsx of ``rows`` (mappings or objects with the columns' keys as attributes).

    Written in streaming mode, so large exports stay small in memory. Strings are always
    written as text, never as formulas (no spreadsheet formula injection). Mask personal data
    before it gets here, and write the export to the audit log.
    """
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_title(sheet_title))
    ws.freeze_panes = "A2"
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = _width(column, column.example)
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=_header_label(column, english))
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        header.append(cell)
    ws.append(header)
    for row in rows:
        out = []
        for column in columns:
            cell = WriteOnlyCell(ws, value=cell_value(_get(row, column.key), tz))
            if isinstance(cell.value, str):
                cell.data_type = "s"
            out.append(cell)
        ws.append(out)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
