"""The guard's status screen at the gate, served by the plugin on the gate PC itself.

Read-only and standard library only (``http.server``), so it keeps working with the network
gone: ``GET /`` the page, ``GET /static/<file>``, ``GET /api/state`` the gatekeeper's snapshot
(JSON; masked labels and reasons only). Every request must name an allowed ``Host``
(127.0.0.1 / localhost / the bind address and ``screen_allowed_hosts``), so a page elsewhere
cannot read it through DNS rebinding.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
HOST = re.compile(r"(\[[0-9a-f:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?")
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}


class Screen:
    def __init__(
        self,
        snapshot: Callable[[], dict[str, Any]],
        *,
        host: str = "127.0.0.1",
        port: int = 8766,
        allowed_hosts: list[str] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.snapshot, self.host, self.port = snapshot, host, port
        self.logger = logger or logging.getLogger(__name__)
        self.hosts = {"127.0.0.1", "localhost", "[::1]", host.lower()}
        self.hosts.update(h.lower() for h in allowed_hosts or [])
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="gate-screen", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def host_allowed(self, header: str | None) -> bool:
        match = HOST.fullmatch((header or "").strip().lower())
        if match is None:
            return False
        name, port = match.group(1), match.group(2)
        return name in self.hosts and (port is None or int(port) == self.port)


def _handler(screen: Screen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "prtc-gate-screen"

        def log_message(self, format: str, *args: Any) -> None:
            screen.logger.debug("screen: " + format, *args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in HEADERS.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if not screen.host_allowed(self.headers.get("Host")):
                self._send(HTTPStatus.MISDIRECTED_REQUEST, b"host not allowed", "text/plain")
                return
            path = self.path.split("?", 1)[0]
            if path == "/api/state":
                body = json.dumps(screen.snapshot(), ensure_ascii=False).encode()
                self._send(HTTPStatus.OK, body, "application/json; charset=utf-8")
                return
            name = "index.html" if path == "/" else path.removeprefix("/static/")
            file = STATIC_DIR / name
            if "/" in name or file.suffix not in STATIC_TYPES or not file.is_file():
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                return
            self._send(HTTPStatus.OK, file.read_bytes(), STATIC_TYPES[file.suffix])

    return Handler
