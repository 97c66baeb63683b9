from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select
from starlette.types import Message, Scope

from collector import jobs
from collector.api.app import create_app
from collector.auth.models import AuditEntry
from collector.files.models import StoredFile, UploadState
from collector.files.service import FileService, UploadBusy, partial_key
from collector.files.store import InvalidKey, LocalFileStore
from tests.api.support import ApiTestRuntime, error_fields

PATCH_HEADERS = {"Content-Type": "application/offset+octet-stream"}


def _create(client: TestClient, data: bytes, **extra: Any) -> dict[str, Any]:
    body = {"name": "会议记录.mp4", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    r = client.post("/api/v1/files", json={**body, **extra})
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == "0"
    assert r.headers["Location"] == r.json()["upload_url"]
    return r.json()


def _patch(client: TestClient, url: str, offset: int, chunk: bytes) -> Any:
    return client.patch(url, content=chunk, headers={**PATCH_HEADERS, "Upload-Offset": str(offset)})


def _head_offset(client: TestClient, url: str) -> int:
    r = client.head(url)
    assert r.status_code == 200
    return int(r.headers["Upload-Offset"])


def _credentials(client: TestClient) -> list[tuple[bytes, bytes]]:
    """The logged-in client's session cookie and CSRF header, for raw ASGI calls."""
    cookie = f"prtc_session={client.cookies['prtc_session']}"
    return [
        (b"cookie", cookie.encode()),
        (b"x-csrf-token", client.headers["X-CSRF-Token"].encode()),
    ]


async def _raw_patch(
    app: FastAPI,
    path: str,
    offset: int,
    parts: list[bytes],
    declared: int | None,
    credentials: list[tuple[bytes, bytes]],
) -> list[Message]:
    """PATCH straight into the ASGI app: the body arrives in ``parts``; when ``declared``
    is larger than what the parts hold, the client vanishes after the last part."""
    sent = sum(len(p) for p in parts)
    messages: list[Message] = [
        {"type": "http.request", "body": p, "more_body": True} for p in parts[:-1]
    ]
    messages.append(
        {"type": "http.request", "body": parts[-1], "more_body": bool(declared and declared > sent)}
    )
    if declared and declared > sent:
        messages.append({"type": "http.disconnect"})
    replies: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: Message) -> None:
        replies.append(message)

    headers = [
        (b"host", b"testserver"),
        (b"upload-offset", str(offset).encode()),
        (b"content-type", PATCH_HEADERS["Content-Type"].encode()),
        *credentials,
    ]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return replies


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "after-restart"])
def test_upload_three_chunks_with_interruption_and_resume(
    runtime: ApiTestRuntime, app: FastAPI, client: TestClient, restart: bool
) -> None:
    data = os.urandom(2_500_000)
    created = _create(client, data, device_id="d2", meta={"project": "P-1"})
    assert created["offset"] == 0 and created["state"] == "uploading"
    assert created["centre_id"] == "c1"
    url, path = created["upload_url"], f"/api/v1/files/{created['id']}"

    first = 900_000
    r = _patch(client, url, 0, data[:first])
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(first)

    # The second chunk breaks off after 400 000 of its 900 000 bytes.
    parts = [data[first:1_100_000], data[1_100_000:1_300_000]]
    replies = anyio.run(_raw_patch, app, path, first, parts, 900_000, _credentials(client))
    assert replies[0]["status"] == 204

    if restart:  # a new process: no lock, no incremental hash state
        app = create_app(runtime)
        client = TestClient(app, cookies=client.cookies, headers=dict(client.headers))
    offset = _head_offset(client, url)
    assert offset == 1_300_000

    r = _patch(client, url, offset, data[offset:])
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(len(data))
    assert r.headers["Upload-State"] == "complete"

    meta = client.get(path).json()
    assert meta["state"] == "complete" and meta["offset"] == len(data)
    assert meta["completed_at"] is not None and meta["meta"] == {"project": "P-1"}
    body = client.get(meta["content_url"])
    assert body.status_code == 200 and body.content == data
    assert body.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert "filename*=UTF-8''%E4%BC%9A" in body.headers["Content-Disposition"]
    assert not runtime.file_store.exists(partial_key(created["id"]))


def test_wrong_offset_is_409_with_current_offset(client: TestClient) -> None:
    data = os.urandom(1000)
    url = _create(client, data)["upload_url"]
    assert _patch(client, url, 0, data[:400]).status_code == 204
    for wrong in (0, 399, 401, 1000):
        r = _patch(client, url, wrong, data[wrong:])
        assert r.status_code == 409
        assert r.json()["offset"] == 400 and r.headers["Upload-Offset"] == "400"
    assert _head_offset(client, url) == 400
    assert error_fields(client.patch(url, content=b"x")) == {"upload-offset"}


def test_bad_checksum_is_422_and_nothing_is_kept(
    runtime: ApiTestRuntime, client: TestClient
) -> None:
    data = os.urandom(5000)
    wrong = hashlib.sha256(b"something else").hexdigest()
    created = _create(client, data, sha256=wrong)
    url = created["upload_url"]
    assert _patch(client, url, 0, data[:2000]).status_code == 204
    r = _patch(client, url, 2000, data[2000:])
    assert r.status_code == 422
    assert r.json()["expected"] == wrong
    assert r.json()["actual"] == hashlib.sha256(data).hexdigest()

    meta = client.get(f"/api/v1/files/{created['id']}").json()
    assert meta["state"] == "failed"
    assert client.get(meta["content_url"]).status_code == 409
    assert _patch(client, url, 5000, b"").status_code == 409
    assert [p for p in Path(runtime.settings.files.root).rglob("*") if p.is_file()] == []


