"""The README's first command: ``prtc-collector demo`` brings up a whole simulated site."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.net import free_port, wait_until


def online_devices(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM devices WHERE online").fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        con.close()


def test_demo_runs_a_site_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector",
            "demo",
            "--data-dir",
            str(tmp_path),
            "--port",
            str(port),
            "--mqtt-port",
            str(free_port()),
            "--agents",
            "2",
            "--rate",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:

        def ready() -> bool:
            assert proc.poll() is None, "demo exited early"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, 0.2, "demo ready")
        db = tmp_path / "collector.db"
        wait_until(lambda: online_devices(db) == 2, 60, 0.2, "simulated devices online")
        con = sqlite3.connect(db)
        try:
            wait_until(
                lambda: (
                    con.execute("SELECT count(*) FROM events WHERE type LIKE 'sim.%'").fetchone()[0]
                    >= 10
                ),
                30,
                0.2,
                "simulated events stored",
            )
        finally:
            con.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    text = out.decode(errors="replace")
    assert f"http://127.0.0.1:{port}" in text
    assert proc.returncode == 0, text[-3000:]
