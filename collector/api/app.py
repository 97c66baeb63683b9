"""The collector's FastAPI application.

Every route under ``/api/v1`` (except login) needs a session cookie or an API token and the
permission it declares; ``/healthz``, ``/readyz`` and ``/metrics`` stay open. The console
pages (``collector.console``) are mounted at ``/``.
"""

from __future__ import annotations

import ipaddress
import logging
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, FastAPI, Request, Response

from collector.api.body_limit import BodyLimitMiddleware
from collector.api.deps import ApiRuntime
from collector.api.http_metrics import HttpMetrics, HttpMetricsMiddleware
from collector.api.routes import auth, commands, dead_letters, devices, events, files, health
from collector.api.security_headers import SecurityHeadersMiddleware
from collector.files.service import FileService
from collector.modules.registry import modules
from collector.security.csrf import CsrfProtector

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def _package_version() -> str:
    try:
        return version("prtc-site")
    except PackageNotFoundError:
        return "0+unknown"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(runtime: ApiRuntime) -> FastAPI:
    """Build the API over a running (or starting) runtime; nothing is started here."""
    settings = runtime.settings
    if not is_loopback(settings.http.host):
        log.warning(
            "SECURITY: http.host=%r is not a loopback address: put TLS in front of the console "
            "(a reverse proxy) so that passwords and session cookies are not sent in clear.",
            settings.http.host,
        )
    app = FastAPI(
        title="PRTC collector",
        version=_package_version(),
        description="Devices, events, commands, desired configuration and files of the fleet.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.runtime = runtime
    app.state.files = FileService(
        runtime.file_store, max_upload_bytes=settings.files.max_upload_bytes
    )
    app.state.csrf = CsrfProtector(settings.secret_key)
    app.state.http_metrics = HttpMetrics()
    app.add_middleware(
        BodyLimitMiddleware,
        body_bytes=settings.http.max_body_bytes,
        import_bytes=settings.http.max_import_bytes,
    )
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.http_metrics)
    app.add_middleware(SecurityHeadersMiddleware)

    app.include_router(health.router)
    api = APIRouter(prefix=API_PREFIX)
    for routes in (auth, devices, events, dead_letters, commands, files):
        api.include_router(routes.router)
    for module in modules():
        if module.api_router is not None:
            api.include_router(module.api_router)
    app.include_router(api)
    mount_console(app)
    return app


def mount_console(app: FastAPI) -> None:
    """The console's pages, its live streams and its static files, at ``/``."""
    from fastapi.responses import PlainTextResponse, RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from collector.console import live, pages
    from collector.console.deps import (
        CsrfRejected,
        LoginRequired,
        PageForbidden,
        login_redirect_url,
    )
    from web_console import STATIC

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/console/events/"):
            return PlainTextResponse("login required", status_code=401)
        return RedirectResponse(login_redirect_url(exc.next_url, exc.expired), status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return PlainTextResponse(f"无权访问 / forbidden: {exc.permission}", status_code=403)

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        return PlainTextResponse("CSRF 校验失败 / CSRF check failed", status_code=403)

    app.include_router(live.router)
    app.include_router(pages.router)
    for module in modules():
        if module.page_router is not None:
            app.include_router(module.page_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
