"""Log in, log out, and the home page (the first page of the user's menu)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from collector.api.deps import (
    SESSION_COOKIE,
    CsrfDep,
    RuntimeDep,
    SessionDep,
    client_ip,
)
from collector.api.routes.auth import login_user, set_session_cookie
from collector.auth import service as auth_service
from collector.auth.throttle import TooManyAttempts
from collector.console.deps import (
    LOGIN_NONCE_COOKIE,
    CheckedForm,
    Page,
    remember_language,
    templates,
)
from collector.console.i18n import request_language, translate

router = APIRouter(include_in_schema=False)


def _safe_next(url: str | None) -> str:
    return url if url and url.startswith("/") and not url.startswith("//") else "/"


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
    except TooManyAttempts as exc:
        response = login_page(request, csrf, next=next_url, error=str(exc), status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
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
