"""What the fleet and the people did: events, dead letters, the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import col, select

from collector.api import queries
from collector.api.deps import (
    SessionDep,
    sees_everything,
)
from collector.auth.models import AuditEntry
from collector.auth.scope import scoped
from collector.console.deps import (
    PAGE_SIZE,
    Page,
    page_permission,
)

router = APIRouter(include_in_schema=False)


@router.get("/events", dependencies=[page_permission("events.view")])
def events_page(
    page: Page,
    session: SessionDep,
    device: Annotated[str | None, Query(max_length=64)] = None,
    event_type: Annotated[str | None, Query(alias="type", max_length=96)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    rows, total = queries.list_events(
        session,
        device_id=device or None,
        event_type=event_type or None,
        centre_ids=page.visible,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return page.render(
        "events.html",
        events=rows,
        total=total,
        offset=offset,
        limit=PAGE_SIZE,
        filters={"device": device or "", "type": event_type or ""},
    )


@router.get("/dead-letters", dependencies=[page_permission("deadletters.view")])
def dead_letters_page(
    page: Page, session: SessionDep, offset: Annotated[int, Query(ge=0)] = 0
) -> Response:
    from collector.api.routes.dead_letters import printable_preview

    rows, total = queries.list_dead_letters(
        session,
        centre_ids=None if sees_everything(page.user) else page.visible,
        limit=PAGE_SIZE,
        offset=offset,
    )
    letters = [(r, printable_preview(r.raw, 120)) for r in rows]
    return page.render(
        "dead_letters.html", letters=letters, total=total, offset=offset, limit=PAGE_SIZE
    )


@router.get("/audit", dependencies=[page_permission("audit.view")])
def audit_page(
    page: Page, session: SessionDep, offset: Annotated[int, Query(ge=0)] = 0
) -> Response:
    query = select(AuditEntry)
    if not sees_everything(page.user):
        query = scoped(query, AuditEntry.centre_id, page.visible)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AuditEntry.id).desc()).offset(offset).limit(PAGE_SIZE)
    ).all()
    return page.render("audit.html", entries=rows, total=total, offset=offset, limit=PAGE_SIZE)
