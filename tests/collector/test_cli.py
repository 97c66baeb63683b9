"""``prtc-collector``: help everywhere, db upgrade, centres and devices, serve with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from collector.cli import main
from tests.support.net import free_port, wait_until


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "collector.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n'
        f'[files]\nroot = "{tmp_path / "files"}"\n'
    )
    for key in list(os.environ):
        if key.startswith("PRTC_COLLECTOR_"):
            monkeypatch.delenv(key)
    return config


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["centre", "add"],
        ["device", "add"],
        ["device", "list"],
    ],
)
def test_help_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    assert "usage: prtc-collector" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("prtc-collector ")


def test_admin_commands(env: Path, capsys: pytest.CaptureFixture[str]):
    c = ["-c", str(env)]
    assert main(["db", "upgrade", *c]) == 0
    assert main(["db", "current", *c]) == 0
    assert main(["centre", "add", "zj", "Zhejiang", "--level", "province", *c]) == 0
    assert main(["centre", "add", "hz", "Hangzhou", "--parent", "zj", *c]) == 0
    assert main(["device", "add", "hz", "gate-1", "--kind", "gate", "--name", "East gate", *c]) == 0
    assert main(["device", "add", "new-county", "pc-1", "--kind", "entrance", *c]) == 0
    assert main(["device", "add", "hz", "gate-1", "--kind", "gate", *c]) == 0  # idempotent
    capsys.readouterr()
    assert main(["device", "list", *c]) == 0
    out = capsys.readouterr().out
    assert "gate-1" in out and "East gate" in out and "pc-1" in out and "2 of 2" in out
    # The same id in another centre is refused with a clear message.
    assert main(["device", "add", "zj", "gate-1", "--kind", "gate", *c]) == 2
    assert "enrolled in centre 'hz'" in capsys.readouterr().err
    assert main(["centre", "add", "x", "X", "--parent", "missing", *c]) == 2


def test_serve_stops_gracefully_on_sigterm(env: Path, tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", "serve", "-c", str(env)],
        env={
            **os.environ,
            "PRTC_COLLECTOR_DEVELOPMENT": "true",
            "PRTC_COLLECTOR_HTTP__PORT": str(port),
            "PRTC_COLLECTOR_MQTT__EMBEDDED_LISTEN": f"127.0.0.1:{free_port()}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def ready() -> bool:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 30, 0.1, "serve ready")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
