"""Shared pieces of the device benchmarks: an offline agent, the SAM reader, the relay board.

``gate_decision`` and ``entrance_decision`` measure the same path (the last byte of a card
read → the gate relay) with different deciders; everything around the decider lives here.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from device_plugins.idcard_sam.simulator import SamSimulator, SimCard
from device_plugins.messages import CARD_READ, CARD_REMOVED, CardRead, CardUid
from device_plugins.modbus_rtu import RtuSlaveSimulator
from edge_agent.agent import Agent
from edge_agent.settings import settings_from_mapping


def closed_port() -> int:
    """A local port nobody listens on: the agent's broker is unreachable, decisions are local."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` every 5 ms until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)
    return value


def same_clock() -> bool:
    """perf_counter() (the readers' stamps) and monotonic() (the simulators') read one clock."""
    a, b = time.get_clock_info("perf_counter"), time.get_clock_info("monotonic")
    return a.implementation == b.implementation


def offline_agent(state_dir: Path, device: str, plugins: dict[str, Any]) -> Agent:
    """A started agent whose broker URL points at a closed port, once all plugins are ok."""
    settings = settings_from_mapping(
        {
            "agent": {"centre": "c1", "device": device, "state_dir": state_dir},
            "mqtt": {"url": f"mqtt://127.0.0.1:{closed_port()}", "reconnect_max_s": 5.0},
            "plugins": plugins,
        }
    )
    agent = Agent(settings)
    agent.start()
    try:
        wait_for(
            lambda: all(h.state == "ok" for h in agent.plugins.health().values()),
            20,
            "plugins ok",
        )
    except BaseException:
        agent.stop()
        raise
    return agent


def outbox_events(agent: Agent, event_type: str) -> list[dict[str, Any]]:
    """Payloads of the ``event_type`` events waiting in the agent's outbox (nothing is sent)."""
    return [
        json.loads(r.body)["payload"]
        for r in agent.outbox.next_batch(100_000)
        if r.kind == "event" and r.type == event_type
    ]


class SamReader:
    """The second-generation ID-card reader: SAM simulator on a pty, ``idcard_sam``."""

    topic = CARD_READ

    def __init__(self, workdir: Path, card: SimCard) -> None:
        self.sim = SamSimulator(workdir / "sam0")
        self.sim.start()
        self.card = card
        self.lifted: list[object] = []

    def section(self) -> dict[str, Any]:
        return {
            "kind": "idcard_sam",
            "port": self.sim.path,
            "poll_interval_s": 0.02,
            "removal_polls": 1,
        }

    def attach(self, agent: Agent) -> None:
        agent.plugins.bus.subscribe("bench", CARD_REMOVED, self.lifted.append)

    def present(self, card: SimCard | None = None) -> None:
        self.sim.present(card or self.card)

    def lift(self, n: int) -> None:
        self.sim.remove()
        wait_for(lambda: len(self.lifted) >= n, 10, "the reader noticed the card gone")

    def close(self) -> None:
        self.sim.stop()


class RelayBoard:
    """The Modbus RTU relay board (simulator on a pty) that ``modbus_gate`` drives, coil 0."""

    def __init__(self, workdir: Path, slave: int = 1) -> None:
        self.sim = RtuSlaveSimulator(workdir / "rs485", slave=slave)
        self.sim.start()

    def section(self, baudrate: int = 9600, pulse_ms: int = 50) -> dict[str, Any]:
        return {
            "kind": "modbus_gate",
            "port": self.sim.path,
            "baudrate": baudrate,
            "pulse_ms": pulse_ms,
        }

    def wait_pulses(self, n: int, timeout: float = 10) -> None:
        """Until the relay went on and off again ``n`` times in all."""
        wait_for(lambda: len(self.sim.coil_switches(0)) >= 2 * n, timeout, f"gate pulse {n}")

    def on_times(self) -> list[float]:
        """``time.monotonic()`` of each "on" frame's arrival at the board."""
        return [w.at for w in self.sim.writes if w.table == "coil" and w.value]

    def close(self) -> None:
        self.sim.stop()


def to_board_ms(reads: Sequence[CardRead | CardUid], ons: Sequence[float]) -> list[float]:
    """Last card byte → "on" frame at the board, per presentation (valid when same_clock())."""
    return [(on - r.last_byte_at) * 1000 for r, on in zip(reads, ons, strict=True)]


def p99_line(values: list[float], goal_ms: float = 20) -> str:
    p99 = sorted(values)[max(0, round(0.99 * (len(values) - 1)))]
    return f"goal p99 < {goal_ms:g} ms: {'met' if p99 < goal_ms else 'NOT met'}"


__all__ = [
    "RelayBoard",
    "SamReader",
    "closed_port",
    "offline_agent",
    "outbox_events",
    "p99_line",
    "same_clock",
    "to_board_ms",
    "wait_for",
]
