"""Request counters and latencies of the API, labelled by route template (never raw path)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    """The API's own registry, so that several apps (tests) never collide in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "prtc_http_requests",
            "HTTP requests answered by the collector API",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "prtc_http_request_duration_seconds",
            "time to answer an HTTP request, to the last byte",
            ["method", "route"],
            registry=self.registry,
        )


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_label(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(time.perf_counter() - started)


def _route_label(scope: Scope) -> str:
    """The path template of the matched route, e.g. ``/api/v1/devices/{device_id}``.

    Rebuilt from the request path and its path parameters, because a route included through
    a prefixed router does not carry the prefix in ``scope["route"]``.
    """
    if scope.get("route") is None:
        return "unmatched"
    by_value = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    segments = str(scope.get("path", "")).split("/")
    return "/".join(f"{{{by_value[s]}}}" if s in by_value else s for s in segments)
