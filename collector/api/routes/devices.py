"""Devices: registry, heartbeat figures, sequence gaps and desired configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from collector.api.deps import (
    CurrentPrincipal,
    DeviceDep,
    PageParams,
    PublisherDep,
    SessionDep,
    VisibleCentres,
    actor_name,
    client_ip,
    require,
    sees_everything,
    within,
)
from collector.api.schemas import ApiModel, Paged
from collector.auth.audit import audit
from collector.desired_config import service as config_service
from collector.desired_config.models import ConfigScope, DesiredConfig
from collector.devices import service as devices_service
from contract.topics import IDENTIFIER_PATTERN

router = APIRouter(tags=["devices"])


class DeviceOut(ApiModel):
    id: str
    centre_id: str
    kind: str
    name: str
    enabled: bool
    enrolled_at: datetime
    online: bool
    status_changed_at: datetime | None
    last_seen_at: datetime | None
    last_heartbeat_at: datetime | None
    agent_version: str
    applied_config_version: int | None
    last_seq: int
    stored_count: int


class GapOut(ApiModel):
    first_seq: int
    last_seq: int
    missing: int
    detected_at: datetime
    closed_at: datetime | None


class DeviceDetail(DeviceOut):
    heartbeat: dict[str, Any] | None = Field(description="the last heartbeat payload")
    open_gaps: list[GapOut]
    missing: int = Field(description="sequence numbers still missing in open gaps")


class ConfigIn(BaseModel):
    config: dict[str, Any] = Field(description="plugin instance name → settings, plus 'rules'")


class ConfigLayerOut(ApiModel):
    scope: ConfigScope
    target: str
    version: int
    config: dict[str, Any]
    created_at: datetime
    created_by: str


class EffectiveConfigOut(BaseModel):
    device_id: str
    version: int | None = Field(description="desired version; null when no layer applies")
    issued_at: datetime | None
    config: dict[str, Any]
    applied_version: int | None = Field(description="version the agent reported as applied")
    in_sync: bool


VIEW = [require("devices.view")]
COMMAND = [require("devices.command")]


@router.get("/devices", response_model=Paged[DeviceOut], dependencies=VIEW)
def list_devices(
    session: SessionDep,
    page: PageParams,
    visible: VisibleCentres,
    centre: Annotated[list[str] | None, Query(description="centre id; repeatable")] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    online: bool | None = None,
) -> Paged[DeviceOut]:
    rows, total = devices_service.list_devices(
        session,
        centre_ids=sorted(within(centre, visible)),
        online=online,
        kind=kind,
        limit=page.limit,
        offset=page.offset,
    )
    return Paged[DeviceOut](
        items=[DeviceOut.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/devices/{device_id}", response_model=DeviceDetail, dependencies=VIEW)
def get_device(device: DeviceDep, session: SessionDep) -> DeviceDetail:
    open_gaps = devices_service.gaps(session, device.id, open_only=True)
    return DeviceDetail.model_validate(
        {
            **DeviceOut.model_validate(device).model_dump(),
            "heartbeat": device.heartbeat,
            "open_gaps": [GapOut.model_validate(g) for g in open_gaps],
            "missing": sum(g.missing for g in open_gaps),
        }
    )


@router.get("/devices/{device_id}/gaps", response_model=list[GapOut], dependencies=VIEW)
def device_gaps(
    device: DeviceDep,
    session: SessionDep,
    state: Annotated[Literal["open", "closed", "all"], Query()] = "all",
) -> list[GapOut]:
    rows = devices_service.gaps(session, device.id, open_only=state == "open")
    if state == "closed":
        rows = [g for g in rows if g.closed_at is not None]
    return [GapOut.model_validate(g) for g in rows]


@router.get("/devices/{device_id}/config", response_model=EffectiveConfigOut, dependencies=VIEW)
def device_config(device: DeviceDep, session: SessionDep) -> EffectiveConfigOut:
    envelope = config_service.effective_config(session, device.id)
    version = envelope.version if envelope else None
    return EffectiveConfigOut(
        device_id=device.id,
        version=version,
        issued_at=envelope.issued_at if envelope else None,
        config=dict(envelope.config) if envelope else {},
        applied_version=device.applied_config_version,
        in_sync=version is None or version == device.applied_config_version,
    )


@router.put("/devices/{device_id}/config", response_model=ConfigLayerOut, dependencies=COMMAND)
def put_device_config(
    device: DeviceDep,
    body: ConfigIn,
    session: SessionDep,
    publisher: PublisherDep,
    principal: CurrentPrincipal,
    request: Request,
) -> ConfigLayerOut:
    layer = config_service.set_config(
        session,
        publisher,
        scope=ConfigScope.DEVICE,
        target=device.id,
        config=body.config,
        created_by=actor_name(principal),
    )
    _audit_config(session, principal, request, layer, device.centre_id)
    return ConfigLayerOut.model_validate(layer)


@router.put("/config/{scope}/{target}", response_model=ConfigLayerOut, dependencies=COMMAND)
def put_layer_config(
    scope: Literal["centre", "kind"],
    target: Annotated[str, Path(pattern=IDENTIFIER_PATTERN)],
    body: ConfigIn,
    session: SessionDep,
    publisher: PublisherDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
    request: Request,
) -> ConfigLayerOut:
    """Set the configuration layer of a centre or of a device kind (device layers are set
    through ``PUT /devices/{id}/config``). A kind layer reaches every centre, so only a
    system administrator may set one."""
    if scope == "kind" and not sees_everything(principal):
        raise HTTPException(status_code=403, detail="a kind layer needs a system administrator")
    if scope == "centre" and target not in visible:
        raise HTTPException(status_code=404, detail=f"unknown centre {target!r}")
    _require_centre(session, scope, target)
    layer = config_service.set_config(
        session,
        publisher,
        scope=ConfigScope(scope),
        target=target,
        config=body.config,
        created_by=actor_name(principal),
    )
    _audit_config(session, principal, request, layer, target if scope == "centre" else None)
    return ConfigLayerOut.model_validate(layer)


def _require_centre(session: Session, scope: str, target: str) -> None:
    if scope == "centre" and devices_service.get_centre(session, target) is None:
        raise HTTPException(status_code=404, detail=f"unknown centre {target!r}")


def _audit_config(
    session: Session,
    principal: CurrentPrincipal,
    request: Request,
    layer: DesiredConfig,
    centre_id: str | None,
) -> None:
    audit(
        session,
        actor=principal,
        action="config.set",
        target_type=f"config_{layer.scope}",
        target_id=layer.target,
        centre_id=centre_id,
        ip=client_ip(request),
        detail={"version": layer.version, "keys": sorted(layer.config)[:50]},
    )
    session.commit()
