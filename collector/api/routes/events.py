"""Stored events, newest first, with offset paging or a keyset cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, AwareDatetime, Field

from collector.api import queries
from collector.api.deps import PageParams, SessionDep, VisibleCentres, require
from collector.api.schemas import ApiModel, Paged
from contract.topics import IDENTIFIER_PATTERN

router = APIRouter(tags=["events"])

_TYPE_FILTER = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$"


def _check_cursor(value: str | None) -> str | None:
    if value is not None:
        queries.decode_cursor(value)  # raises ValueError → 422 naming "cursor"
    return value


class EventOut(ApiModel):
    id: str
    centre_id: str
    device_id: str
    type: str
    schema_version: int
    seq: int
    ts: datetime
    stored_at: datetime
    payload: dict[str, Any]


class EventPage(Paged[EventOut]):
    total: int | None = Field(description="rows matching the filters; null when not counted")  # type: ignore[assignment]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next (older) page; null on the last page"
    )


@router.get("/events", response_model=EventPage, dependencies=[require("events.view")])
def list_events(
    session: SessionDep,
    page: PageParams,
    visible: VisibleCentres,
    device: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    centre: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    event_type: Annotated[
        str | None,
        Query(
            alias="type",
            pattern=_TYPE_FILTER,
            max_length=96,
            description="exact type or prefix like 'x.*'",
        ),
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="device time, inclusive")] = None,
    until: Annotated[AwareDatetime | None, Query(description="device time, exclusive")] = None,
    cursor: Annotated[
        str | None,
        AfterValidator(_check_cursor),
        Query(description="next_cursor of the previous page (keyset paging; offset then 0)"),
    ] = None,
    count: Annotated[bool, Query(description="count the matching rows (total)")] = True,
) -> EventPage:
    """Events newest first by device time, then id. Page with ``limit``/``offset``, or — for
    deep pages and live tables — with ``cursor``, which never skips or repeats a row."""
    rows, total = queries.list_events(
        session,
        device_id=device,
        centre_id=centre,
        centre_ids=visible,
        event_type=event_type,
        since=since,
        until=until,
        after=queries.decode_cursor(cursor) if cursor else None,
        limit=page.limit,
        offset=page.offset,
        with_total=count,
    )
    next_cursor = (
        queries.encode_cursor(rows[-1].ts, rows[-1].id) if len(rows) == page.limit else None
    )
    return EventPage(
        items=[EventOut.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
        next_cursor=next_cursor,
    )
