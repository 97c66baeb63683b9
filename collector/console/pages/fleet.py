"""Devices: the list with live status, enrolment, a device's page, enabling and commands."""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import RedirectResponse, Response

from collector.api import queries
from collector.api.deps import (
    PublisherDep,
    SessionDep,
    client_ip,
)
from collector.auth import service as auth_service
from collector.auth.audit import audit
from collector.commands import service as commands_service
from collector.console.deps import (
    CheckedForm,
    Page,
    PageContext,
    local_time,
    page_permission,
    visible_row,
)
from collector.devices import service as devices_service
from collector.devices.models import Device

router = APIRouter(include_in_schema=False)


def backlog(device: Device) -> int | None:
    """Outbox depth from the last heartbeat (``agent.heartbeat``), if one arrived."""
    depth = (device.heartbeat or {}).get("outbox_depth")
    return depth if isinstance(depth, int) else None


def device_row(device: Device, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": device.id,
        "centre_id": device.centre_id,
        "kind": device.kind,
        "name": device.name,
        "enabled": device.enabled,
        "online": device.online,
        "last_heartbeat_at": local_time(device.last_heartbeat_at, tz),
        "backlog": backlog(device),
        "config_version": device.applied_config_version,
    }


@router.get("/devices", dependencies=[page_permission("devices.view")])
def devices_page(
    page: Page, session: SessionDep, offset: Annotated[int, Query(ge=0)] = 0
) -> Response:
    return _devices_page(page, session, offset=offset)


def _devices_page(
    page: PageContext,
    session: SessionDep,
    *,
    offset: int = 0,
    error: str = "",
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    rows, total = devices_service.list_devices(
        session, centre_ids=sorted(page.visible), limit=500, offset=offset
    )
    return page.render(
        "devices.html",
        status_code=status,
        devices=[device_row(d, page.tz) for d in rows],
        total=total,
        can_manage=auth_service.has_permission(page.user, "devices.manage"),
        centres=sorted(page.visible),
        error=error,
        form=form or {},
    )


@router.post("/devices", dependencies=[page_permission("devices.manage")])
def devices_enrol(page: Page, form: CheckedForm, session: SessionDep) -> Response:
    """Enrol a device in a visible centre and show its broker password once."""
    values = {
        key: str(form.get(key) or "").strip() for key in ("centre_id", "device_id", "kind", "name")
    }
    if values["centre_id"] not in page.visible:
        raise HTTPException(status_code=404, detail=page.t("not_found"))
    if devices_service.get_device(session, values["device_id"]) is not None:
        # The id may belong to another county: say only that it is taken.
        error = f"{page.t('device_exists')}: {values['device_id']}"
        return _devices_page(page, session, error=error, status=422, form=values)
    audit(  # committed with the enrolment, rolled back with a failed one
        session,
        actor=page.user,
        action="device.enrol",
        target_type="device",
        target_id=values["device_id"],
        centre_id=values["centre_id"],
        ip=client_ip(page.request),
        detail={"kind": values["kind"], "name": values["name"], "broker_password": "issued"},
    )
    try:
        device = devices_service.enrol_device(
            session,
            centre_id=values["centre_id"],
            device_id=values["device_id"],
            kind=values["kind"],
            name=values["name"],
        )
    except devices_service.RegistryError as exc:
        session.rollback()
        return _devices_page(page, session, error=str(exc), status=422, form=values)
    password = devices_service.issue_broker_password(session, device)
    return page.render(  # no-store, as every page (security headers): it shows a password
        "device_enrolled.html", device=device_row(device, page.tz), password=password
    )


def _visible_device(page: PageContext, session: SessionDep, device_id: str) -> Device:
    return visible_row(page, session, Device, device_id)


@router.get("/devices/{device_id}", dependencies=[page_permission("devices.view")])
def device_page(page: Page, session: SessionDep, device_id: str, sent: str = "") -> Response:
    device = _visible_device(page, session, device_id)
    events, _ = queries.list_events(
        session, device_id=device.id, centre_ids=page.visible, limit=20, with_total=False
    )
    commands, _ = commands_service.list_commands(
        session, device_id=device.id, centre_ids=page.visible, limit=20
    )
    return page.render(
        "device.html",
        device=device_row(device, page.tz),
        heartbeat=json.dumps(device.heartbeat or {}, ensure_ascii=False, indent=1),
        events=events,
        commands=commands,
        sent=sent,
        can_command=auth_service.has_permission(page.user, "devices.command"),
        can_manage=auth_service.has_permission(page.user, "devices.manage"),
        enabled=device.enabled,
    )


@router.post("/devices/{device_id}/enabled", dependencies=[page_permission("devices.manage")])
def device_enabled(page: Page, form: CheckedForm, session: SessionDep, device_id: str) -> Response:
    device = _visible_device(page, session, device_id)
    enabled = str(form.get("enabled", "")) == "1"
    if device.enabled != enabled:
        audit(  # stored in the same commit as the change
            session,
            actor=page.user,
            action="device.enable" if enabled else "device.disable",
            target_type="device",
            target_id=device.id,
            centre_id=device.centre_id,
            ip=client_ip(page.request),
        )
        devices_service.set_enabled(session, device.id, enabled)
    return RedirectResponse(f"/devices/{device.id}", status_code=303)


@router.post("/devices/{device_id}/commands", dependencies=[page_permission("devices.command")])
def device_command(
    page: Page,
    form: CheckedForm,
    session: SessionDep,
    publisher: PublisherDep,
    device_id: str,
) -> Response:
    device = _visible_device(page, session, device_id)
    try:
        args = json.loads(str(form.get("args") or "{}"))
        if not isinstance(args, dict):
            raise ValueError("args must be a JSON object")
        command = commands_service.send_command(
            session,
            publisher,
            device_id=device.id,
            action=str(form.get("action", "")),
            args=args,
            ttl_s=300,
            created_by=page.user.username,
        )
    except (ValueError, commands_service.CommandError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    audit(
        session,
        actor=page.user,
        action="command.send",
        target_type="command",
        target_id=command.id,
        centre_id=command.centre_id,
        ip=client_ip(page.request),
        detail={"device": device.id, "action": command.action},
    )
    session.commit()
    return RedirectResponse(f"/devices/{device.id}?sent={command.id}", status_code=303)