def test_body_past_declared_size_is_413_and_discarded(client: TestClient) -> None:
    data = os.urandom(1000)
    url = _create(client, data)["upload_url"]
    assert _patch(client, url, 0, data[:600]).status_code == 204
    r = _patch(client, url, 600, data[600:] + b"extra")
    assert r.status_code == 413 and r.json()["offset"] == 600
    assert _head_offset(client, url) == 600
    assert _patch(client, url, 600, data[600:]).status_code == 204


def test_streamed_body_past_declared_size_is_413(app: FastAPI, client: TestClient) -> None:
    data = os.urandom(3 * 2**20)
    created = _create(client, data)
    path = f"/api/v1/files/{created['id']}"
    parts = [data[i : i + 2**19] for i in range(0, len(data), 2**19)] + [b"one byte too many"]
    replies = anyio.run(
        _raw_patch, app, path, 0, parts, None, _credentials(client)
    )  # chunked: no Content-Length
    assert replies[0]["status"] == 413
    assert _head_offset(client, created["upload_url"]) == 0
    assert _patch(client, created["upload_url"], 0, data).status_code == 204


def test_empty_file_completes_at_once(client: TestClient) -> None:
    created = _create(client, b"")
    assert created["state"] == "complete"
    assert client.get(created["content_url"]).content == b""


def test_range_requests(client: TestClient) -> None:
    data = bytes(range(256)) * 40
    created = _create(client, data, content_type="video/mp4")
    assert _patch(client, created["upload_url"], 0, data).status_code == 204
    url = created["content_url"]
    r = client.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert r.headers["content-type"] == "video/mp4"
    assert client.get(url, headers={"Range": "bytes=-10"}).content == data[-10:]
    assert client.get(url, headers={"Range": "bytes=10000-"}).content == data[10000:]
    assert client.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    assert client.get(url, headers={"Range": "bytes=0-1,5-6"}).status_code == 200


def test_create_validation_and_unknown_device(client: TestClient) -> None:
    ok = {"name": "a.bin", "size": 1, "sha256": "0" * 64}
    assert error_fields(client.post("/api/v1/files", json={**ok, "sha256": "xyz"})) == {"sha256"}
    assert error_fields(client.post("/api/v1/files", json={**ok, "size": -1})) == {"size"}
    assert error_fields(client.post("/api/v1/files", json={**ok, "bogus": 1})) == {"bogus"}
    r = client.post("/api/v1/files", json={**ok, "device_id": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    r = client.post("/api/v1/files", json={**ok, "size": 11 * 2**20})
    assert r.status_code == 413
    assert client.head("/api/v1/files/0190a5c0-0000-7000-8000-000000000000").status_code == 404
    assert client.get("/api/v1/files/not-a-uuid").status_code == 422


def test_second_patch_while_one_runs_is_refused(runtime: ApiTestRuntime) -> None:
    files = FileService(runtime.file_store, max_upload_bytes=100)
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = files.create_upload(session, name="x", size=10, sha256="0" * 64)
        writer = files.begin_chunk(session, row.id, 0)
        with pytest.raises(UploadBusy):
            files.begin_chunk(session, row.id, 0)
        writer.write(b"12345")
        files.end_chunk(session, writer)
        assert session.get(StoredFile, row.id).received == 5  # type: ignore[union-attr]
        assert session.get(StoredFile, row.id).state == UploadState.UPLOADING  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a/../../b", "a/./b", "a//b", "a\\b", "", "a/\x00", "a/.."]
)
def test_store_refuses_unsafe_keys(tmp_path: Path, key: str) -> None:
    store = LocalFileStore(tmp_path / "store")
    with pytest.raises(InvalidKey):
        store.open_append(key, 0)
    with pytest.raises(InvalidKey):
        store.exists(key)


def test_store_refuses_symlink_out_of_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("x")
    store = LocalFileStore(tmp_path / "store")
    (store.root / "link").symlink_to(outside)
    with pytest.raises(InvalidKey):
        list(store.iter_bytes("link/secret"))


def test_traversal_through_the_api_finds_nothing(client: TestClient) -> None:
    for path in ("/api/v1/files/..%2F..%2Fetc%2Fpasswd/content", "/api/v1/files/../../x"):
        assert client.get(path).status_code in (404, 422)


def test_abandoned_uploads_are_failed_and_their_bytes_freed(
    runtime: ApiTestRuntime, client: TestClient
) -> None:
    data = os.urandom(3000)
    idle, busy = _create(client, data), _create(client, data)
    for upload in (idle, busy):
        assert _patch(client, upload["upload_url"], 0, data[:1000]).status_code == 204
    past = datetime.now(UTC) - timedelta(days=runtime.settings.files.abandon_after_days + 1)
    with Session(runtime.engine) as session:  # both created long ago …
        session.execute(update(StoredFile).values(created_at=past))
        session.commit()
    stale = runtime.file_store.path(partial_key(idle["id"]))
    os.utime(stale, (past.timestamp(), past.timestamp()))  # … one last written long ago

    jobs.expire_uploads(runtime)  # type: ignore[arg-type]

    assert not stale.exists()
    r = client.head(idle["upload_url"])
    assert r.headers["Upload-State"] == "failed"  # the uploader starts over
    r = _patch(client, idle["upload_url"], 1000, data[1000:])
    assert r.status_code == 409 and r.json()["state"] == "failed"
    assert client.get(f"/api/v1/files/{idle['id']}").json()["meta"] == {"failure": "abandoned"}
    # the upload written to recently goes on
    r = _patch(client, busy["upload_url"], 1000, data[1000:])
    assert r.status_code == 204 and r.headers["Upload-State"] == "complete"
    with Session(runtime.engine) as session:
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "files.expire_uploads")
        ).one()
        assert entry.detail["files"] == [idle["id"]]
