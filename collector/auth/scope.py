"""Centre scoping: which centres a user or API token may see, and a filter for queries.

A principal sees its own centre and every centre below it (a municipal admin sees the county
centres under the city); a system administrator sees all. Every query over centre-owned rows
goes through :func:`scoped`::

    ids = visible_centre_ids(session, user)
    rows = session.exec(scoped(select(Device), Device.centre_id, ids)).all()

The subtree is read with a recursive CTE (``WITH RECURSIVE``), which SQLite and PostgreSQL
both run; ``UNION`` rather than ``UNION ALL`` makes a (mistaken) cycle terminate.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import false
from sqlmodel import Session, col, select

from collector.auth.models import ApiToken, User
from collector.auth.permissions import Role
from collector.centres.models import Centre

_S = TypeVar("_S")


def subtree_ids(session: Session, root_id: str) -> set[str]:
    """``root_id`` and all its descendants (empty if the centre does not exist)."""
    centre_id = col(Centre.id)
    parent_id = col(Centre.parent_id)
    tree = select(centre_id).where(centre_id == root_id).cte("centre_tree", recursive=True)
    tree = tree.union(select(centre_id).where(parent_id == tree.c.id))
    return set(session.exec(select(tree.c.id)).all())


def visible_centre_ids(session: Session, principal: User | ApiToken) -> set[str]:
    """The centres whose rows ``principal`` may see; empty for a disabled user or a revoked
    token."""
    if isinstance(principal, User):
        if not principal.enabled:
            return set()
        if principal.role == Role.SYSTEM_ADMIN:
            return set(session.exec(select(Centre.id)).all())
    elif principal.revoked_at is not None:
        return set()
    if principal.centre_id is None:
        return set()
    return subtree_ids(session, principal.centre_id)


def scoped(statement: _S, column: Any, centre_ids: Collection[str]) -> _S:
    """``statement`` restricted to rows whose ``column`` is one of ``centre_ids``; nothing at
    all when the collection is empty."""
    if not centre_ids:
        return statement.where(false())  # type: ignore[attr-defined, no-any-return]
    return statement.where(col(column).in_(sorted(centre_ids)))  # type: ignore[attr-defined, no-any-return]


def can_see_centre(session: Session, principal: User | ApiToken, centre_id: str | None) -> bool:
    return centre_id is not None and centre_id in visible_centre_ids(session, principal)
