"""Dead letters: inbound messages that failed validation, with reason and raw bytes."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, Field

from collector.api import queries
from collector.api.deps import (
    CurrentPrincipal,
    PageParams,
    SessionDep,
    VisibleCentres,
    require,
    sees_everything,
)
from collector.api.schemas import Paged
from collector.ingest.models import DeadLetter
from contract.topics import IDENTIFIER_PATTERN

router = APIRouter(tags=["dead letters"])

PREVIEW_BYTES = 256


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    centre_id: str | None
    device_id: str | None
    raw_size: int
    raw_base64: str = Field(description="the message exactly as received")
    preview: str = Field(description=f"the first {PREVIEW_BYTES} bytes, printable")


def printable_preview(raw: bytes, limit: int = PREVIEW_BYTES) -> str:
    """UTF-8 text where possible; control characters and undecodable bytes shown as escapes."""
    text = raw[:limit].decode("utf-8", errors="backslashreplace")
    out = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
    return out + ("…" if len(raw) > limit else "")


def _out(row: DeadLetter) -> DeadLetterOut:
    assert row.id is not None
    return DeadLetterOut(
        id=row.id,
        received_at=row.received_at,
        topic=row.topic,
        reason=row.reason,
        detail=row.detail,
        centre_id=row.centre_id,
        device_id=row.device_id,
        raw_size=len(row.raw),
        raw_base64=base64.b64encode(row.raw).decode("ascii"),
        preview=printable_preview(row.raw),
    )


VIEW = [require("deadletters.view")]


@router.get("/dead-letters", response_model=Paged[DeadLetterOut], dependencies=VIEW)
def list_dead_letters(
    session: SessionDep,
    page: PageParams,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    centre: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    device: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    since: Annotated[AwareDatetime | None, Query(description="received, inclusive")] = None,
    until: Annotated[AwareDatetime | None, Query(description="received, exclusive")] = None,
) -> Paged[DeadLetterOut]:
    rows, total = queries.list_dead_letters(
        session,
        reason=reason,
        centre_id=centre,
        device_id=device,
        centre_ids=None if sees_everything(principal) else visible,
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
    )
    return Paged[DeadLetterOut](
        items=[_out(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/dead-letters/{letter_id}", response_model=DeadLetterOut, dependencies=VIEW)
def get_dead_letter(
    letter_id: int, session: SessionDep, principal: CurrentPrincipal, visible: VisibleCentres
) -> DeadLetterOut:
    """Letters from unknown senders (no centre) are shown to system administrators only."""
    row = session.get(DeadLetter, letter_id)
    if row is None or not (sees_everything(principal) or row.centre_id in visible):
        raise HTTPException(status_code=404, detail=f"unknown dead letter {letter_id}")
    return _out(row)
