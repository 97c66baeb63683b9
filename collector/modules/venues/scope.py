"""Who sees which venues: the centres of the principal, and for a supervising unit's user
(role ``supervisor_unit``) only the venues of its own unit (none without a unit)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_
from sqlmodel import Session, col, select

from collector.auth.models import ApiToken, User
from collector.auth.permissions import Role
from collector.modules.venues.models import Venue, VenueUnitMember


@dataclass(frozen=True)
class VenueScope:
    centres: frozenset[str]
    restricted: bool = False
    unit_id: int | None = None

    def venue_filter(self) -> Any:
        """A WHERE clause over :class:`Venue`."""
        if not self.centres:
            return false()
        clause: ColumnElement[bool] = col(Venue.centre_id).in_(sorted(self.centres))
        if self.restricted:
            if self.unit_id is None:
                return false()
            clause = and_(clause, col(Venue.unit_id) == self.unit_id)
        return clause

    def sees_venue(self, venue: Venue | None) -> bool:
        if venue is None or venue.centre_id not in self.centres:
            return False
        return not self.restricted or (self.unit_id is not None and venue.unit_id == self.unit_id)

    def code_filter(self, session: Session, centre_column: Any, code_column: Any) -> Any:
        """A WHERE clause over rows keyed by (centre, 公共场所ID): scans, daily counts."""
        if not self.centres:
            return false()
        if not self.restricted:
            if len(self.centres) == 1:  # lets SQLite group along the key without a sort
                return col(centre_column) == next(iter(self.centres))
            return col(centre_column).in_(sorted(self.centres))
        if self.unit_id is None:
            return false()
        pairs = session.exec(select(Venue.centre_id, Venue.code).where(self.venue_filter())).all()
        by_centre: dict[str, list[str]] = defaultdict(list)
        for centre_id, code in pairs:
            by_centre[centre_id].append(code)
        if not by_centre:
            return false()
        return or_(
            *(
                and_(centre_column == centre_id, col(code_column).in_(codes))
                for centre_id, codes in sorted(by_centre.items())
            )
        )


def unit_of_user(session: Session, user_id: int | None) -> int | None:
    if user_id is None:
        return None
    member = session.get(VenueUnitMember, user_id)
    return member.unit_id if member else None


def scope_of(session: Session, principal: User | ApiToken, visible: frozenset[str]) -> VenueScope:
    if isinstance(principal, User) and principal.role == Role.SUPERVISOR_UNIT:
        return VenueScope(visible, restricted=True, unit_id=unit_of_user(session, principal.id))
    return VenueScope(visible)


class ScopeRefused(Exception):
    """The caller may not change the scans of that centre: ``status`` is the HTTP answer
    (403 a supervising unit, 404 a centre it cannot see), ``message`` says why in Chinese."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def scan_centres(scope: VenueScope, centre_id: str | None) -> frozenset[str]:
    """The centres whose scans an import or deletion may touch, the same for the console
    and the API: never for a supervising unit's user (its view is limited to its venues,
    while an import or a deletion acts on a whole centre), only visible centres, and the one
    chosen, or every visible centre when ``centre_id`` is None (API deletion only)."""
    if scope.restricted:
        raise ScopeRefused(403, "监管单位用户不能导入或删除扫码进场信息")
    if centre_id is None:
        return scope.centres
    if centre_id not in scope.centres:
        raise ScopeRefused(404, f"中心 {centre_id!r} 不存在或不可见")
    return frozenset({centre_id})
