"""Reading uploaded spreadsheets (xlsx, or CSV as Chinese Excel saves it) into pydantic models.

All-or-nothing: every row is validated, every problem is collected with the row number the
user sees in Excel and the column's Chinese label, and one :class:`ImportErrors` is raised if
there is any. The caller stores the rows only when none is raised.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from typing import Any, TypeVar

from openpyxl import load_workbook
from pydantic import BaseModel, ValidationError

from collector.tabular.columns import ImportErrors, RowError, SheetColumn
from collector.tabular.writer import HINT_PREFIX

M = TypeVar("M", bound=BaseModel)

MAX_ROWS = 20_000
MAX_UNPACKED_BYTES = 200 * 2**20
_EXCEL_DIGITS = 15  # Excel keeps 15 significant digits; longer numbers are already damaged


def read_rows(
    data: bytes,
    columns: Sequence[SheetColumn],
    model: type[M],
    *,
    first_data_row: int | None = None,
    header_row: int = 1,
    max_rows: int = MAX_ROWS,
) -> list[M]:
    """Parse and validate every data row of an xlsx or CSV upload.

    Columns are found by their header (Chinese label, English label or key; a leading ``*``
    is ignored), so their order does not matter and extra columns are ignored. Data starts at
    ``first_data_row`` or, by default, right after the header, skipping the template's example
    row. Blank rows are skipped. Raises :class:`ImportErrors` listing every problem.
    """
    try:
        rows = list(_rows(data))
    except ImportErrors:
        raise
    except Exception as exc:
        raise ImportErrors([RowError(0, "", f"无法读取文件：{exc}")]) from exc
    if len(rows) < header_row:
        raise ImportErrors([RowError(0, "", "文件为空")])

    positions, errors = _map_header(rows[header_row - 1], columns, header_row)
    if errors:
        raise ImportErrors(errors)

    start = first_data_row or header_row + 1
    if first_data_row is None and start <= len(rows) and _is_hint_row(rows[start - 1]):
        start += 1
    results: list[M] = []
    data_rows = [(n, r) for n, r in enumerate(rows[start - 1 :], start=start) if _non_blank(r)]
    if len(data_rows) > max_rows:
        raise ImportErrors([RowError(0, "", f"数据行数 {len(data_rows)} 超过上限 {max_rows}")])
    for number, raw in data_rows:
        values, row_errors = _row_values(number, raw, columns, positions)
        if not row_errors:
            try:
                results.append(model.model_validate(values))
            except ValidationError as exc:
                row_errors = _translate(number, exc, columns)
        errors.extend(row_errors)
    if errors:
        order = {c.label: i for i, c in enumerate(columns)}
        raise ImportErrors(sorted(errors, key=lambda e: (e.row, order.get(e.column, -1))))
    return results


# --- file formats ------------------------------------------------------------------------


def _rows(data: bytes) -> Iterator[tuple[Any, ...]]:
    if data[:4] == b"PK\x03\x04":
        return _xlsx_rows(data)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportErrors([RowError(0, "", "不支持旧版 .xls 文件，请另存为 .xlsx 后上传")])
    return _csv_rows(data)


def _xlsx_rows(data: bytes) -> Iterator[tuple[Any, ...]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportErrors([RowError(0, "", "文件解压后过大")])
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # type: ignore[union-attr]  # some writers declare wrong ones
        yield from ws.iter_rows(min_row=1, values_only=True)
    finally:
        wb.close()


def _decode(data: bytes) -> tuple[str, str]:
    """Text and delimiter: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode
    text", tab-separated), else GB18030 (what Chinese Excel writes as "CSV")."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), ","
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "\t"
    try:
        return data.decode("utf-8"), ","
    except UnicodeDecodeError:
        return data.decode("gb18030"), ","


def _csv_rows(data: bytes) -> Iterator[tuple[Any, ...]]:
    text, delimiter = _decode(data)
    for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        yield tuple(record)


# --- header and rows ---------------------------------------------------------------------


def _clean_header(value: Any) -> str:
    return str(value or "").strip().lstrip("*＊").strip().casefold()


