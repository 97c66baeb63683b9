"""Liveness, readiness and Prometheus metrics (outside ``/api/v1``: probes and scrapers
expect fixed paths)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from collector.api.deps import RuntimeDep

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a part is not ready"}})
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """200 when the runtime is ready (database reachable, MQTT connected), else 503 naming
    the parts that are not."""
    checks = {"database": _database_ok(runtime), "mqtt": bool(runtime.publisher.connected)}
    ready = bool(runtime.ready) and all(checks.values())
    if not ready and all(checks.values()):
        checks["runtime"] = False  # both parts fine, the runtime itself not (yet) ready
    body = {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "not_ready": sorted(k for k, ok in checks.items() if not ok),
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Prometheus text: the runtime's registry followed by the API's HTTP metrics."""
    body = generate_latest(runtime.metrics.registry)
    body += generate_latest(request.app.state.http_metrics.registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


def _database_ok(runtime: RuntimeDep) -> bool:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready", never a 500
        log.warning("readiness: database check failed: %s", exc)
        return False
    return True
