"""The README's first command: ``prtc-collector demo`` brings up a whole simulated site: the
sim agents, an entrance PC per city and county centre whose visitors reach the visitors
module, and the seeded venues and experts data."""

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


def count(con: sqlite3.Connection, sql: str) -> int:
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0


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
            "--entrance-every",
            "1",
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
        # Two sim agents and the entrance PCs of the city and the county centre.
        wait_until(lambda: online_devices(db) == 4, 60, 0.2, "simulated devices online")
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
            # A card presented at a simulated entrance became a visit in the visitors module.
            wait_until(
                lambda: count(con, "SELECT count(*) FROM visits WHERE entered_at IS NOT NULL") >= 1,
                30,
                0.2,
                "a visit stored",
            )
            row = con.execute(
                "SELECT v.centre_id, d.kind FROM visits v JOIN devices d ON d.id = v.device_id"
            ).fetchone()
            assert row is not None and row[1] == "entrance", row
        finally:
            con.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    text = out.decode(errors="replace")
    assert f"http://127.0.0.1:{port}" in text
    assert "Entrance screen" in text and "venues: 3 venues" in text, text[-3000:]
    assert "not seeded" not in text, text[-3000:]
    assert proc.returncode == 0, text[-3000:]