def _map_header(
    header: tuple[Any, ...], columns: Sequence[SheetColumn], header_row: int
) -> tuple[dict[str, int], list[RowError]]:
    names: dict[str, SheetColumn] = {}
    for column in columns:
        for name in {column.label, column.label_en, column.key} - {""}:
            names[name.strip().casefold()] = column
    positions: dict[str, int] = {}
    errors: list[RowError] = []
    for index, value in enumerate(header):
        found = names.get(_clean_header(value))
        if found is None:
            continue
        if found.key in positions:
            errors.append(RowError(header_row, found.label, "表头中出现了两次"))
        positions[found.key] = index
    if not positions:
        return positions, [RowError(header_row, "", "未找到表头，请使用下载的导入模板")]
    for column in columns:
        if column.required and column.key not in positions:
            errors.append(RowError(header_row, column.label, "缺少必填列"))
    return positions, errors


def _non_blank(row: tuple[Any, ...]) -> bool:
    return any(v is not None and str(v).strip() for v in row)


def _is_hint_row(row: tuple[Any, ...]) -> bool:
    cells = [str(v).strip() for v in row if v is not None and str(v).strip()]
    return bool(cells) and all(c.startswith(HINT_PREFIX) for c in cells)


def _cell(value: Any) -> tuple[Any, str | None]:
    """A cell as validation input (text, so pydantic's lax parsing applies) or an error."""
    if value is None:
        return None, None
    if isinstance(value, str):
        value = value.strip()
        return (value or None), None
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) >= 10**_EXCEL_DIGITS:
                return None, "数字过长已被 Excel 截断，请将该列设为文本格式后重新填写"
            return str(int(value)), None
        return repr(value), None
    if isinstance(value, datetime):
        return (value.date().isoformat() if value.time() == time() else value.isoformat()), None
    if isinstance(value, date | time):
        return value.isoformat(), None
    return str(value), None


def _row_values(
    number: int, raw: tuple[Any, ...], columns: Sequence[SheetColumn], positions: dict[str, int]
) -> tuple[dict[str, Any], list[RowError]]:
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for column in columns:
        index = positions.get(column.key)
        value, problem = _cell(raw[index] if index is not None and index < len(raw) else None)
        if problem:
            errors.append(RowError(number, column.label, problem))
        elif value is None:
            if column.required:
                errors.append(RowError(number, column.label, "必填"))
        else:
            values[column.key] = value
    return values, errors


def _message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    messages = {
        "missing": "必填",
        "string_too_long": "长度不能超过 {max_length} 个字符",
        "string_too_short": "长度不能少于 {min_length} 个字符",
        "string_pattern_mismatch": "格式不正确",
        "int_parsing": "应为整数",
        "int_from_float": "应为整数",
        "float_parsing": "应为数字",
        "decimal_parsing": "应为数字",
        "bool_parsing": "应为“是”或“否”",
        "date_parsing": "应为日期，如 2024-05-01",
        "date_from_datetime_parsing": "应为日期，如 2024-05-01",
        "date_from_datetime_inexact": "应为日期，不含时间",
        "datetime_parsing": "应为日期时间，如 2024-05-01 09:30",
        "datetime_from_date_parsing": "应为日期时间，如 2024-05-01 09:30",
        "enum": "应为以下之一：{expected}",
        "literal_error": "应为以下之一：{expected}",
        "greater_than": "应大于 {gt}",
        "greater_than_equal": "不能小于 {ge}",
        "less_than": "应小于 {lt}",
        "less_than_equal": "不能大于 {le}",
        "extra_forbidden": "不认识的列",
    }
    if kind in messages:
        try:
            return messages[kind].format(**ctx)
        except (KeyError, IndexError):
            return messages[kind].split("{")[0].rstrip("：: ")
    message = str(error["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _translate(number: int, exc: ValidationError, columns: Sequence[SheetColumn]) -> list[RowError]:
    labels = {c.key: c.label for c in columns}
    out = []
    for error in exc.errors():
        loc = error["loc"]
        key = str(loc[0]) if loc else ""
        out.append(RowError(number, labels.get(key, key), _message(error)))
    return out
