"""Login and logout for the console and scripts: a session cookie plus a CSRF token."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from collector.api.deps import (
    SESSION_COOKIE,
    CsrfDep,
    CurrentPrincipal,
    RuntimeDep,
    SessionDep,
    client_ip,
)
from collector.auth import service as auth_service
from collector.auth.models import User
from collector.auth.throttle import TooManyAttempts

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class LoginOut(BaseModel):
    username: str
    role: str
    centre_id: str | None
    permissions: list[str]
    csrf_token: str = Field(description="send as X-CSRF-Token with state-changing requests")


def set_session_cookie(response: Response, token: str, request: Request) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def login_user(
    request: Request, session: SessionDep, runtime: RuntimeDep, username: str, password: str
) -> tuple[User, str]:
    """Check the password (lockout and the per-address limit included) and open a session;
    raises ``AuthError``."""
    policy = runtime.settings.auth
    ip = client_ip(request)
    runtime.login_throttle.check(ip)
    try:
        user = auth_service.authenticate(session, username, password, ip, policy=policy)
    except (auth_service.InvalidCredentials, auth_service.AccountLocked):
        runtime.login_throttle.failed(ip)
        raise
    token = auth_service.start_session(
        session,
        user,
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
        policy=policy,
    )
    return user, token


@router.post("/login", response_model=LoginOut, responses={401: {}, 423: {}, 429: {}})
def login(
    body: LoginIn,
    request: Request,
    response: Response,
    session: SessionDep,
    runtime: RuntimeDep,
    csrf: CsrfDep,
) -> LoginOut:
    try:
        user, token = login_user(request, session, runtime, body.username, body.password)
    except auth_service.AccountLocked as exc:
        raise HTTPException(status_code=423, detail=str(exc)) from exc
    except TooManyAttempts as exc:
        raise HTTPException(
            status_code=429, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from exc
    except auth_service.AuthError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from exc
    set_session_cookie(response, token, request)
    return LoginOut(
        username=user.username,
        role=user.role.value,
        centre_id=user.centre_id,
        permissions=sorted(auth_service.permissions_of(user)),
        csrf_token=csrf.issue(token),
    )


@router.post("/logout", status_code=204)
def logout(request: Request, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """End the cookie's session (a CSRF token is required like any cookie POST)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and isinstance(principal, User):
        auth_service.end_session(session, cookie, ip=client_ip(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
