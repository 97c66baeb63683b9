"""Users, their menu permissions, centres and API tokens."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response
from sqlmodel import col, select

from collector.api.deps import (
    RuntimeDep,
    SessionDep,
    client_ip,
    sees_everything,
)
from collector.auth import service as auth_service
from collector.auth.audit import audit
from collector.auth.models import ApiToken, User
from collector.auth.permissions import PERMISSION_LABELS, ROLE_LABELS, Permission, Role
from collector.auth.scope import scoped
from collector.centres.models import Centre, CentreLevel
from collector.console.deps import (
    CheckedForm,
    Page,
    PageContext,
    page_permission,
    visible_row,
)
from collector.db_types import utcnow
from collector.devices import service as devices_service

router = APIRouter(include_in_schema=False)


def grantable_permissions(page: PageContext) -> list[tuple[str, str]]:
    """(value, label) of the permissions the signed-in user holds and so may grant."""
    held = auth_service.permissions_of(page.user)
    idx = 0 if page.lang == "zh" else 1
    return [(p.value, PERMISSION_LABELS[p][idx]) for p in Permission if p.value in held]


def _users_page(page: PageContext, session: SessionDep, error: str = "", status: int = 200):
    query = select(User)
    if not sees_everything(page.user):
        query = scoped(query, User.centre_id, page.visible)
    users = session.exec(query.order_by(col(User.username))).all()
    roles = [(r.value, ROLE_LABELS[r][0 if page.lang == "zh" else 1]) for r in Role]
    if not sees_everything(page.user):
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
        sees_everything(page.user)
        or (user.centre_id is not None and user.centre_id in page.visible)
    ):
        raise HTTPException(status_code=404, detail=page.t("not_found"))
    return user


def _change_user(page: PageContext, session: SessionDep, change: Callable[[], object]) -> Response:
    """Apply a change to a user; a change the actor may not make shows the list with why."""
    try:
        change()
    except (ValueError, auth_service.GrantDenied) as exc:
        session.rollback()
        return _users_page(page, session, error=str(exc), status=403)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/enabled", dependencies=[page_permission("users.manage")])
def users_enabled(page: Page, form: CheckedForm, session: SessionDep, user_id: int) -> Response:
    user = _visible_user(page, session, user_id)
    enabled = str(form.get("enabled", "")) == "1"
    if not enabled and user.id == page.user.id:
        return _users_page(page, session, error=page.t("cannot_disable_self"), status=422)
    return _change_user(
        page,
        session,
        lambda: auth_service.update_user(
            session, user, enabled=enabled, actor=page.user, ip=client_ip(page.request)
        ),
    )


@router.post("/users/{user_id}/unlock", dependencies=[page_permission("users.manage")])
def users_unlock(page: Page, form: CheckedForm, session: SessionDep, user_id: int) -> Response:
    user = _visible_user(page, session, user_id)
    return _change_user(
        page,
        session,
        lambda: auth_service.unlock_user(
            session, user, actor=page.user, ip=client_ip(page.request)
        ),
    )


@router.post("/users/{user_id}/permissions", dependencies=[page_permission("users.manage")])
def users_permissions(page: Page, form: CheckedForm, session: SessionDep, user_id: int) -> Response:
    """Menu-level permissions granted to one user on top of the role (菜单授权)."""
    user = _visible_user(page, session, user_id)
    granted = [str(v) for v in form.getlist("permissions")]
    return _change_user(
        page,
        session,
        lambda: auth_service.update_user(
            session, user, extra_permissions=granted, actor=page.user, ip=client_ip(page.request)
        ),
    )


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
    if (parent is None and not sees_everything(page.user)) or (
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
    return page.render(  # no-store, as every page (security headers): it may show a token
        "tokens.html",
        status_code=status,
        tokens=tokens,
        centres=sorted(page.visible),
        permissions=permissions,
        error=error,
        created=created,
    )


def _visible_token(page: PageContext, session: SessionDep, token_id: int) -> ApiToken:
    return visible_row(page, session, ApiToken, token_id)


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
