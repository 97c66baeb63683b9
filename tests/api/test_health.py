from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from collector.api.app import create_app, is_loopback
from tests.api.support import ApiTestRuntime


def test_healthz_always_ok(runtime: ApiTestRuntime, client: TestClient) -> None:
    runtime.ready = False
    assert client.get("/healthz").status_code == 200


def test_readyz(runtime: ApiTestRuntime, client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["not_ready"] == []

    runtime.publisher.connected = False
    runtime.ready = False
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["not_ready"] == ["mqtt"]

    runtime.publisher.connected = True
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["not_ready"] == ["runtime"]


def test_readyz_reports_database(runtime: ApiTestRuntime, client: TestClient) -> None:
    healthy = runtime.engine
    runtime.engine = create_engine("sqlite:////proc/nonexistent/x.db")
    try:
        r = client.get("/readyz")
    finally:
        runtime.engine.dispose()
        runtime.engine = healthy
    assert r.status_code == 503 and r.json()["not_ready"] == ["database"]


def test_metrics_text(client: TestClient) -> None:
    client.get("/api/v1/devices")
    client.get("/api/v1/devices/nope")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "prtc_events_stored_total 3.0" in text
    assert 'prtc_http_requests_total{method="GET",route="/api/v1/devices",status="200"} 1.0' in text
    assert 'route="/api/v1/devices/{device_id}",status="404"' in text


def test_openapi_docs_served(client: TestClient) -> None:
    assert client.get("/api/docs").status_code == 200
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/files/{file_id}" in spec["paths"]


def test_non_loopback_host_warns(runtime: ApiTestRuntime, caplog: pytest.LogCaptureFixture) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    runtime.settings.http.host = "0.0.0.0"
    with caplog.at_level(logging.WARNING, logger="collector.api.app"):
        create_app(runtime)
    assert "SECURITY" in caplog.text
