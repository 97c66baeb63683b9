"""The core console pages. A module's ``pages.py`` follows the same pattern: a router, one
``page_permission`` per page, ``Page`` for the context, ``CheckedForm`` for every POST."""

from __future__ import annotations

import json
import secrets
from datetime import tzinfo
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import col, select

from collector.api import queries
from collector.api.deps import (
    SESSION_COOKIE,
    CsrfDep,
    PublisherDep,
    RuntimeDep,
    SessionDep,
    client_ip,
)
from collector.api.routes.auth import login_user, set_session_cookie
from collector.auth import service as auth_service
from collector.auth.audit import audit
from collector.auth.models import ApiToken, AuditEntry, User
from collector.auth.permissions import PERMISSION_LABELS, ROLE_LABELS, Permission, Role
from collector.auth.scope import scoped
from collector.centres.models import Centre, CentreLevel
from collector.commands import service as commands_service
from collector.console.deps import (
    LOGIN_NONCE_COOKIE,
    CheckedForm,
    Page,
    PageContext,
    local_time,
    page_permission,
    remember_language,
    templates,
)
from collector.console.i18n import request_language, translate
from collector.db_types import utcnow
from collector.devices import service as devices_service
from collector.devices.models import Device

router = APIRouter(include_in_schema=False)

T = TypeVar("T")

PAGE_SIZE = 50


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


def _safe_next(url: str | None) -> str:
    return url if url and url.startswith("/") and not url.startswith("//") else "/"


# -- login ------------------------------------------------------------------------------


@router.get("/login")
def login_page(
    request: Request,
    csrf: CsrfDep,
    next: str = "/",
    expired: bool = False,
    error: str = "",
    status_code: int = 200,
) -> Response:
    lang = request_language(request)
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE) or secrets.token_urlsafe(16)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "t": lambda key: translate(lang, key),
            "lang": lang,
            "csrf_token": csrf.issue(nonce),
            "next": _safe_next(next),
            "expired": expired,
            "error": error,
        },
        status_code=status_code,
    )
    response.set_cookie(LOGIN_NONCE_COOKIE, nonce, httponly=True, samesite="lax", path="/")
    remember_language(request, response)
    return response


@router.post("/login")
def login_submit(
    request: Request, form: CheckedForm, session: SessionDep, runtime: RuntimeDep, csrf: CsrfDep
) -> Response:
    next_url = _safe_next(str(form.get("next") or "/"))
    try:
        _, token = login_user(
            request, session, runtime, str(form.get("username", "")), str(form.get("password", ""))
        )
    except auth_service.AuthError as exc:
        return login_page(request, csrf, next=next_url, error=str(exc), status_code=401)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, token, request)
    response.delete_cookie(LOGIN_NONCE_COOKIE, path="/")
    return response


