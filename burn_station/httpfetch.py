"""Resumable HTTP download: a ``.part`` file continued with ``Range``, checked by SHA-256."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from burn_station.hashing import sha256_file


class FetchError(RuntimeError):
    pass


class FetchStopped(FetchError):
    pass


def download(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    headers: dict[str, str] | None = None,
    stop: threading.Event | None = None,
    on_bytes: Callable[[int], None] | None = None,
    method: str = "GET",
    content: bytes | None = None,
) -> Path:
    """Download ``url`` to ``dest``; resume a partial ``dest.part``; verify size and SHA-256.

    A finished ``dest`` whose checksum matches is kept as it is (restart safety). A partial file
    is continued with ``Range: bytes=N-``; a server that answers 200 instead restarts it.
    """
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    request_headers = dict(headers or {})
    if have:
        request_headers["Range"] = f"bytes={have}-"
    with client.stream(method, url, headers=request_headers, content=content) as resp:
        if resp.status_code == 416 and size is not None and have == size:
            pass  # already complete
        elif resp.status_code == 206 and have:
            _write(resp, part, "ab", stop, on_bytes)
        elif resp.status_code == 200:
            _write(resp, part, "wb", stop, on_bytes)
        else:
            raise FetchError(f"GET {url}: HTTP {resp.status_code}")
    got = part.stat().st_size
    if size is not None and got != size:
        raise FetchError(f"{url}: got {got} bytes, expected {size}")
    if sha256 is not None:
        actual = sha256_file(part)
        if actual != sha256:
            part.unlink()  # corrupt: start over next time
            raise FetchError(f"{url}: SHA-256 mismatch ({actual[:12]}… != {sha256[:12]}…)")
    part.replace(dest)
    return dest


def _write(
    resp: httpx.Response,
    part: Path,
    mode: str,
    stop: threading.Event | None,
    on_bytes: Callable[[int], None] | None,
) -> None:
    with part.open(mode) as f:
        for chunk in resp.iter_bytes():  # as received: a cut connection keeps what came
            if stop is not None and stop.is_set():
                raise FetchStopped("stopped")
            f.write(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
