"""Fixtures for the burn station: a fake plugin context, a collector file server, test media."""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel

from burn_station.sim_nvr import make_test_video
from contract.registry import registry
from edge_agent.plugin_api import ActionHandler, CommandRequest, HealthState

NEEDED = ("ffmpeg", "ffprobe", "xorriso")
if any(shutil.which(tool) is None for tool in NEEDED):
    pytest.skip(f"burn station tests need {', '.join(NEEDED)}", allow_module_level=True)


class FakeContext:
    """The agent's plugin context, minus MQTT: emits are validated by the registry as the
    agent does and recorded; actions are called with validated arguments."""

    def __init__(self, settings: Mapping[str, Any], name: str = "burner") -> None:
        self.name = name
        self.kind = "burner"
        self.centre = "c1"
        self.device = "burn-pc"
        self.settings: Mapping[str, Any] = dict(settings)
        self.logger = logging.getLogger("test.burner")
        self.stop_event = threading.Event()
        self.emitted: list[tuple[str, BaseModel]] = []
        self.health: list[tuple[HealthState, str]] = []
        self.actions: dict[str, tuple[ActionHandler, type[BaseModel] | None]] = {}
        self.lock = threading.Lock()

    def emit(self, event_type: str, payload: BaseModel | Mapping[str, Any]) -> int:
        assert isinstance(payload, BaseModel)
        registry.validate(event_type, 1, payload.model_dump(mode="json"))
        with self.lock:
            self.emitted.append((event_type, payload))
            return len(self.emitted)

    def set_health(self, state: HealthState, detail: str = "") -> None:
        self.health.append((state, detail))

    def register_action(
        self,
        action: str,
        handler: ActionHandler,
        *,
        job: bool = False,
        args_model: type[BaseModel] | None = None,
    ) -> None:
        self.actions[action] = (handler, args_model)

    def publish_local(self, topic: str, message: object) -> None:
        pass

    def subscribe_local(self, topic: str, handler: Callable[[object], None]) -> None:
        pass

    def call_action(self, action: str, args: Mapping[str, Any] | None = None) -> Any:
        raise LookupError(action)

    # -- test helpers ----------------------------------------------------------------------

    def call(self, verb: str, args: Mapping[str, Any] | None = None, timeout_s: float = 300) -> Any:
        handler, model = self.actions[f"{self.name}.{verb}"]
        values = dict(args or {})
        if model is not None:
            values = model.model_validate(values).model_dump()
        progress: list[tuple[float, str]] = []
        request = CommandRequest(
            command_id=uuid4(),
            action=f"{self.name}.{verb}",
            args=values,
            deadline=datetime.now(UTC) + timedelta(seconds=timeout_s),
            cancelled=threading.Event(),
            progress=lambda f, m="": progress.append((f, m)),
        )
        return handler(request)

    def events(self, event_type: str) -> list[Any]:
        with self.lock:
            return [p for t, p in self.emitted if t == event_type]


class FileServer:
    """The collector's file store as the station sees it: bearer token, Range requests."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.token = token
        self.requests: list[tuple[str, str]] = []  # (path, Range header)
        self.fail_after: int | None = None  # cut the first response after this many bytes
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Range", "")))
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = server.root / self.path.removeprefix("/files/")
                if not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                m = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if m:
                    start = int(m.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    data = data[start:]
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if server.fail_after is not None:
                    cut, server.fail_after = server.fail_after, None
                    self.wfile.write(data[:cut])
                    self.wfile.flush()
                    self.connection.close()
                    return
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[FileServer]:
    root = tmp_path / "store"
    root.mkdir()
    server = FileServer(root, "t0ken")
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny H.264 clips made once per session."""
    root = tmp_path_factory.mktemp("media")
    return {
        "room1": make_test_video(root / "评标室1.mp4", seconds=2.0),
        "room2": make_test_video(root / "开标室2.mp4", seconds=2.0),
        "nvr": make_test_video(root / "nvr.mp4", seconds=4.0),
        "rtsp": make_test_video(root / "rtsp.mp4", seconds=3.0),
    }


@pytest.fixture
def lp_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake CUPS client first on PATH: it writes its arguments, one a line, to the file
    returned, and answers as lp does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    args = tmp_path / "lp.args"
    fake_lp = bin_dir / "lp"
    fake_lp.write_text(
        f'#!/bin/sh\nprintf \'%s\\n\' "$@" > {args}\necho "request id is disc-7 (1 file(s))"\n'
    )
    fake_lp.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return args
