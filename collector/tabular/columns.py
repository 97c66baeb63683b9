"""Column declarations and import errors shared by the xlsx/CSV reader and writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

from pydantic import BeforeValidator


@dataclass(frozen=True, slots=True)
class SheetColumn:
    """One spreadsheet column, declared once for template, import and export.

    ``key`` is the pydantic field (or attribute) name; ``label`` the Chinese header users see.
    ``text`` formats the column as text in templates so Excel keeps ID numbers, phone numbers
    and leading zeros as typed.
    """

    key: str
    label: str
    label_en: str = ""
    required: bool = False
    example: str = ""
    hint: str = ""
    width: float | None = None
    text: bool = True


class RowError(NamedTuple):
    """One problem: the row number as Excel shows it, the column's label ("" for the whole
    row), and a message in Chinese."""

    row: int
    column: str
    message: str


class ImportErrors(ValueError):
    """Every problem found in an upload; nothing from it should be stored."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = list(errors)
        super().__init__(self.summary())

    def summary(self, limit: int = 20) -> str:
        lines = [f"共 {len(self.errors)} 处错误，未导入任何数据："]
        for e in self.errors[:limit]:
            where = f"第 {e.row} 行" if e.row else "文件"
            lines.append(
                f"{where}「{e.column}」：{e.message}" if e.column else f"{where}：{e.message}"
            )
        if len(self.errors) > limit:
            lines.append(f"……另有 {len(self.errors) - limit} 处")
        return "\n".join(lines)


_YES = {"是", "y", "yes", "true", "1", "对", "√", "有"}
_NO = {"否", "n", "no", "false", "0", "不", "×", "无"}


def _yes_no(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
    return value


YesNo = Annotated[bool, BeforeValidator(_yes_no)]
"""A bool field that also accepts 是/否, Y/N, 1/0, √/× from a spreadsheet."""
