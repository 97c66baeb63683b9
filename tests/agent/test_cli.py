"""``prtc-agent`` and ``prtc-sim`` as processes, sd_notify, and the import boundary."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from edge_agent import systemd

from .conftest import Broker, Observer, wait_until

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_help_and_version() -> None:
    for args in (["--help"], ["run", "--help"], ["status", "--help"]):
        out = run("-m", "edge_agent", *args)
        assert out.returncode == 0 and "usage: prtc-agent" in out.stdout
    assert run("-m", "edge_agent", "--version").stdout.startswith("prtc-agent ")
    sim = run("-c", "from device_plugins.sim.cli import main; main()", "agents", "--help")
    assert sim.returncode == 0 and "--broker" in sim.stdout


def test_run_until_sigterm_then_status_reads_the_outbox(tmp_path: Path, broker: Broker) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
centre = "c1"
device = "cli-01"
state_dir = "{tmp_path / "state"}"

[mqtt]
url = "{broker.url}"

[plugins.sim1]
kind = "sim"
rate = 50
count = 20
"""
    )
    observer = Observer(broker.port, "prtc/v1/c1/cli-01/status")
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "-c", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: any(b["state"] == "online" for b in observer.bodies("/status")), 15)
        wait_until(lambda: (tmp_path / "state" / "outbox.db").exists(), 5)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(15) == 0
        wait_until(lambda: observer.bodies("/status")[-1]["state"] == "offline", 5)
    finally:
        if agent.poll() is None:
            agent.kill()
        observer.close()

    out = run("-m", "edge_agent", "status", "-c", str(config), "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    # Nobody receipted anything: the sim events and the first heartbeat are all still there.
    assert status["depth"] >= 1 and status["bytes"] > 0
    assert status["link_state"] == "stopped" and status["boot"] == 1
    assert status["evicted"] == {} and status["last_receipt_at"] is None
    text = run("-m", "edge_agent", "status", "-c", str(config))
    assert "depth" in text.stdout and "link_state" in text.stdout


def test_status_without_an_outbox_fails_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\ncentre = "c"\ndevice = "d"\nstate_dir = "{tmp_path}/none"\n')
    out = run("-m", "edge_agent", "status", "-c", str(config))
    assert out.returncode == 1 and "no outbox" in out.stderr


def test_prtc_sim_agents_runs_a_fleet_until_sigterm(tmp_path: Path, broker: Broker) -> None:
    observer = Observer(broker.port, "prtc/v1/sim-c/+/status")
    sim = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from device_plugins.sim.cli import main; raise SystemExit(main())",
            "agents",
            "--broker",
            broker.url,
            "--centre",
            "sim-c",
            "--count",
            "3",
            "--rate",
            "5",
            "--state-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        lines = [sim.stdout.readline() for _ in range(3)]
        assert [line.split()[0] for line in lines] == ["sim-001", "sim-002", "sim-003"]
        wait_until(lambda: len(observer.bodies("/status")) >= 3, 10, "three online")
        sim.send_signal(signal.SIGTERM)
        assert sim.wait(20) == 0
        assert "stopped 3 agent(s)" in sim.stdout.read()
    finally:
        if sim.poll() is None:
            sim.kill()
        observer.close()
    states = {b["state"] for b in observer.bodies("/status")[-3:]}
    assert states == {"offline"}
    assert all((tmp_path / f"sim-00{i}" / "outbox.db").exists() for i in (1, 2, 3))


def test_sd_notify_over_a_unix_datagram_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        assert systemd.notify("READY=1", {"NOTIFY_SOCKET": path})
        assert server.recv(64) == b"READY=1"
    assert not systemd.notify("READY=1", {})
    assert systemd.watchdog_period_s({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert systemd.watchdog_period_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_period_s({}) is None


def test_the_agent_never_imports_the_collector() -> None:
    code = (
        "import sys, edge_agent.cli, edge_agent.agent, device_plugins.sim.plugin, "
        "device_plugins.sim.cli; "
        "print([m for m in sys.modules if m == 'collector' or m.startswith('collector.')])"
    )
    out = run("-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
