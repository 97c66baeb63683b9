"""The provincial expert-database sync against a real local HTTP server: retries on server
errors with backoff, and every record delivered exactly once on success."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.modules.experts import service, sync
from collector.modules.experts.models import SyncRecord
from collector.modules.experts.settings import ExpertsSettings
from contract.payloads.entrance import person_hash
from tests.api.support import ApiTestRuntime
from tests.modules.experts.support import admission, feed_admissions
from tests.modules.experts.test_experts import ZHANG, platform, project_body, rooms, the_session

__all__ = ["platform", "rooms"]


class Province:
    """A stand-in provincial endpoint: answers 500 to the first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        province = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 500 if len(province.requests) < province.failures else 201
                province.requests.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/expert-access"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[str]:
        return [h["Idempotency-Key"] for s, h, _ in self.requests if 200 <= s < 300]


@pytest.fixture
def province() -> Iterator[Province]:
    p = Province(failures=2)
    yield p
    p.server.shutdown()
    p.server.server_close()


def test_sync_retries_server_errors_and_delivers_each_record_once(
    runtime: ApiTestRuntime, platform: TestClient, province: Province
) -> None:
    settings = ExpertsSettings(
        sync_url=province.url,
        sync_token="prov-token",
        sync_field_map={"id_number": "sfzh", "name": "xm"},
        sync_backoff_base_s=30,
    )
    assert platform.put("/api/v1/experts/projects", json=project_body()).status_code == 200
    row = the_session(runtime)
    key = service.gate_key(runtime.settings.secret_key, "c1")
    at = row.planned_start - timedelta(minutes=20)
    passes = [
        admission(
            at=at + timedelta(minutes=i),
            gate="d2",
            session_id=str(row.id),
            person_hash=person_hash(key, ZHANG),
        )
        for i in range(3)
    ]
    feed_admissions(runtime.engine, "c1", settings, runtime.settings.secret_key, *passes)
    now = at + timedelta(minutes=5)
    with Session(runtime.engine) as session:
        assert len(session.exec(select(SyncRecord)).all()) == 4  # 3 admissions, 1 sign-in
        assert sync.deliver_due(session, settings, now=now) == (2, 2)
        assert sync.deliver_due(session, settings, now=now + timedelta(seconds=10)) == (0, 0)
        assert sync.deliver_due(session, settings, now=now + timedelta(seconds=31)) == (2, 0)
        assert sync.deliver_due(session, settings, now=now + timedelta(days=1)) == (0, 0)
        records = session.exec(select(SyncRecord)).all()
        assert all(r.delivered_at is not None for r in records)
        assert sorted(r.attempts for r in records) == [1, 1, 2, 2]
    delivered = province.delivered()
    assert len(delivered) == 4 and len(set(delivered)) == 4
    assert len(province.requests) == 6
    _, headers, body = next(r for r in province.requests if r[2]["record_type"] == "signin")
    assert headers["Authorization"] == "Bearer prov-token"
    assert body["sfzh"] == ZHANG and body["xm"] == "张三" and "id_number" not in body
    assert body["project_number"] == "JSGC-2026-018"


def test_sync_survives_an_unreachable_endpoint(
    runtime: ApiTestRuntime, platform: TestClient
) -> None:
    settings = ExpertsSettings(sync_url="http://127.0.0.1:9/nowhere", sync_timeout_s=1)
    assert platform.put("/api/v1/experts/projects", json=project_body()).status_code == 200
    row = the_session(runtime)
    feed_admissions(
        runtime.engine,
        "c1",
        settings,
        runtime.settings.secret_key,
        admission(
            at=row.planned_start,
            gate="d2",
            session_id=None,
            person_hash="a" * 64,
            decision="refused",
            reason="not_on_roster",
        ),
    )
    with Session(runtime.engine) as session:
        assert sync.deliver_due(session, settings, now=row.planned_start) == (0, 1)
        record = session.exec(select(SyncRecord)).one()
        assert record.delivered_at is None and record.attempts == 1 and record.last_error
        assert record.next_attempt_at == row.planned_start + timedelta(seconds=30)
