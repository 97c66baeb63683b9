"""A whole gate PC in one agent, with no broker reachable: the real SAM reader plugin on its pty
simulator and the real Modbus gate plugin on the RTU relay-board simulator (or the PC/SC
reader on a real pcscd and the Wiegand controller on UDP), and the expert gate deciding from
the roster the agent cached from its last desired config.

A drawn expert presents their card → the relay really switches → the admission is in the
agent's durable outbox, all while the network is down (the broker URL points at a closed
port): the decision is the agent's own.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contract.envelopes import ConfigEnvelope
from contract.payloads.agent import PluginHealth
from device_plugins.idcard_sam.simulator import SamSimulator, resident_card
from device_plugins.modbus_rtu import RtuSlaveSimulator
from device_plugins.pcsc_reader.simulator import VirtualCard
from device_plugins.wiegand_gate.simulator import WiegandControllerSimulator
from edge_agent.agent import Agent
from edge_agent.desired_config import DesiredConfigCache
from edge_agent.settings import settings_from_mapping
from tests.device_plugins.conftest import wait_until
from tests.device_plugins.expert_gate.roster import EXPERT_ID, EXPERT_UID, STRANGER_ID, roster
from tests.device_plugins.pcsc_reader.pcscd import Pcscd

pytestmark = pytest.mark.timeout(90)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cache_roster(state_dir: Path, start: datetime) -> None:
    """What the agent keeps after the collector pushed the roster (desired config)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    envelope = ConfigEnvelope(
        version=12,
        issued_at=datetime.now(UTC),
        config={"expert_gate": {"roster": roster(version=7, start=start)}},
    )
    DesiredConfigCache(state_dir, logging.getLogger("test")).save(envelope)


def make_agent(tmp_path: Path, plugins: dict[str, Any]) -> Agent:
    state = tmp_path / "state"
    cache_roster(state, datetime.now(UTC) - timedelta(minutes=10))
    settings = settings_from_mapping(
        {
            "agent": {"centre": "c1", "device": "gate-east", "state_dir": state},
            "mqtt": {"url": f"mqtt://127.0.0.1:{closed_port()}", "reconnect_max_s": 1.0},
            "plugins": plugins,
        }
    )
    agent = Agent(settings)
    agent.start()
    return agent


def admissions(agent: Agent) -> list[dict[str, Any]]:
    rows = agent.outbox.next_batch(1000)
    return [
        json.loads(r.body)["payload"]
        for r in rows
        if r.kind == "event" and r.type == "access.admission"
    ]


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[tuple[SamSimulator, RtuSlaveSimulator]]:
    sam = SamSimulator(tmp_path / "sam0")
    board = RtuSlaveSimulator(tmp_path / "rs485", slave=1)
    for sim in (sam, board):
        sim.start()
    yield sam, board
    for sim in (sam, board):
        sim.stop()


def sam_plugins(sam: str, board: str) -> dict[str, Any]:
    return {
        "idcard": {
            "kind": "idcard_sam",
            "port": sam,
            "poll_interval_s": 0.02,
            "command_timeout_s": 0.3,
            "read_timeout_s": 0.5,
        },
        "gate1": {"kind": "modbus_gate", "port": board, "timeout_s": 0.3, "pulse_ms": 100},
        "expert_gate": {
            "kind": "expert_gate",
            "gate_action": "gate1.open",
            "refusal_alert_count": 2,
        },
    }


def test_drawn_expert_admitted_offline_with_the_cached_roster(
    tmp_path: Path, sims: tuple[SamSimulator, RtuSlaveSimulator]
) -> None:
    sam, board = sims
    agent = make_agent(tmp_path, sam_plugins(sam.path, board.path))
    try:
        wait_until(
            lambda: all(h.state == "ok" for h in agent.plugins.health().values()),
            15,
            "all plugins ok",
        )
        sam.present(resident_card(name="张三", number=EXPERT_ID))
        wait_until(lambda: board.coil_switches(0) == [True, False], 15, "relay on then off")
        [a] = wait_until(lambda: admissions(agent), 10, "admission in the outbox")
        assert (a["decision"], a["reason"], a["gate_opened"]) == ("admitted", None, True)
        assert (a["gate"], a["session_id"], a["room"], a["label"]) == (
            "gate-east",
            "S1",
            "301",
            "张*",
        )
        assert a["roster_version"] == 7 and a["credential"] == "id_card"
        assert 0 <= a["decision_ms"] < 1000
        assert EXPERT_ID not in json.dumps(a)
        assert not agent.link.connected  # all of it without the network

        sam.remove()
        time.sleep(0.3)
        for n in (2, 3):  # a stranger tries twice: refused, gate shut, alert
            sam.present(resident_card(name="王五", number=STRANGER_ID))
            wait_until(lambda n=n: len(admissions(agent)) == n, 10, "refusal recorded")  # type: ignore[misc]
            sam.remove()
            time.sleep(0.3)
        refused = admissions(agent)[1:]
        assert [(r["decision"], r["reason"]) for r in refused] == [("refused", "not_on_roster")] * 2
        assert board.coil_switches(0) == [True, False]  # not opened again

        def alerted() -> PluginHealth | None:
            health = agent.plugins.health()["expert_gate"]
            return health if health.state == "degraded" else None

        health = wait_until(alerted, 5, "refusal alert in health")
        assert "repeated refusals" in health.detail and health.data["refusal_alerts"] == 1
    finally:
        agent.stop()


def test_ic_card_through_pcscd_opens_a_wiegand_door_offline(tmp_path: Path, pcscd: Pcscd) -> None:
    port, _ = pcscd.start("Gate Reader")
    controller = WiegandControllerSimulator(223000123).start()
    agent = make_agent(
        tmp_path,
        {
            "ic": {"kind": "pcsc_reader", "wait_ms": 200},
            "door": {
                "kind": "wiegand_gate",
                "host": controller.host,
                "port": controller.port,
                "serial": 223000123,
                "door": 2,
            },
            "expert_gate": {
                "kind": "expert_gate",
                "gate_action": "door.open",
                "readers": ["idcard", "ic"],
            },
        },
    )
    card = VirtualCard(EXPERT_UID, port=port)
    try:
        wait_until(
            lambda: all(h.state == "ok" for h in agent.plugins.health().values()),
            15,
            "all plugins ok",
        )
        card.insert()
        [a] = wait_until(lambda: admissions(agent), 10, "admission in the outbox")
        assert (a["decision"], a["credential"], a["gate_opened"]) == ("admitted", "ic_card", True)
        assert controller.doors_opened() == [2]
        assert EXPERT_UID not in json.dumps(a) and len(a["card_hash"]) == 64
    finally:
        card.remove()
        agent.stop()
        controller.stop()
