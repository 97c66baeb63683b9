"""API of the notify module: the SMS send log."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from collector.api.deps import (
    CurrentPrincipal,
    PageParams,
    SessionDep,
    VisibleCentres,
    require,
    sees_everything,
)
from collector.modules.notify import service
from collector.security.personal_data import mask_phone

router = APIRouter(tags=["notify"])


class SmsOut(BaseModel):
    id: int
    created_at: datetime
    purpose: str
    phone: str
    text: str
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    sender: str
    parts: int


class SmsPage(BaseModel):
    items: list[SmsOut]
    total: int


@router.get("/notify/sms", dependencies=[require("notify.view")])
def list_sms(
    session: SessionDep,
    visible: VisibleCentres,
    principal: CurrentPrincipal,
    page: PageParams,
    status: str | None = None,
) -> SmsPage:
    rows, total = service.list_sms(
        session,
        centre_ids=visible,
        include_unowned=sees_everything(principal),
        status=status,
        limit=page.limit,
        offset=page.offset,
    )
    items = [
        SmsOut(
            id=m.id or 0,
            created_at=m.created_at,
            purpose=m.purpose,
            phone=mask_phone(m.phone),
            text=m.text,
            status=m.status,
            attempts=m.attempts,
            last_error=m.last_error,
            sent_at=m.sent_at,
            sender=m.sender,
            parts=m.parts,
        )
        for m in rows
    ]
    return SmsPage(items=items, total=total)