@router.post("/logout")
def logout_submit(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        auth_service.end_session(session, cookie, ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(page: Page) -> Response:
    from collector.console.menu import menu_for

    entries = menu_for(page.user)
    return RedirectResponse(entries[0].path if entries else "/devices", status_code=303)


# -- devices ----------------------------------------------------------------------------


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
    response = page.render(
        "device_enrolled.html", device=device_row(device, page.tz), password=password
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _visible_row(page: PageContext, session: SessionDep, model: type[T], key: object) -> T:
    """The row of a centre the user sees, else 404 (never 403: ids are not confirmed)."""
    row = session.get(model, key)
    if row is None or getattr(row, "centre_id", None) not in page.visible:
        raise HTTPException(status_code=404, detail=page.t("not_found"))
    return row


def _visible_device(page: PageContext, session: SessionDep, device_id: str) -> Device:
    return _visible_row(page, session, Device, device_id)


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


# -- events, dead letters, audit --------------------------------------------------------


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


def _sees_everything(user: User) -> bool:
    return user.role == Role.SYSTEM_ADMIN


@router.get("/dead-letters", dependencies=[page_permission("deadletters.view")])
def dead_letters_page(
    page: Page, session: SessionDep, offset: Annotated[int, Query(ge=0)] = 0
) -> Response:
    from collector.api.routes.dead_letters import printable_preview

    rows, total = queries.list_dead_letters(
        session,
        centre_ids=None if _sees_everything(page.user) else page.visible,
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
    if not _sees_everything(page.user):
        query = scoped(query, AuditEntry.centre_id, page.visible)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AuditEntry.id).desc()).offset(offset).limit(PAGE_SIZE)
    ).all()
    return page.render("audit.html", entries=rows, total=total, offset=offset, limit=PAGE_SIZE)


# -- users and centres ------------------------------------------------------------------


def grantable_permissions(page: PageContext) -> list[tuple[str, str]]:
    """(value, label) of the permissions the signed-in user holds and so may grant."""
    held = auth_service.permissions_of(page.user)
    idx = 0 if page.lang == "zh" else 1
    return [(p.value, PERMISSION_LABELS[p][idx]) for p in Permission if p.value in held]


def _users_page(page: PageContext, session: SessionDep, error: str = "", status: int = 200):
    query = select(User)
    if not _sees_everything(page.user):
        query = scoped(query, User.centre_id, page.visible)
    users = session.exec(query.order_by(col(User.username))).all()
    roles = [(r.value, ROLE_LABELS[r][0 if page.lang == "zh" else 1]) for r in Role]
    if not _sees_everything(page.user):
        roles = [r for r in roles if r[0] != Role.SYSTEM_ADMIN]
    return page.render(
        "users.html",
        status_code=status,
        users=users,
        now=utcnow(),
        roles=roles,
        centres=sorted(page.visible),
        grantable=grantable_permissions(page),
        error=error,
    )


def _visible_user(page: PageContext, session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not (
        _sees_everything(page.user)
        or (user.centre_id is not None and user.centre_id in page.visible)
    ):
        raise HTTPException(status_code=404, detail=page.t("not_found"))
    return user


@router.post("/users/{user_id}/enabled", dependencies=[page_permission("users.manage")])
def users_enabled(page: Page, form: CheckedForm, session: SessionDep, user_id: int) -> Response:
    user = _visible_user(page, session, user_id)
    enabled = str(form.get("enabled", "")) == "1"
    if not enabled and user.id == page.user.id:
        return _users_page(page, session, error=page.t("cannot_disable_self"), status=422)
    try:
        auth_service.update_user(
            session, user, enabled=enabled, actor=page.user, ip=client_ip(page.request)
        )
    except (ValueError, auth_service.GrantDenied) as exc:
        session.rollback()
        return _users_page(page, session, error=str(exc), status=403)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/unlock", dependencies=[page_permission("users.manage")])
def users_unlock(page: Page, form: CheckedForm, session: SessionDep, user_id: int) -> Response:
    user = _visible_user(page, session, user_id)
    try:
        auth_service.unlock_user(session, user, actor=page.user, ip=client_ip(page.request))
    except auth_service.GrantDenied as exc:
        session.rollback()
        return _users_page(page, session, error=str(exc), status=403)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/permissions", dependencies=[page_permission("users.manage")])
def users_permissions(page: Page, form: CheckedForm, session: SessionDep, user_id: int) -> Response:
    """Menu-level permissions granted to one user on top of the role (菜单授权)."""
    user = _visible_user(page, session, user_id)
    try:
        auth_service.update_user(
            session,
            user,
            extra_permissions=[str(v) for v in form.getlist("permissions")],
            actor=page.user,
            ip=client_ip(page.request),
        )
    except (ValueError, auth_service.GrantDenied) as exc:
        session.rollback()
        return _users_page(page, session, error=str(exc), status=403)
    return RedirectResponse("/users", status_code=303)


@router.get("/users", dependencies=[page_permission("users.manage")])
def users_page(page: Page, session: SessionDep) -> Response:
    return _users_page(page, session)


@router.post("/users", dependencies=[page_permission("users.manage")])
def users_create(page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep):
    try:
        auth_service.create_user(
            session,
            username=str(form.get("username", "")),
            password=str(form.get("password", "")),
            role=str(form.get("role", "")),
            centre_id=str(form.get("centre_id") or "") or None,
            display_name=str(form.get("display_name", "")),
            actor=page.user,
            ip=client_ip(page.request),
            policy=runtime.settings.auth,
        )
    except (ValueError, auth_service.GrantDenied) as exc:
        session.rollback()
        return _users_page(page, session, error=str(exc), status=422)
    return RedirectResponse("/users", status_code=303)


def _centres_page(page: PageContext, session: SessionDep, error: str = "", status: int = 200):
    query = scoped(select(Centre), Centre.id, page.visible)
    centres = session.exec(query.order_by(col(Centre.id))).all()
    return page.render(
        "centres.html",
        status_code=status,
        centres=centres,
        levels=[lvl.value for lvl in CentreLevel],
        error=error,
    )


@router.get("/centres", dependencies=[page_permission("centres.manage")])
def centres_page(page: Page, session: SessionDep) -> Response:
    return _centres_page(page, session)


@router.post("/centres", dependencies=[page_permission("centres.manage")])
def centres_create(page: Page, form: CheckedForm, session: SessionDep) -> Response:
    parent = str(form.get("parent_id") or "") or None
    centre_id = str(form.get("id", ""))
    if (parent is None and not _sees_everything(page.user)) or (
        parent is not None and parent not in page.visible
    ):
        return _centres_page(page, session, error=page.t("forbidden"), status=403)
    if session.get(Centre, centre_id) is not None:
        return _centres_page(page, session, error=f"{centre_id}: exists", status=422)
    try:
        devices_service.ensure_centre(
            session,
            centre_id,
            str(form.get("name", "")) or centre_id,
            str(form.get("level", "county")),
            parent,
        )
    except ValueError as exc:
        session.rollback()
        return _centres_page(page, session, error=str(exc), status=422)
    audit(
        session,
        actor=page.user,
        action="centre.create",
        target_type="centre",
        target_id=centre_id,
        centre_id=centre_id,
        ip=client_ip(page.request),
    )
    session.commit()
    return RedirectResponse("/centres", status_code=303)


# -- API tokens -------------------------------------------------------------------------


def _tokens_page(
    page: PageContext,
    session: SessionDep,
    *,
    error: str = "",
    status: int = 200,
    created: tuple[ApiToken, str] | None = None,
) -> Response:
    query = scoped(select(ApiToken), ApiToken.centre_id, page.visible)
    tokens = session.exec(query.order_by(col(ApiToken.id).desc())).all()
    permissions = grantable_permissions(page)
    response = page.render(
        "tokens.html",
        status_code=status,
        tokens=tokens,
        centres=sorted(page.visible),
        permissions=permissions,
        error=error,
        created=created,
    )
    if created is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


def _visible_token(page: PageContext, session: SessionDep, token_id: int) -> ApiToken:
    return _visible_row(page, session, ApiToken, token_id)


@router.get("/tokens", dependencies=[page_permission("users.manage")])
def tokens_page(page: Page, session: SessionDep) -> Response:
    return _tokens_page(page, session)


@router.post("/tokens", dependencies=[page_permission("users.manage")])
def tokens_create(page: Page, form: CheckedForm, session: SessionDep) -> Response:
    centre_id = str(form.get("centre_id") or "")
    if centre_id not in page.visible:
        raise HTTPException(status_code=404, detail=page.t("not_found"))
    name = str(form.get("name") or "").strip()
    permissions = [str(p) for p in form.getlist("permissions")]
    if not name or len(name) > 100 or not permissions:
        return _tokens_page(page, session, error=page.t("token_invalid"), status=422)
    try:
        created = auth_service.create_api_token(
            session,
            name=name,
            centre_id=centre_id,
            permissions=permissions,
            created_by=page.user,
            ip=client_ip(page.request),
        )
    except (ValueError, auth_service.GrantDenied) as exc:
        session.rollback()
        return _tokens_page(page, session, error=str(exc), status=422)
    return _tokens_page(page, session, created=created)


@router.post("/tokens/{token_id}/revoke", dependencies=[page_permission("users.manage")])
def tokens_revoke(page: Page, form: CheckedForm, session: SessionDep, token_id: int) -> Response:
    token = _visible_token(page, session, token_id)
    try:
        auth_service.revoke_api_token(
            session, token.id or 0, actor=page.user, ip=client_ip(page.request)
        )
    except auth_service.GrantDenied as exc:
        session.rollback()
        return _tokens_page(page, session, error=str(exc), status=403)
    return RedirectResponse("/tokens", status_code=303)
