"""A whole entrance PC in one agent, with no broker reachable: the real SAM reader plugin on
its pty simulator, the real thermometer plugin on its GY-MCU90614 simulator, the real Modbus
gate plugin on the RTU relay-board simulator, and the entrance plugin with its screen.

A card presented to the simulated reader → the relay really switches → the passage is in the
agent's durable outbox, all while the network is down (the broker URL points at a closed
port): the decision is the agent's own.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device_plugins.idcard_sam.simulator import SamSimulator, id_number, resident_card
from device_plugins.modbus_rtu import RtuSlaveSimulator
from device_plugins.thermometer.simulator import GyMcu90614Simulator
from edge_agent.agent import Agent
from edge_agent.settings import settings_from_mapping

pytestmark = pytest.mark.timeout(60)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[tuple[SamSimulator, GyMcu90614Simulator, RtuSlaveSimulator]]:
    sam = SamSimulator(tmp_path / "sam0")
    thermo = GyMcu90614Simulator(tmp_path / "thermo0", object_c=36.6)
    board = RtuSlaveSimulator(tmp_path / "rs485", slave=1)
    for sim in (sam, thermo, board):
        sim.start()
    yield sam, thermo, board
    for sim in (sam, thermo, board):
        sim.stop()


def make_agent(tmp_path: Path, sam: str, thermo: str, board: str, rules: dict[str, Any]) -> Agent:
    settings = settings_from_mapping(
        {
            "agent": {"centre": "c1", "device": "entrance-pc", "state_dir": tmp_path / "state"},
            "mqtt": {"url": f"mqtt://127.0.0.1:{closed_port()}", "reconnect_max_s": 1.0},
            "plugins": {
                "idcard": {
                    "kind": "idcard_sam",
                    "port": sam,
                    "poll_interval_s": 0.02,
                    "command_timeout_s": 0.3,
                    "read_timeout_s": 0.5,
                },
                "thermometer": {
                    "kind": "thermometer",
                    "protocol": "gy_mcu90614",
                    "port": thermo,
                    "mode": "trigger",
                    "sample_interval_s": 0.02,
                },
                "gate1": {"kind": "modbus_gate", "port": board, "timeout_s": 0.3, "pulse_ms": 100},
                "entrance": {
                    "kind": "entrance",
                    "door": "east",
                    "readers": {"idcard": "in"},
                    "gate_action": "gate1.open",
                    "kiosk_port": 0,
                    "rules": rules,
                },
            },
        }
    )
    agent = Agent(settings)
    agent.start()
    return agent


def passages(agent: Agent) -> list[dict[str, Any]]:
    rows = agent.outbox.next_batch(1000)
    return [
        json.loads(r.body)["payload"]
        for r in rows
        if r.kind == "event" and r.type == "entrance.passage"
    ]


def test_card_presented_switches_the_relay_and_stores_the_passage_offline(
    tmp_path: Path, sims: tuple[SamSimulator, GyMcu90614Simulator, RtuSlaveSimulator]
) -> None:
    sam, thermo, board = sims
    agent = make_agent(tmp_path, sam.path, thermo.path, board.path, {"version": 4})
    try:
        health = wait_until(
            lambda: (
                (h := agent.plugins.health()) and all(x.state == "ok" for x in h.values()) and h
            ),
            15,
            "all plugins ok",
        )
        assert set(health) == {"idcard", "thermometer", "gate1", "entrance"}
        number = id_number("420102", "19880808", "015")
        sam.present(resident_card(name="王小明", number=number))
        wait_until(lambda: board.coil_switches(0) == [True, False], 15, "relay on then off")
        [p] = wait_until(lambda: passages(agent), 10, "passage in the outbox")
        assert p["direction"] == "in" and p["decision"] == "admitted" and p["door"] == "east"
        assert p["person"]["id_number"] == number and p["person"]["name"] == "王小明"
        assert p["origin"]["city"] == "武汉市" and p["temperature_c"] == 36.6
        assert p["gate_opened"] and p["rules_version"] == 4 and p["decided_by"] == "rules"
        assert 0 <= p["decision_ms"] < 1000
        assert not agent.link.connected  # all of it without the network

        # The screen served by the agent shows the visitor, masked.
        entrance = agent.plugins._instances["entrance"].plugin
        url = entrance.kiosk.url  # type: ignore[union-attr]
        with urllib.request.urlopen(url + "api/state", timeout=5) as r:
            state = json.load(r)
        assert state["current"]["name"] == "王小明"
        assert state["current"]["id_masked"] == "420***********" + number[-4:]
        assert state["counts"]["admitted"] == 1
    finally:
        agent.stop()


def test_a_flagged_visitor_waits_and_the_operator_confirms(
    tmp_path: Path, sims: tuple[SamSimulator, GyMcu90614Simulator, RtuSlaveSimulator]
) -> None:
    sam, thermo, board = sims
    rules = {"version": 2, "watched_regions": [{"prefix": "42", "level": 2, "reason": "测试"}]}
    agent = make_agent(tmp_path, sam.path, thermo.path, board.path, rules)
    try:
        wait_until(
            lambda: all(x.state == "ok" for x in agent.plugins.health().values()), 15, "plugins ok"
        )
        sam.present(resident_card(number=id_number("420502", "19900101", "021")))
        entrance = agent.plugins._instances["entrance"].plugin
        door = entrance.door  # type: ignore[union-attr]
        wait_until(
            lambda: door.pending and next(iter(door.pending.values())).temperature_c is not None,
            10,
            "visitor waiting with a temperature",
        )
        assert passages(agent) == [] and board.coil_switches(0) == []
        view = agent.executor.call("entrance.confirm", {"operator": "值班员"})
        assert view["status"] == "admitted"
        wait_until(lambda: board.coil_switches(0)[:1] == [True], 10, "relay on")
        [p] = wait_until(lambda: passages(agent), 10, "passage")
        assert p["decided_by"] == "operator" and p["operator"] == "值班员"
        assert [f["reason"] for f in p["flags"]] == ["来自二类地区：湖北省（测试）"]
    finally:
        agent.stop()
