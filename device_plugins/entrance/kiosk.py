"""The entrance workstation screen, served by the entrance plugin on the entrance PC itself.

Standard library only (``http.server``): the screen must keep working when the collector or
the network is gone, and the agent stays light. Routes:

* ``GET /`` the page (``static/index.html`` with this process's token), ``GET /static/<file>``;
* ``GET /api/state`` the door's snapshot (JSON); ``GET /events`` the same, as server-sent
  events, one ``state`` event per change and a comment every 15 s;
* ``POST /api/confirm`` ``{passage_id?}``, ``/api/refuse`` ``{passage_id?}``,
  ``/api/manual_entry`` ``{name, id_number, direction?, temperature_c?}``,
  ``/api/temperature`` ``{celsius}``, ``/api/direction`` ``{direction}``.

Every request must name an allowed ``Host`` (127.0.0.1 / localhost / the bind address and
``kiosk_allowed_hosts``, on the served port), so a page elsewhere cannot read personal data
through DNS rebinding. A POST must also carry the per-process token of the page in
``X-Kiosk-Token``, a JSON body, and — when the browser sends one — an ``Origin`` of this
server: a cross-site page can neither read the token nor forge the header.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from device_plugins.entrance.door import Direction, Door, DoorError
from device_plugins.messages import TemperatureReading

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}
MAX_BODY = 16 * 1024
SSE_KEEPALIVE_S = 15.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PassageArgs(_Strict):
    passage_id: str | None = Field(default=None, max_length=64)


class ManualEntryArgs(_Strict):
    name: str = Field(min_length=1, max_length=120)
    id_number: str = Field(min_length=1, max_length=40)
    direction: Direction | None = None
    temperature_c: float | None = None


class TemperatureArgs(_Strict):
    celsius: float


class DirectionArgs(_Strict):
    direction: Direction


class Kiosk:
    """The HTTP server of one door's screen; :meth:`start` binds and serves in a thread."""

    def __init__(
        self,
        door: Door,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        allowed_hosts: list[str] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.door = door
        self.host = host
        self.port = port
        self.token = secrets.token_urlsafe(32)
        self.logger = logger or logging.getLogger(__name__)
        self._hosts = {
            "127.0.0.1",
            "localhost",
            "[::1]",
            host.lower(),
            *(h.lower() for h in allowed_hosts or []),
        }
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        handler = _make_handler(self)
        server = ThreadingHTTPServer((self.host, self.port), handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="entrance-kiosk",
            daemon=True,
        )
        self._thread.start()
        self.logger.info("entrance screen at %s", self.url)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    # -- checks --------------------------------------------------------------------------------

    def host_allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        host, _, port = host_header.strip().lower().rpartition(":")
        if not host or (":" in host and not host.startswith("[")):
            return False
        return host in self._hosts and port == str(self.port)

    def origin_allowed(self, origin: str | None) -> bool:
        if origin is None:  # not a browser's cross-origin request; token and Host still checked
            return True
        parts = urlsplit(origin)
        return parts.scheme == "http" and self.host_allowed(parts.netloc)

    def token_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.token)


