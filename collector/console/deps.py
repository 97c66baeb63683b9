"""What a console page needs: the logged-in user (or a redirect to the login page), the
permission of the page, CSRF on forms, and the context every template gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Annotated, Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from collector.api.deps import SESSION_COOKIE, CsrfDep, RuntimeDep, SessionDep
from collector.auth import service as auth_service
from collector.auth.models import User
from collector.auth.scope import visible_centre_ids
from collector.console.i18n import LANG_COOKIE, LANGUAGES, request_language, translate
from collector.console.menu import menu_for
from collector.security.csrf import FORM_FIELD
from web_console import TEMPLATES

templates = Jinja2Templates(directory=str(TEMPLATES))


def local_time(value: datetime | None, tz: tzinfo) -> str:
    """A stored (UTC) time as people at the centre read it: ``2026-11-23 21:04:40``."""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def display_zone(runtime: Any) -> tzinfo:
    return ZoneInfo(runtime.settings.timezone)


class LoginRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to ``/login``."""

    def __init__(self, next_url: str, expired: bool = False) -> None:
        self.next_url = next_url
        self.expired = expired


class PageForbidden(Exception):
    def __init__(self, permission: str) -> None:
        self.permission = permission


class CsrfRejected(Exception):
    pass


def page_user(request: Request, session: SessionDep, runtime: RuntimeDep) -> User:
    """The user of the session cookie; pages accept no API tokens."""
    cookie = request.cookies.get(SESSION_COOKIE)
    user = None
    if cookie:
        user = auth_service.resolve_session(session, cookie, policy=runtime.settings.auth)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target, expired=bool(cookie))
    return user


PageUser = Annotated[User, Depends(page_user)]


def page_permission(permission: str) -> Any:
    """``dependencies=[page_permission("devices.view")]`` on a page route."""

    def check(user: PageUser) -> None:
        if not auth_service.has_permission(user, permission):
            raise PageForbidden(permission)

    check.required_permission = permission  # type: ignore[attr-defined]
    return Depends(check)


async def checked_form(request: Request, csrf: CsrfDep) -> FormData:
    """The posted form, after its ``csrf_token`` field was checked against the session."""
    form = await request.form()
    token = form.get(FORM_FIELD)
    bound = request.cookies.get(SESSION_COOKIE) or request.cookies.get(LOGIN_NONCE_COOKIE)
    if not isinstance(token, str) or not csrf.verify(bound, token):
        raise CsrfRejected()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]

LOGIN_NONCE_COOKIE = "prtc_login"


@dataclass
class PageContext:
    """Everything the layout needs; pages add their own keys with :meth:`render`."""

    request: Request
    user: User
    lang: str
    csrf_token: str
    visible: frozenset[str]
    tz: tzinfo

    def t(self, key: str) -> str:
        return translate(self.lang, key)

    def render(self, template: str, status_code: int = 200, **values: Any) -> Any:
        response = templates.TemplateResponse(
            self.request,
            template,
            {
                "t": self.t,
                "localtime": lambda value: local_time(value, self.tz),
                "lang": self.lang,
                "user": self.user,
                "menu": menu_for(self.user),
                "csrf_token": self.csrf_token,
                "path": self.request.url.path,
                **values,
            },
            status_code=status_code,
        )
        remember_language(self.request, response)
        return response


def remember_language(request: Request, response: Any) -> None:
    """``?lang=`` switches the language and is remembered in a cookie."""
    lang = request.query_params.get("lang")
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax", path="/", max_age=365 * 86400)


def page_context(
    request: Request, user: PageUser, session: SessionDep, csrf: CsrfDep, runtime: RuntimeDep
) -> PageContext:
    return PageContext(
        request=request,
        user=user,
        lang=request_language(request),
        csrf_token=csrf.issue(request.cookies.get(SESSION_COOKIE, "")),
        visible=frozenset(visible_centre_ids(session, user)),
        tz=display_zone(runtime),
    )


Page = Annotated[PageContext, Depends(page_context)]


def login_redirect_url(next_url: str, expired: bool) -> str:
    return f"/login?next={quote(next_url, safe='')}" + ("&expired=1" if expired else "")


PAGE_SIZE = 50

T = TypeVar("T")


def visible_row(page: PageContext, session: SessionDep, model: type[T], key: object) -> T:
    """The row of a centre the user sees, else 404 (never 403: ids are not confirmed)."""
    row = session.get(model, key)
    if row is None or getattr(row, "centre_id", None) not in page.visible:
        raise HTTPException(status_code=404, detail=page.t("not_found"))
    return row
