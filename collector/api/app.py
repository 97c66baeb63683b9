"""The collector's FastAPI application.

Security note: the API has no authentication yet (it arrives with the console's login). Until
then it must listen on a loopback address only (``http.host`` 127.0.0.1 / ::1 / localhost, the
default). :func:`create_app` logs a loud warning at start-up when ``http.host`` is anything
else; whoever binds the server (the CLI) binds to ``settings.http.host``.
"""

from __future__ import annotations

import ipaddress
import logging
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, FastAPI

from collector.api.deps import ApiRuntime
from collector.api.http_metrics import HttpMetrics, HttpMetricsMiddleware
from collector.api.routes import commands, dead_letters, devices, events, files, health
from collector.files.service import FileService

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
            "SECURITY: the collector API has no authentication yet and http.host=%r is not a "
            "loopback address; anyone who can reach it can send commands and read every "
            "event. Bind to 127.0.0.1 until authentication is configured.",
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
    app.state.http_metrics = HttpMetrics()
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.http_metrics)

    app.include_router(health.router)
    api = APIRouter(prefix=API_PREFIX)
    for module in (devices, events, dead_letters, commands, files):
        api.include_router(module.router)
    app.include_router(api)
    return app
