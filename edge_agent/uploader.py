"""Uploads queued files to the collector's file store over its resumable protocol.

One worker thread takes the oldest due row of the :class:`~edge_agent.upload_queue.UploadQueue`
and speaks the protocol of ``collector.files.service`` (described there; the agent never
imports it): ``POST /api/v1/files`` with name, size and SHA-256 → the file id and upload URL,
stored at once; then ``PATCH`` chunks with ``Upload-Offset``. After any interruption (a broken
connection, an HTTP error, an agent killed and restarted) it asks ``HEAD`` for the offset the
collector holds and continues from there. ``409`` answers carry the server's offset and are
followed; a ``422`` (the collector's SHA-256 differs) discards the server's copy and starts
over, up to :data:`MAX_CHECKSUM_FAILURES` times. Failed attempts are retried after a fully
jittered exponential delay. A finished upload emits ``agent.file_uploaded`` (before the row is
marked done: at least once), then the local file is deleted if the row asks for it.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter

from contract.payloads.agent import FileUploaded, StatusValue
from edge_agent.logs import Logger
from edge_agent.settings import UploadsSection
from edge_agent.upload_queue import QueuedUpload, UploadQueue, UploadStats

API = "/api/v1"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
READ_BLOCK = 1024 * 1024
MAX_CHECKSUM_FAILURES = 3
MAX_CONFLICTS = 10
PRUNE_EVERY_S = 3600.0

Emit = Callable[[str, FileUploaded], Any]
_META: TypeAdapter[dict[str, StatusValue]] = TypeAdapter(dict[str, StatusValue])


class UploadFailed(Exception):
    """An attempt failed; retry later."""


class UploadGaveUp(Exception):
    """The upload cannot succeed (file gone, checksum failing): mark it failed."""


class _Restart(Exception):
    """The collector lost or discarded the upload: create a new one."""


class Uploader:
    """The queue plus its worker; :meth:`enqueue` may be called from any thread."""

    def __init__(
        self,
        queue: UploadQueue,
        settings: UploadsSection,
        *,
        device: str,
        emit: Emit,
        logger: Logger,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.queue = queue
        self.settings = settings
        self.device = device
        self._emit = emit
        self._logger = logger
        self._transport = transport
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""
        self._checksum_failures: dict[str, int] = {}
        self.bytes_sent = 0

    # -- public ----------------------------------------------------------------------------

    def enqueue(
        self,
        path: Path | str,
        *,
        kind: str,
        meta: dict[str, Any] | None = None,
        name: str | None = None,
        delete_after: bool | None = None,
    ) -> str:
        meta = _META.validate_python(dict(meta or {}))  # refused here, not at the event
        upload_id = self.queue.enqueue(
            Path(path),
            kind=kind,
            meta=meta,
            name=name,
            delete_after=self.settings.delete_after_upload
            if delete_after is None
            else delete_after,
        )
        self._wake.set()
        return upload_id

    def state(self, upload_id: str) -> str | None:
        return self.queue.state(upload_id)

    def stats(self) -> UploadStats:
        stats = self.queue.stats()
        if self._last_error and not stats.last_error and stats.pending:
            return dataclasses.replace(stats, last_error=self._last_error)
        return stats

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"{self.device}/uploader", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    # -- the worker ------------------------------------------------------------------------

    def _run(self) -> None:
        last_prune = 0.0
        with self._client() as client:
            while not self._stop.is_set():
                if time.monotonic() - last_prune > PRUNE_EVERY_S:
                    self.queue.prune(self.settings.keep_records_days * 86400)
                    last_prune = time.monotonic()
                try:
                    item = self.queue.next_due() if self.settings.url else None
                    if item is None:
                        self._wait_for_work()
                        continue
                    self._attempt(client, item)
                except Exception as exc:  # the worker must outlive any one bad row or disk error
                    self._last_error = f"{type(exc).__name__}: {exc}"[:500]
                    self._logger.exception("uploader error")
                    self._stop.wait(5.0)

    def _wait_for_work(self) -> None:
        if not self.settings.url:
            self._last_error = "no collector URL configured ([uploads] url)"
        due = self.queue.next_try_at() if self.settings.url else None
        timeout = 60.0 if due is None else min(60.0, max(0.05, due - time.time()))
        self._wake.wait(timeout)
        self._wake.clear()

    def _client(self) -> httpx.Client:
        s = self.settings
        headers = {"User-Agent": f"prtc-agent/{self.device}"}
        if s.token is not None:
            headers["Authorization"] = f"Bearer {s.token.get_secret_value()}"
        verify: Any = str(s.tls_ca_file) if s.tls_ca_file else True
        return httpx.Client(
            base_url=f"{s.url or 'http://unset.invalid'}{API}",
            headers=headers,
            timeout=httpx.Timeout(s.timeout_s),
            verify=verify,
            transport=self._transport,
        )

    def _attempt(self, client: httpx.Client, item: QueuedUpload) -> None:
        try:
            file_id = self._upload(client, item)
        except UploadGaveUp as exc:
            self._logger.error("upload %s (%s) failed for good: %s", item.id, item.path, exc)
            self.queue.mark_failed(item.id, str(exc))
            self._checksum_failures.pop(item.id, None)
            return
        except (UploadFailed, httpx.HTTPError, OSError) as exc:
            if self._stop.is_set():
                return
            error = f"{type(exc).__name__}: {exc}"[:500]
            attempts = item.attempts + 1
            delay = random.uniform(0.5, 1.0) * min(
                self.settings.retry_max_s, self.settings.retry_min_s * 2 ** min(attempts - 1, 20)
            )
            self._last_error = error
            self._logger.warning(
                "upload %s attempt %d failed (%s); retry in %.1f s", item.id, attempts, error, delay
            )
            self.queue.set_retry(
                item.id, attempts=attempts, next_try_at=time.time() + delay, error=error
            )
            return
        if file_id is None:  # stopped half-way: resume next time
            return
        self._finish(item, file_id)

    def _finish(self, item: QueuedUpload, file_id: str) -> None:
        self._emit(
            "agent.file_uploaded",
            FileUploaded(
                file_id=file_id,  # type: ignore[arg-type]
                upload_id=item.id,
                name=item.name,
                size=item.size,
                sha256=item.sha256,
                kind=item.kind,
                content_type=item.content_type,
                meta=item.meta,
            ),
        )
        self.queue.mark_done(item.id)
        self._last_error = ""
        self._checksum_failures.pop(item.id, None)
        self._logger.info("uploaded %s (%d bytes) as file %s", item.path, item.size, file_id)
        if item.delete_after:
            try:
                item.path.unlink(missing_ok=True)
            except OSError as exc:
                self._logger.warning("could not delete uploaded %s: %s", item.path, exc)

    # -- the protocol ----------------------------------------------------------------------

    def _upload(self, client: httpx.Client, item: QueuedUpload) -> str | None:
        """Run the upload to completion; return the file id, or None when stopped."""
        if not item.path.is_file():
            raise UploadGaveUp(f"file {item.path} is gone")
        if item.path.stat().st_size != item.size:
            raise UploadGaveUp(f"file {item.path} changed size since it was queued")
        file_id, url = item.file_id, item.upload_url
        for _ in range(MAX_CHECKSUM_FAILURES + 2):
            try:
                if file_id is None or url is None:
                    file_id, url, offset = self._create(client, item)
                    self.queue.set_remote(item.id, file_id, url)
                else:
                    offset = self._head(client, url)
                if offset is None:
                    return file_id
                return file_id if self._send(client, item, url, offset) else None
            except _Restart as exc:
                self._logger.warning("upload %s starts over: %s", item.id, exc)
                self.queue.set_remote(item.id, None, None)
                file_id = url = None
        raise UploadFailed("the collector discarded the upload repeatedly")

    def _create(self, client: httpx.Client, item: QueuedUpload) -> tuple[str, str, int | None]:
        meta = {**item.meta, "kind": item.kind, "upload_id": item.id}
        r = client.post(
            "/files",
            json={
                "name": item.name,
                "size": item.size,
                "sha256": item.sha256,
                "content_type": item.content_type,
                "device_id": self.device,
                "meta": meta,
            },
        )
        if r.status_code != 201:
            if r.status_code == 422 and item.size == 0:
                raise UploadGaveUp(f"collector refused the empty file: {r.text[:200]}")
            raise UploadFailed(f"POST /files answered {r.status_code}: {r.text[:200]}")
        body = r.json()
        offset = None if body.get("state") == "complete" else int(body.get("offset", 0))
        return str(body["id"]), str(body["upload_url"]), offset

    def _head(self, client: httpx.Client, url: str) -> int | None:
        """The collector's offset, or None when the upload is already complete."""
        r = client.head(url)
        if r.status_code == 404:
            raise _Restart("the collector does not know the upload")
        if r.status_code != 200:
            raise UploadFailed(f"HEAD answered {r.status_code}")
        state = r.headers.get("Upload-State", "")
        if state == "complete":
            return None
        if state == "failed":
            raise _Restart("the collector marked the upload failed")
        return int(r.headers["Upload-Offset"])

    def _send(self, client: httpx.Client, item: QueuedUpload, url: str, offset: int) -> bool:
        """PATCH from ``offset`` to the end; True when complete, False when stopped."""
        chunk = self.settings.chunk_bytes
        conflicts = 0
        with item.path.open("rb") as f:
            while offset < item.size:
                if self._stop.is_set():
                    return False
                length = min(chunk, item.size - offset)
                f.seek(offset)
                r = client.patch(
                    url,
                    content=self._body(f, length),
                    headers={
                        "Upload-Offset": str(offset),
                        "Content-Type": OFFSET_CONTENT_TYPE,
                        "Content-Length": str(length),
                    },
                )
                if r.status_code == 204:
                    new = int(r.headers["Upload-Offset"])
                    self.bytes_sent += max(0, new - offset)
                    offset = new
                    if r.headers.get("Upload-State") == "complete":
                        return True
                elif r.status_code == 409:
                    body = _json(r)
                    if body.get("state") == "complete":
                        return True
                    if body.get("state") == "failed":
                        raise _Restart("the collector marked the upload failed")
                    new = int(r.headers.get("Upload-Offset", body.get("offset", offset)))
                    if new == offset:  # busy: a PATCH cut off earlier is still being closed
                        conflicts += 1
                        if conflicts > MAX_CONFLICTS:
                            raise UploadFailed(f"PATCH keeps conflicting: {body.get('detail')}")
                        self._stop.wait(0.2 * conflicts)
                    offset = new
                elif r.status_code == 422:
                    self._checksum_failed(item, _json(r))
                elif r.status_code == 404:
                    raise _Restart("the collector does not know the upload")
                else:
                    raise UploadFailed(f"PATCH answered {r.status_code}: {r.text[:200]}")
        # All bytes sent, yet not reported complete: ask once more.
        return self._head(client, url) is None

    def _checksum_failed(self, item: QueuedUpload, body: dict[str, Any]) -> None:
        failures = self._checksum_failures.get(item.id, 0) + 1
        self._checksum_failures[item.id] = failures
        if failures >= MAX_CHECKSUM_FAILURES:
            raise UploadGaveUp(
                f"collector computed SHA-256 {body.get('actual')} {failures} times, "
                f"expected {item.sha256}: the local file is changing or the disk is failing"
            )
        raise _Restart("the collector's SHA-256 differs")

    def _body(self, f: Any, length: int) -> Iterator[bytes]:
        """``length`` bytes of ``f`` in blocks, paced by ``max_bytes_per_s``; stops early
        (breaking the request, the collector keeps what arrived) when the uploader stops."""
        rate = self.settings.max_bytes_per_s
        started = time.monotonic()
        sent = 0
        while sent < length:
            if self._stop.is_set():
                raise UploadFailed("uploader stopping")
            block = f.read(min(READ_BLOCK if rate == 0 else min(READ_BLOCK, rate), length - sent))
            if not block:
                raise UploadFailed("file shorter than queued")
            yield block
            sent += len(block)
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    self._stop.wait(ahead)


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
