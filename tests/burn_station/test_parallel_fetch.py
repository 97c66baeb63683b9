"""A job's sources are fetched in parallel, at most ``fetch_workers`` at once, with progress
that only grows; a failing source fails the job without waiting for the others to finish."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from burn_station.plugin import BurnerPlugin

from .conftest import FakeContext
from .helpers import settings, spec


class SlowServer:
    """Documents over HTTP. The first ``together`` requests are answered only once all of
    them have arrived (a sequential fetch would time out on the first); every answer takes
    ``delay_s`` (a missing file three times as long); the most requests open at once is
    recorded."""

    def __init__(self, together: int, delay_s: float = 0.3) -> None:
        self.barrier = threading.Barrier(together, timeout=10)
        self.together = together
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.open = self.most_open = self.seen = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.seen += 1
                    first = server.seen <= server.together
                    server.open += 1
                    server.most_open = max(server.most_open, server.open)
                try:
                    if first:
                        server.barrier.wait()
                    missing = "missing" in self.path  # answers later: the others end first
                    time.sleep(server.delay_s * (3 if missing else 1))
                    code, data = (404, b"") if missing else (200, os.urandom(5000))
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except threading.BrokenBarrierError:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with server.lock:
                        server.open -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/{name}"


@pytest.fixture
def server() -> Iterator[SlowServer]:
    s = SlowServer(together=2)
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_sources_are_fetched_in_parallel_within_the_bound(
    tmp_path: Path, server: SlowServer
) -> None:
    drive = {"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}"}
    ctx = FakeContext(settings(tmp_path, [drive], fetch_workers=2))
    plugin = BurnerPlugin(ctx)
    plugin.start()
    names = [f"文件{n}.pdf" for n in range(5)]
    try:
        job = spec([{"kind": "url", "url": server.url(n), "name": n} for n in names])
        result = ctx.call("burn", job)
    finally:
        plugin.stop()
    assert result.stage == "done"
    assert server.most_open == 2  # two at once (the first two waited for each other), never 3
    fetching = [s for s in ctx.events("burn.job_state") if s.stage == "fetching"]
    progress = [s.progress for s in fetching]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(0.3)
    assert fetching[-1].message.startswith("5/5 sources fetched")


def test_a_failing_source_fails_the_job(tmp_path: Path, server: SlowServer) -> None:
    ctx = FakeContext(settings(tmp_path, [], fetch_workers=2))
    plugin = BurnerPlugin(ctx)
    plugin.start()
    try:
        job = spec([{"kind": "url", "url": server.url(n), "name": n} for n in ("a", "missing")])
        with pytest.raises(Exception, match="404"):
            ctx.call("burn", job)
    finally:
        plugin.stop()
    state = plugin.store.load(job["job_id"])
    assert state is not None and state.stage == "failed" and state.failed_stage == "fetching"
    assert list(state.fetched) == [0]  # the good source is kept for the retry
