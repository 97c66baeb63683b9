"""Spreadsheets in and out: a downloadable template for every import, all-or-nothing import
of xlsx or CSV rows into pydantic models with every error reported by Excel row and Chinese
column label, and xlsx export. Columns are declared once as :class:`SheetColumn`::

    COLUMNS = [
        SheetColumn("name", "姓名", "Name", required=True, example="张三"),
        SheetColumn("phone", "手机号", "Phone", example="13812345678"),
    ]
    template(COLUMNS)                         # bytes of an .xlsx
    rows = read_rows(upload, COLUMNS, VisitorRow)   # list[VisitorRow] or ImportErrors
    export(visitors, COLUMNS)                 # bytes of an .xlsx
"""

from collector.tabular.columns import ImportErrors, RowError, SheetColumn, YesNo
from collector.tabular.reader import read_rows
from collector.tabular.writer import CHINA_TZ, cell_value, export, template

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

__all__ = [
    "CHINA_TZ",
    "XLSX_MEDIA_TYPE",
    "ImportErrors",
    "RowError",
    "SheetColumn",
    "YesNo",
    "cell_value",
    "export",
    "read_rows",
    "template",
]
