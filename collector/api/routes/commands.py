"""Commands to devices: send, list, follow through their acks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from collector.api import queries
from collector.api.deps import (
    CurrentPrincipal,
    PageParams,
    PublisherDep,
    SessionDep,
    VisibleCentres,
    actor_name,
    client_ip,
    require,
)
from collector.api.schemas import ApiModel, Paged
from collector.auth.audit import audit
from collector.commands import service as commands_service
from collector.commands.models import CommandState
from collector.devices import service as devices_service
from contract.envelopes import ActionName
from contract.topics import IDENTIFIER_PATTERN, Identifier

router = APIRouter(tags=["commands"])

MAX_TTL_S = 30 * 24 * 3600


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: Identifier
    action: ActionName = Field(description="target.verb, e.g. 'agent.ping' or 'sim.set_rate'")
    args: dict[str, Any] = Field(default_factory=dict)
    ttl_s: int = Field(default=300, ge=1, le=MAX_TTL_S, description="seconds until it expires")
    durable: bool = Field(
        default=False,
        description="re-send when the device comes back online (else answered 'offline' at once)",
    )


class AckOut(ApiModel):
    id: str
    seq: int
    status: str
    progress: float | None
    message: str
    result: dict[str, Any]
    ts: datetime
    stored_at: datetime


class CommandOut(ApiModel):
    id: str
    centre_id: str
    device_id: str
    action: str
    args: dict[str, Any]
    durable: bool
    issued_at: datetime
    expires_at: datetime
    state: CommandState
    progress: float | None
    message: str
    result: dict[str, Any]
    send_count: int
    last_sent_at: datetime | None
    updated_at: datetime
    created_by: str


class CommandDetail(CommandOut):
    acks: list[AckOut]


@router.post(
    "/commands",
    status_code=201,
    response_model=CommandOut,
    dependencies=[require("devices.command")],
)
def send_command(
    body: CommandIn,
    session: SessionDep,
    publisher: PublisherDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
    request: Request,
) -> CommandOut:
    device = devices_service.get_device(session, body.device_id)
    if device is None or device.centre_id not in visible:
        raise HTTPException(status_code=404, detail=f"unknown device {body.device_id!r}")
    try:
        command = commands_service.send_command(
            session,
            publisher,
            device_id=body.device_id,
            action=body.action,
            args=body.args,
            ttl_s=body.ttl_s,
            durable=body.durable,
            created_by=actor_name(principal),
        )
    except commands_service.UnknownDeviceError as exc:  # removed since the check above
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except commands_service.CommandError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    audit(
        session,
        actor=principal,
        action="command.send",
        target_type="command",
        target_id=command.id,
        centre_id=command.centre_id,
        ip=client_ip(request),
        detail={"device": command.device_id, "action": command.action},
    )
    session.commit()
    return CommandOut.model_validate(command)


@router.get("/commands", response_model=Paged[CommandOut], dependencies=[require("devices.view")])
def list_commands(
    session: SessionDep,
    page: PageParams,
    visible: VisibleCentres,
    device: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    state: CommandState | None = None,
) -> Paged[CommandOut]:
    rows, total = commands_service.list_commands(
        session,
        device_id=device,
        state=state,
        centre_ids=visible,
        limit=page.limit,
        offset=page.offset,
    )
    return Paged[CommandOut](
        items=[CommandOut.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/commands/{command_id}", response_model=CommandDetail, dependencies=[require("devices.view")]
)
def get_command(command_id: UUID, session: SessionDep, visible: VisibleCentres) -> CommandDetail:
    command = commands_service.get_command(session, str(command_id))
    if command is None or command.centre_id not in visible:
        raise HTTPException(status_code=404, detail=f"unknown command {command_id}")
    acks = queries.command_acks(session, command.id)
    return CommandDetail.model_validate(
        {
            **CommandOut.model_validate(command).model_dump(),
            "acks": [AckOut.model_validate(a) for a in acks],
        }
    )
