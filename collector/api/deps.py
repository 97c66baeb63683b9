"""Route dependencies as ``Annotated`` aliases: what a route needs reads as its signature."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Path, Query, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.auth import service as auth_service
from collector.auth.models import ApiToken, User
from collector.auth.permissions import Role
from collector.auth.scope import visible_centre_ids
from collector.auth.throttle import LoginThrottle
from collector.devices import service as devices_service
from collector.devices.models import Device
from collector.files.service import FileService
from collector.files.store import FileStore
from collector.publisher import Publisher
from collector.security.csrf import HEADER as CSRF_HEADER
from collector.security.csrf import CsrfProtector
from collector.settings import CollectorSettings
from contract.topics import IDENTIFIER_PATTERN


class HasRegistry(Protocol):
    @property
    def registry(self) -> CollectorRegistry: ...


class ApiRuntime(Protocol):
    """What the API needs of :class:`collector.runtime.Runtime`, and nothing more."""

    @property
    def settings(self) -> CollectorSettings: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def publisher(self) -> Publisher: ...

    @property
    def file_store(self) -> FileStore: ...

    @property
    def metrics(self) -> HasRegistry: ...

    @property
    def ready(self) -> bool: ...

    @property
    def login_throttle(self) -> LoginThrottle: ...


def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A session for one request; routes read and call services, services commit."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_publisher(runtime: RuntimeDep) -> Publisher:
    return runtime.publisher


PublisherDep = Annotated[Publisher, Depends(get_publisher)]


def get_file_store(runtime: RuntimeDep) -> FileStore:
    return runtime.file_store


FileStoreDep = Annotated[FileStore, Depends(get_file_store)]


def get_file_service(request: Request) -> FileService:
    files: FileService = request.app.state.files
    return files


FileServiceDep = Annotated[FileService, Depends(get_file_service)]


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="rows per page")] = 50,
    offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageParams = Annotated[Page, Depends(page_params)]

DeviceIdPath = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="device id")]


# -- who is asking ------------------------------------------------------------------------

SESSION_COOKIE = "prtc_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Principal = User | ApiToken


def csrf_protector(request: Request) -> CsrfProtector:
    csrf: CsrfProtector = request.app.state.csrf
    return csrf


CsrfDep = Annotated[CsrfProtector, Depends(csrf_protector)]


def actor_name(principal: Principal) -> str:
    """How a principal is named in ``created_by`` columns."""
    if isinstance(principal, User):
        return principal.username
    return f"token:{principal.name}"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def optional_principal(
    request: Request, session: SessionDep, runtime: RuntimeDep
) -> Principal | None:
    """The user of the session cookie or the API token of ``Authorization: Bearer``, or None.

    A bearer token wins over a cookie. Cookie-authenticated requests that change state must
    carry ``X-CSRF-Token`` (console forms post the ``csrf_token`` field instead and are
    checked by the page); bearer requests need none, since browsers never add that header
    on their own.
    """
    policy = runtime.settings.auth
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        token = auth_service.resolve_api_token(session, credentials.strip(), policy=policy)
        if token is None:
            raise HTTPException(
                status_code=401,
                detail="invalid or revoked API token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.principal = token
        return token
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    user = auth_service.resolve_session(session, cookie, policy=policy)
    if user is not None:
        request.state.principal = user
    return user


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def current_principal(request: Request, principal: OptionalPrincipal, csrf: CsrfDep) -> Principal:
    """The authenticated user or API token; 401 without one, 403 on a missing CSRF token."""
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(principal, User) and request.method not in SAFE_METHODS:
        token = request.headers.get(CSRF_HEADER)
        if not csrf.verify(request.cookies.get(SESSION_COOKIE), token):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: str) -> Any:
    """A dependency (for ``dependencies=[...]``) that answers 403 unless the principal holds
    ``permission``: ``@router.get("/x", dependencies=[require("devices.view")])``."""

    def check(principal: CurrentPrincipal) -> None:
        if not auth_service.has_permission(principal, permission):
            raise HTTPException(status_code=403, detail=f"permission {permission!r} required")

    check.required_permission = permission  # type: ignore[attr-defined]
    return Depends(check)


def visible_centres(session: SessionDep, principal: CurrentPrincipal) -> frozenset[str]:
    return frozenset(visible_centre_ids(session, principal))


VisibleCentres = Annotated[frozenset[str], Depends(visible_centres)]


def sees_everything(principal: Principal) -> bool:
    """System administrators also see rows that belong to no centre (unknown senders)."""
    return isinstance(principal, User) and principal.enabled and principal.role == Role.SYSTEM_ADMIN


def within(requested: list[str] | str | None, visible: frozenset[str]) -> set[str]:
    """The requested centre filter cut down to the visible centres (all visible if None)."""
    if requested is None:
        return set(visible)
    wanted = {requested} if isinstance(requested, str) else set(requested)
    return wanted & visible


def require_visible(centre_id: str, visible: frozenset[str]) -> None:
    """404 for a centre outside the caller's (the same answer as for one that does not exist)."""
    if centre_id not in visible:
        raise HTTPException(status_code=404, detail=f"unknown centre {centre_id!r}")


def existing_device(
    device_id: DeviceIdPath, session: SessionDep, visible: VisibleCentres
) -> Device:
    """The device named in the path, or 404 (also when it is outside the caller's centres)."""
    device = devices_service.get_device(session, device_id)
    if device is None or device.centre_id not in visible:
        raise HTTPException(status_code=404, detail=f"unknown device {device_id!r}")
    return device


DeviceDep = Annotated[Device, Depends(existing_device)]
