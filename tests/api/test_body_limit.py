"""Body limits before any route reads a body: JSON and forms small, imports larger, the
resumable upload chunks left to the file service."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from collector.api.app import create_app
from tests.api.support import ADMIN_PASSWORD, ApiTestRuntime, log_in

SMALL = 64 * 1024
IMPORT = 1024 * 1024


@pytest.fixture
def limited(runtime: ApiTestRuntime) -> Iterator[TestClient]:
    runtime.settings.http.max_body_bytes = SMALL
    runtime.settings.http.max_import_bytes = IMPORT
    with TestClient(create_app(runtime)) as client:
        log_in(client, "admin", ADMIN_PASSWORD)
        yield client


def test_a_large_json_body_is_refused_before_the_route(limited: TestClient) -> None:
    padding = "x" * SMALL
    r = limited.post("/api/v1/auth/login", json={"username": "admin", "password": padding})
    assert r.status_code == 413
    assert r.json()["detail"]["limit"] == SMALL

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"username": "admin", "password": "'
        for _ in range(SMALL // 8192 + 1):
            yield b"y" * 8192
        yield b'"}'

    r = limited.post(
        "/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    # a body within the limit still reaches the route
    r = limited.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"})
    assert r.status_code == 401


def test_imports_have_their_own_limit(limited: TestClient) -> None:
    csv = b"not,the,template\n" * (200 * 1024 // 17)  # larger than the JSON limit
    r = limited.post(
        "/api/v1/venue-scans/import/c1", content=csv, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 422  # the route read it and checked the columns
    r = limited.post(
        "/api/v1/venue-scans/import/c1",
        content=csv * 6,
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 413 and r.json()["detail"]["limit"] == IMPORT


def test_upload_chunks_are_left_to_the_file_service(limited: TestClient) -> None:
    data = os.urandom(IMPORT + 500_000)
    body = {"name": "录像.mp4", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    created = limited.post("/api/v1/files", json=body).json()
    r = limited.patch(
        created["upload_url"],
        content=data,
        headers={"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
    )
    assert r.status_code == 204 and r.headers["Upload-State"] == "complete"
