"""Spreadsheet columns of the venues module, named as the users' specification does."""

from __future__ import annotations

from collector.tabular import SheetColumn

VENUE_COLUMNS = [
    SheetColumn("code", "公共场所ID", "Venue ID", required=True, example="KP0001"),
    SheetColumn("name", "公共场所", "Venue", required=True, example="开平市人民医院"),
    SheetColumn("category", "类别", "Category", example="医疗机构"),
    SheetColumn("city", "所在市区", "City", example="开平市"),
    SheetColumn("street", "所在街道", "Street", example="长沙街道"),
    SheetColumn("admin", "公共场所管理员", "Venue administrator", example="李四"),
    SheetColumn("location", "所在位置", "Location", example="长沙街道幕沙路1号"),
    SheetColumn("unit", "监管单位", "Supervising unit", example="开平市卫生健康局"),
]

SCAN_COLUMNS = [
    SheetColumn("venue_code", "公共场所ID", "Venue ID", required=True, example="KP0001"),
    SheetColumn("venue_name", "公共场所", "Venue", example="开平市人民医院"),
    SheetColumn("category", "类别", "Category", example="医疗机构"),
    SheetColumn("city", "所在市区", "City", example="开平市"),
    SheetColumn("street", "所在街道", "Street", example="长沙街道"),
    SheetColumn("venue_admin", "公共场所管理员", "Venue administrator", example="李四"),
    SheetColumn("id_number", "被采集人身份证", "ID number", example="440783199001011234"),
    SheetColumn("person_name", "被采集人", "Person", example="张三"),
    SheetColumn("phone", "联系电话", "Phone", example="13812345678"),
    SheetColumn("collect_result", "采集结果", "Collection result", example="正常"),
    SheetColumn("nucleic_result", "核酸结果", "NAT result", example="阴性"),
    SheetColumn("nucleic_time", "核酸结果时间", "NAT result time", example="2022-05-01 08:00:00"),
    SheetColumn("health_code", "健康码状态", "Health code", example="绿码"),
    SheetColumn("location", "采集人所在位置", "Collector location", example="门诊大楼入口"),
    SheetColumn(
        "collected_at",
        "采集时间",
        "Collected at",
        required=True,
        example="2022-05-01 09:30:00",
        hint="北京时间，如 2022-05-01 09:30:00",
    ),
]

# Query results add what the system knows (扫码进场信息查询).
SCAN_EXPORT_COLUMNS = [
    *SCAN_COLUMNS,
    SheetColumn("unit", "监管单位", "Supervising unit"),
    SheetColumn("imported_by", "数据导入人", "Imported by"),
    SheetColumn("imported_at", "数据导入时间", "Imported at"),
]

STATS_COLUMNS = [
    SheetColumn("venue_code", "公共场所ID", "Venue ID"),
    SheetColumn("name", "公共场所", "Venue"),
    SheetColumn("category", "类别", "Category"),
    SheetColumn("unit", "监管单位", "Supervising unit"),
    SheetColumn("city", "所在市区", "City"),
    SheetColumn("street", "所在街道", "Street"),
    SheetColumn("count", "扫码量", "Scans"),
]
