"""The xlsx import of projects, sessions and rosters: one row per person, the project and
session columns repeated; all-or-nothing with Excel row numbers."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, tzinfo
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from sqlmodel import Session, select

from collector.modules.experts import service
from collector.modules.experts.models import Room
from collector.tabular import ImportErrors, RowError, SheetColumn, read_rows

MAX_UPLOAD_BYTES = 20 * 2**20

_ROOMS: ContextVar[frozenset[str]] = ContextVar("experts_import_rooms", default=frozenset())
"""Room codes of the importing centre, checked per row so errors carry the row number."""

COLUMNS = [
    SheetColumn("number", "项目编号", "Project number", required=True, example="JSGC-2026-018"),
    SheetColumn("name", "项目名称", "Project name", required=True, example="县第一中学教学楼工程"),
    SheetColumn(
        "category",
        "交易类别",
        "Category",
        example="工程建设",
        hint="工程建设/政府采购/土地矿业权/国有产权/其他",
    ),
    SheetColumn("session", "场次编号", "Session", example="1", hint="同一项目的不同场次"),
    SheetColumn("kind", "场次类型", "Session kind", example="评标", hint="评标/开标"),
    SheetColumn(
        "rooms",
        "评标室",
        "Rooms",
        required=True,
        example="评标室1",
        hint="评标室编号，多个用、分隔",
    ),
    SheetColumn(
        "start", "开始时间", "Start", required=True, example="2026-11-25 09:00", hint="北京时间"
    ),
    SheetColumn("end", "结束时间", "End", required=True, example="2026-11-25 12:00"),
    SheetColumn("host_name", "主持人", "Host", example="王主持"),
    SheetColumn("host_phone", "主持人电话", "Host phone", example="13800000001"),
    SheetColumn(
        "person_kind",
        "人员类别",
        "Person kind",
        example="评标专家",
        hint="评标专家/监督人员/工作人员",
    ),
    SheetColumn("role", "专家角色", "Role", example="组长", hint="组长/成员"),
    SheetColumn("person_name", "姓名", "Name", required=True, example="张三"),
    SheetColumn("id_number", "身份证号", "ID number", example="11010519491231002X"),
    SheetColumn("phone", "手机号", "Phone", example="13812345678"),
    SheetColumn("specialty", "专业", "Specialty", example="房屋建筑"),
    SheetColumn("organisation", "工作单位", "Organisation", example="某设计院"),
    SheetColumn("card_uid", "IC卡号", "IC card UID", example="04A1B2C3"),
]

_KINDS = {
    "评标专家": "expert",
    "专家": "expert",
    "expert": "expert",
    "监督人员": "supervisor",
    "监督": "supervisor",
    "supervisor": "supervisor",
    "工作人员": "staff",
    "staff": "staff",
}
_ROLES = {
    "组长": "leader",
    "leader": "leader",
    "成员": "member",
    "组员": "member",
    "member": "member",
}
_SESSION_KINDS = {
    "评标": "evaluation",
    "开标": "opening",
    "evaluation": "evaluation",
    "opening": "opening",
}


def _pick(table: dict[str, str], default: str, what: str) -> Any:
    def parse(value: Any) -> str:
        text = str(value or "").strip()
        if not text:
            return default
        if text not in table:
            raise ValueError(f"无法识别的{what}「{text}」")
        return table[text]

    return parse


class ImportRow(BaseModel):
    number: str = Field(max_length=64)
    name: str = Field(max_length=200)
    category: str = "other"
    session: str = Field(default="1", max_length=64)
    kind: str = "evaluation"
    rooms: list[str]
    start: datetime
    end: datetime
    host_name: str = Field(default="", max_length=60)
    host_phone: str | None = Field(default=None, max_length=20)
    person_kind: str = "expert"
    role: str = "member"
    person_name: str = Field(max_length=60)
    id_number: str | None = Field(default=None, max_length=40)
    phone: str | None = Field(default=None, max_length=20)
    specialty: str = Field(default="", max_length=100)
    organisation: str = Field(default="", max_length=200)
    card_uid: str | None = Field(default=None, max_length=40)

    _kind = field_validator("person_kind", mode="before")(_pick(_KINDS, "expert", "人员类别"))
    _role = field_validator("role", mode="before")(_pick(_ROLES, "member", "专家角色"))
    _skind = field_validator("kind", mode="before")(_pick(_SESSION_KINDS, "evaluation", "场次类型"))

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: Any) -> str:
        return service.parse_category(str(value or "其他"))

    @field_validator("session", mode="before")
    @classmethod
    def _session(cls, value: Any) -> str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value or "1").strip()

    @field_validator("rooms", mode="before")
    @classmethod
    def _rooms(cls, value: Any) -> list[str]:
        text = str(value or "").replace("，", ",").replace("、", ",").replace(";", ",")
        rooms = [r.strip() for r in text.split(",") if r.strip()]
        if not rooms:
            raise ValueError("请填写评标室")
        unknown = [r for r in rooms if r not in _ROOMS.get()]
        if unknown:
            raise ValueError(f"未登记的评标室：{'、'.join(unknown)}")
        return rooms

    @model_validator(mode="after")
    def _checks(self) -> ImportRow:
        if not self.id_number and not self.card_uid:
            raise ValueError("身份证号和IC卡号至少填写一项")
        if self.end <= self.start:
            raise ValueError("结束时间必须晚于开始时间")
        return self


def parse_import(
    session: Session, data: bytes, centre_id: str, tz: tzinfo
) -> list[service.ProjectIn]:
    """The upload as projects; raises :class:`ImportErrors` listing every problem."""
    known = frozenset(session.exec(select(Room.code).where(Room.centre_id == centre_id)))
    token = _ROOMS.set(known)
    try:
        rows = read_rows(data, COLUMNS, ImportRow)
    finally:
        _ROOMS.reset(token)
    errors: list[RowError] = []
    projects: dict[str, dict[str, Any]] = {}
    for row in rows:
        start = row.start if row.start.tzinfo else row.start.replace(tzinfo=tz)
        end = row.end if row.end.tzinfo else row.end.replace(tzinfo=tz)
        project = projects.setdefault(
            row.number,
            {
                "centre_id": centre_id,
                "number": row.number,
                "name": row.name,
                "category": row.category,
                "sessions": {},
            },
        )
        sess = project["sessions"].setdefault(
            row.session,
            {
                "key": row.session,
                "kind": row.kind,
                "rooms": row.rooms,
                "start": start,
                "end": end,
                "host_name": row.host_name,
                "host_phone": row.host_phone,
                "roster": [],
            },
        )
        if (sess["start"], sess["end"]) != (start, end):
            where = f"项目 {row.number} 场次 {row.session}"
            errors.append(RowError(0, "开始时间", f"{where}：各行的开始/结束时间不一致"))
            continue
        sess["roster"].append(
            service.PersonIn(
                kind=row.person_kind,
                role=row.role,
                name=row.person_name,
                id_number=row.id_number or None,
                phone=row.phone or None,
                card_uid=row.card_uid or None,
                specialty=row.specialty,
                organisation=row.organisation,
            )
        )
    out: list[service.ProjectIn] = []
    for project in projects.values():
        try:
            out.append(
                service.ProjectIn.model_validate(
                    {**project, "sessions": list(project["sessions"].values())}
                )
            )
        except ValidationError as exc:
            errors.append(RowError(0, "", f"项目 {project['number']}：{'；'.join(_messages(exc))}"))
    if errors:
        raise ImportErrors(errors)
    return out


def _messages(exc: ValidationError) -> list[str]:
    return [str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors()]
