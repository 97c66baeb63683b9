"""The one-off initial import of the venue registry (场所信息) from the template.

Every row is checked before anything is stored, so a file is taken whole or not at all:
the cell checks of :func:`collector.tabular.read_rows`, and per row a 公共场所ID already in
the registry or repeated in the file, and a 监管单位 that does not exist in the centre. The
row checks run inside the row model (with the centre's codes and units in a context
variable) so that every error carries its Excel row number, as the cell errors do.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, field_validator
from sqlmodel import Session, col, select

from collector.modules.venues.columns import VENUE_COLUMNS
from collector.modules.venues.models import Venue, VenueUnit
from collector.modules.venues.service import VenueIn
from collector.tabular import read_rows


@dataclass
class _Known:
    taken: frozenset[str]  # codes of registered venues (not those only found in scans)
    units: dict[str, int]  # 监管单位 name → id, in the centre
    seen: set[str] = field(default_factory=set)  # codes of the rows read so far


_KNOWN: ContextVar[_Known] = ContextVar("venue_registry_known")


class VenueRow(BaseModel):
    code: str = Field(max_length=100)
    name: str = Field(max_length=200)
    category: str = Field(default="", max_length=100)
    city: str = Field(default="", max_length=50)
    street: str = Field(default="", max_length=100)
    admin: str = Field(default="", max_length=100)
    location: str = Field(default="", max_length=300)
    unit: str = Field(default="", max_length=100)

    @field_validator("code")
    @classmethod
    def _new_code(cls, value: str) -> str:
        known = _KNOWN.get()
        if value in known.taken:
            raise ValueError("已存在于场所信息中")
        if value in known.seen:
            raise ValueError("在文件中重复")
        known.seen.add(value)
        return value

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, value: str) -> str:
        if value and value not in _KNOWN.get().units:
            raise ValueError(f"“{value}”不存在，请先在监管单位管理中新增")
        return value


def parse_registry(session: Session, data: bytes, centre_id: str) -> list[VenueIn]:
    """The file's rows as venues of ``centre_id``; raises :class:`ImportErrors` listing
    every problem by row (nothing is stored here)."""
    taken = session.exec(
        select(Venue.code).where(Venue.centre_id == centre_id, col(Venue.discovered).is_(False))
    ).all()
    units = session.exec(
        select(VenueUnit.name, VenueUnit.id).where(VenueUnit.centre_id == centre_id)
    )
    known = _Known(frozenset(taken), {name: i for name, i in units.all() if i is not None})
    token = _KNOWN.set(known)
    try:
        rows = read_rows(data, VENUE_COLUMNS, VenueRow)
    finally:
        _KNOWN.reset(token)
    return [
        VenueIn(
            centre_id=centre_id,
            **r.model_dump(exclude={"unit"}),
            unit_id=known.units[r.unit] if r.unit else None,
        )
        for r in rows
    ]
