"""A backlog drains completely through a real Mosquitto to a receipting collector stand-in.

The rate is printed (``-s``), never asserted: figures come from ``benchmarks/backlog_drain.py``,
against a baseline measured in the same run. ``PRTC_DRAIN_EVENTS`` sets the backlog size.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from contract.payloads.sim import SimAccess, SimReading
from edge_agent.agent import Agent
from edge_agent.events import EventWriter
from edge_agent.outbox import Outbox

from .conftest import CENTRE, Broker, wait_until

ROOT = Path(__file__).resolve().parents[2]
EVENTS = int(os.environ.get("PRTC_DRAIN_EVENTS", "20000"))


def prefill(state_dir: Path, device: str, count: int) -> None:
    outbox = Outbox.open(state_dir / "outbox.db")
    writer = EventWriter(outbox, centre=CENTRE, device=device)
    for start in range(0, count, 1000):
        writer.emit_many(
            [
                ("sim.access", SimAccess(person="p", granted=True, n=n))
                if n % 10 == 0
                else ("sim.reading", SimReading(sensor="s", value=float(n), n=n))
                for n in range(start, min(count, start + 1000))
            ]
        )
    outbox.close()


def test_backlog_drains_fast_and_completely(
    make_agent: Callable[..., Agent], broker: Broker, tmp_path: Path
) -> None:
    device = "dev-drain"
    prefill(tmp_path / device, device, EVENTS)
    # The collector stand-in runs in its own process, as a collector would.
    responder = subprocess.Popen(
        [sys.executable, "-m", "tests.agent.receipt_responder", str(broker.port), CENTRE, device],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert responder.stdout is not None
    try:
        assert responder.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        agent = make_agent(device, broker.port)
        wait_until(lambda: agent.outbox.depth() == 0, 120, "backlog drained")
        elapsed = time.perf_counter() - started
    finally:
        responder.send_signal(signal.SIGTERM)
        received = int(responder.stdout.read().strip() or 0)
        responder.wait(10)
    rate = EVENTS / elapsed
    print(f"\ndrained {EVENTS} events in {elapsed:.2f} s: {rate:,.0f} events/s")
    assert received >= EVENTS  # every event arrived (plus the first heartbeat)
