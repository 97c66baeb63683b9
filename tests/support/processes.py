"""The collector and agents as real processes, so fault tests can SIGKILL them."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tests.support.net import free_port, wait_until


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_toml(path: Path, data: dict[str, dict[str, Any]]) -> Path:
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


class _Process:
    args: list[str]
    env: dict[str, str]
    log_path: Path

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(15)
        self.proc = None

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class CollectorProcess(_Process):
    """``prtc-collector serve`` configured through environment variables only."""

    def __init__(self, workdir: Path, broker_url: str, db_url: str | None = None, **env: str):
        super().__init__()
        self.workdir = workdir
        self.http_port = free_port()
        self.db_url = db_url or f"sqlite:///{workdir / 'collector.db'}"
        self.log_path = workdir / "collector.log"
        self.env = {
            **os.environ,
            "PRTC_COLLECTOR_DEVELOPMENT": "true",
            "PRTC_COLLECTOR_SECRET_KEY": "test-secret-key-not-for-production",
            "PRTC_COLLECTOR_DATABASE__URL": self.db_url,
            "PRTC_COLLECTOR_MQTT__URL": broker_url,
            "PRTC_COLLECTOR_MQTT__CLIENT_ID": f"collector-{self.http_port}",
            "PRTC_COLLECTOR_HTTP__PORT": str(self.http_port),
            "PRTC_COLLECTOR_FILES__ROOT": str(workdir / "files"),
            **env,
        }
        self.args = [sys.executable, "-m", "collector", "serve"]
        self._auth: dict[str, str] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "collector", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"prtc-collector {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def enrol(self, centre: str, device: str, kind: str = "sim") -> None:
        self.cli("device", "add", centre, device, "--kind", kind)

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if not self.running:
                raise RuntimeError(f"collector exited:\n{self.log()[-3000:]}")
            try:
                return httpx.get(f"{self.api}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout, 0.1, "collector ready")

    ADMIN = "e2e-admin"
    ADMIN_PASSWORD = "E2e-admin-pass-1"

    @property
    def headers(self) -> dict[str, str]:
        """Session cookie and CSRF header of a logged-in system administrator (created and
        logged in on first use; the session is in the database, so it survives restarts)."""
        if self._auth is None:
            self._auth = self._log_in()
        return self._auth

    def _log_in(self) -> dict[str, str]:
        try:
            self.cli(
                "user", "add", self.ADMIN, "--role", "system_admin", "--password",
                self.ADMIN_PASSWORD,
            )  # fmt: skip
        except RuntimeError as exc:  # another collector over the same database made it
            if "已存在" not in str(exc):
                raise
        r = httpx.post(
            f"{self.api}/api/v1/auth/login",
            json={"username": self.ADMIN, "password": self.ADMIN_PASSWORD},
            timeout=30,
        )
        r.raise_for_status()
        return {
            "Cookie": f"prtc_session={r.cookies['prtc_session']}",
            "X-CSRF-Token": r.json()["csrf_token"],
        }

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.api}{path}", params=params, headers=self.headers, timeout=10)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = httpx.post(f"{self.api}{path}", json=body, headers=self.headers, timeout=10)
        r.raise_for_status()
        return r.json()


class AgentProcess(_Process):
    """``prtc-agent run`` with a sim plugin."""

    def __init__(
        self,
        workdir: Path,
        centre: str,
        device: str,
        broker_url: str,
        *,
        sim: dict[str, Any] | None = None,
        outbox: dict[str, Any] | None = None,
        heartbeat_interval_s: float = 2.0,
        **env: str,
    ):
        super().__init__()
        self.device = device
        self.state_dir = workdir / device
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.state_dir / "agent.log"
        sections: dict[str, dict[str, Any]] = {
            "agent": {
                "centre": centre,
                "device": device,
                "state_dir": str(self.state_dir),
                "heartbeat_interval_s": heartbeat_interval_s,
            },
            "mqtt": {"url": broker_url, "reconnect_min_s": 0.2, "reconnect_max_s": 2.0},
        }
        # Resend unreceipted events sooner than in production so fault tests stay short.
        sections["outbox"] = {"resend_after_s": 5, **(outbox or {})}
        if sim is not None:
            sections["plugins.sim1"] = {"kind": "sim", **sim}
        self.config = write_toml(self.state_dir / "agent.toml", sections)
        self.env = {**os.environ, **env}
        self.args = [sys.executable, "-m", "edge_agent", "run", "-c", str(self.config)]

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.db"

    def outbox_ids(self, kind: str = "event") -> set[str]:
        """Event ids still in the outbox, read straight from SQLite."""
        import json

        if not self.outbox_path.exists():
            return set()
        con = sqlite3.connect(self.outbox_path)
        try:
            rows = con.execute("SELECT body FROM messages WHERE kind = ?", (kind,)).fetchall()
        except sqlite3.OperationalError:  # the agent has created the file, not yet its tables
            return set()
        finally:
            con.close()
        return {json.loads(body)["id"] for (body,) in rows}

    def outbox_depth(self) -> int:
        if not self.outbox_path.exists():
            return 0
        con = sqlite3.connect(self.outbox_path)
        try:
            return int(con.execute("SELECT count(*) FROM messages").fetchone()[0])
        except sqlite3.OperationalError:  # the agent has created the file, not yet its tables
            return 0
        finally:
            con.close()


def tmpdir(prefix: str = "prtc-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