def _make_handler(kiosk: Kiosk) -> type[BaseHTTPRequestHandler]:
    door = kiosk.door

    def post_confirm(body: dict[str, Any]) -> dict[str, Any]:
        args = PassageArgs.model_validate(body)
        return door.confirm(args.passage_id).view()

    def post_refuse(body: dict[str, Any]) -> dict[str, Any]:
        args = PassageArgs.model_validate(body)
        return door.refuse(args.passage_id).view()

    def post_manual(body: dict[str, Any]) -> dict[str, Any]:
        args = ManualEntryArgs.model_validate(body)
        return door.manual_entry(
            args.name, args.id_number, direction=args.direction, temperature_c=args.temperature_c
        ).view()

    def post_temperature(body: dict[str, Any]) -> dict[str, Any]:
        args = TemperatureArgs.model_validate(body)
        if not 25 <= args.celsius <= 45:
            raise DoorError("体温须在 25–45 ℃ 之间")
        visitor = door.on_temperature(TemperatureReading("manual", args.celsius, "manual"))
        return {"visitor": visitor.view() if visitor else None}

    def post_direction(body: dict[str, Any]) -> dict[str, Any]:
        door.set_direction(DirectionArgs.model_validate(body).direction)
        return {"direction": door.direction}

    posts: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "/api/confirm": post_confirm,
        "/api/refuse": post_refuse,
        "/api/manual_entry": post_manual,
        "/api/temperature": post_temperature,
        "/api/direction": post_direction,
    }

    class Handler(BaseHTTPRequestHandler):
        server_version = "prtc-entrance"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            kiosk.logger.debug("kiosk %s " + format, self.address_string(), *args)

        # -- replies -----------------------------------------------------------------------

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            body = json.dumps(data, ensure_ascii=False).encode()
            self._send(status, body, "application/json; charset=utf-8")

        def _error(self, status: HTTPStatus, message: str) -> None:
            self._json(status, {"error": message})

        # -- GET ---------------------------------------------------------------------------

        def do_GET(self) -> None:
            if not kiosk.host_allowed(self.headers.get("Host")):
                self._error(HTTPStatus.MISDIRECTED_REQUEST, "host not allowed")
                return
            path = urlsplit(self.path).path
            if path in ("/", "/index.html"):
                page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
                page = page.replace("__KIOSK_TOKEN__", kiosk.token)
                self._send(HTTPStatus.OK, page.encode(), STATIC_TYPES[".html"])
            elif path.startswith("/static/"):
                self._static(path.removeprefix("/static/"))
            elif path == "/api/state":
                self._json(HTTPStatus.OK, door.snapshot())
            elif path == "/events":
                self._events()
            else:
                self._error(HTTPStatus.NOT_FOUND, "not found")

        def _static(self, name: str) -> None:
            target = STATIC_DIR / name
            if (
                "/" in name
                or name.startswith(".")
                or target.suffix not in STATIC_TYPES
                or not target.is_file()
            ):
                self._error(HTTPStatus.NOT_FOUND, "not found")
                return
            self._send(HTTPStatus.OK, target.read_bytes(), STATIC_TYPES[target.suffix])

        def _events(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Connection", "close")
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.close_connection = True
            version = -1
            idle = 0.0
            try:
                while not kiosk._stopping.is_set():
                    if version != door.version:
                        snap = door.snapshot()
                        version = snap["version"]
                        data = json.dumps(snap, ensure_ascii=False)
                        self.wfile.write(f"event: state\ndata: {data}\n\n".encode())
                        self.wfile.flush()
                        idle = 0.0
                        continue
                    new = door.wait_change(version, 0.5)
                    if new == version:
                        idle += 0.5
                        if idle >= SSE_KEEPALIVE_S:
                            self.wfile.write(b": keep-alive\n\n")
                            self.wfile.flush()
                            idle = 0.0
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                return

        # -- POST --------------------------------------------------------------------------

        def do_POST(self) -> None:
            if not kiosk.host_allowed(self.headers.get("Host")):
                self._error(HTTPStatus.MISDIRECTED_REQUEST, "host not allowed")
                return
            if not kiosk.origin_allowed(self.headers.get("Origin")):
                self._error(HTTPStatus.FORBIDDEN, "cross-site request refused")
                return
            if not kiosk.token_ok(self.headers.get("X-Kiosk-Token")):
                self._error(HTTPStatus.FORBIDDEN, "missing or wrong token")
                return
            handler = posts.get(urlsplit(self.path).path)
            if handler is None:
                self._error(HTTPStatus.NOT_FOUND, "not found")
                return
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "JSON only")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                result = handler(body)
            except DoorError as exc:
                self._error(HTTPStatus.CONFLICT, str(exc))
                return
            except (ValueError, ValidationError) as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc)[:500])
                return
            self._json(HTTPStatus.OK, result)

    return Handler
