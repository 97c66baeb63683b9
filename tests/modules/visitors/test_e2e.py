"""End to end through the real broker: a whole entrance PC (the real ``idcard_sam`` plugin on
two SAM reader simulators — entry and exit —, the ``thermometer`` on its simulator, the
``modbus_gate`` on the RTU relay-board simulator, and the ``entrance`` plugin) in an agent,
Mosquitto, and ``prtc-collector serve`` as its own process.

Rules set on the collector reach the agent as desired config; a card presented at the entry
reader switches the relay, becomes a visit and shows on the dashboard; the exit swipe closes
it; with the broker stopped a visitor is still admitted by the cached rules and the visit
appears at the collector once the broker is back.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from device_plugins.idcard_sam.simulator import SamSimulator, id_number, resident_card
from device_plugins.modbus_rtu import RtuSlaveSimulator
from device_plugins.thermometer.simulator import GyMcu90614Simulator
from edge_agent.agent import Agent
from edge_agent.settings import settings_from_mapping
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until
from tests.support.processes import CollectorProcess, tmpdir

pytestmark = pytest.mark.timeout(180)

CENTRE, DEVICE = "e2e-city", "entrance-pc"


@dataclass
class Site:
    broker: Mosquitto
    collector: CollectorProcess
    entry: SamSimulator
    exit: SamSimulator
    board: RtuSlaveSimulator
    agent: Agent


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    workdir = tmpdir("prtc-visitors-e2e-")
    broker = Mosquitto(extra_conf="max_inflight_messages 1000\n").start()
    collector = CollectorProcess(workdir, broker.url)
    sims = [
        SamSimulator(tmp_path / "sam-in"),
        SamSimulator(tmp_path / "sam-out"),
        GyMcu90614Simulator(tmp_path / "thermo", object_c=36.4),
        RtuSlaveSimulator(tmp_path / "rs485", slave=1),
    ]
    agent = None
    try:
        for sim in sims:
            sim.start()
        collector.enrol(CENTRE, DEVICE, kind="entrance")
        collector.start()
        collector.wait_ready()
        agent = Agent(agent_settings(tmp_path, broker.url, *(str(s.path) for s in sims)))
        agent.start()
        yield Site(broker, collector, sims[0], sims[1], sims[3], agent)  # type: ignore[arg-type]
    finally:
        if agent is not None:
            agent.stop()
        collector.stop()
        for sim in sims:
            sim.stop()
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


def agent_settings(
    tmp: Path, broker: str, sam_in: str, sam_out: str, thermo: str, board: str
) -> Any:
    reader = {
        "kind": "idcard_sam",
        "poll_interval_s": 0.02,
        "command_timeout_s": 0.3,
        "read_timeout_s": 0.5,
    }
    return settings_from_mapping(
        {
            "agent": {
                "centre": CENTRE,
                "device": DEVICE,
                "state_dir": tmp / "state",
                "heartbeat_interval_s": 1.0,
            },
            "mqtt": {"url": broker, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
            "outbox": {"resend_after_s": 3},
            "plugins": {
                "idcard": {**reader, "port": sam_in},
                "idcard_out": {**reader, "port": sam_out},
                "thermometer": {
                    "kind": "thermometer", "protocol": "gy_mcu90614", "port": thermo,
                    "mode": "trigger", "sample_interval_s": 0.02,
                },
                "gate1": {"kind": "modbus_gate", "port": board, "timeout_s": 0.3, "pulse_ms": 100},
                "entrance": {
                    "kind": "entrance", "door": "东门", "gate_action": "gate1.open",
                    "readers": {"idcard": "in", "idcard_out": "out"}, "kiosk_port": 0,
                },
            },
        }
    )  # fmt: skip


def inside(collector: CollectorProcess) -> int:
    return int(collector.get("/api/v1/visitors/dashboard", centre=CENTRE)["inside"])


def present(sim: SamSimulator, number: str, name: str) -> None:
    sim.present(resident_card(name=name, number=number))


def test_card_to_visit_to_dashboard_to_relay_and_back_through_an_outage(site: Site) -> None:
    c = site.collector
    wait_until(
        lambda: all(h.state == "ok" for h in site.agent.plugins.health().values()),
        20,
        0.05,
        "plugins ok",
    )
    rules = c.post(
        "/api/v1/visitors/rules",
        {
            "centre_id": CENTRE,
            "watched_regions": [{"prefix": "4201", "level": 2, "reason": "测试"}],
        },
    )
    assert rules["version"] == 1

    def in_sync() -> bool:
        agents = c.get("/api/v1/visitors/agents", centre=CENTRE)
        return bool(agents) and agents[0]["in_sync"]

    wait_until(in_sync, 20, 0.1, "agent applied the rules")

    # Entry: the relay switches, the visit is stored and the dashboard counts it.
    number = id_number("440106", "19900307", "123")
    started = time.monotonic()
    present(site.entry, number, "李四")
    wait_until(lambda: site.board.coil_switches(0)[:1] == [True], 15, 0.02, "relay switched")
    wait_until(lambda: inside(c) == 1, 15, 0.02, "dashboard shows one inside")
    print(f"\nswipe → dashboard count (API): {time.monotonic() - started:.3f} s")
    [visit] = c.get("/api/v1/visitors/visits", centre=CENTRE)["items"]
    assert visit["name"] == "李*" and visit["origin"].startswith("广东省广州市")
    assert visit["rules_version"] == 1 and visit["temperature_c"] == 36.4 and visit["inside"]
    site.entry.remove()

    # Exit swipe at the other reader closes the visit.
    present(site.exit, number, "李四")
    wait_until(lambda: inside(c) == 0, 15, 0.05, "visit closed by the exit swipe")
    [visit] = c.get("/api/v1/visitors/visits", centre=CENTRE)["items"]
    assert visit["exited_at"] and visit["door_out"] == "东门" and not visit["exit_unmatched"]
    site.exit.remove()

    # Broker down: the door keeps working on the cached rules; the visit arrives later.
    site.broker.stop()
    switches = len(site.board.coil_switches(0))
    other = id_number("420102", "19880808", "015")
    present(site.entry, other, "王五")  # from a class-2 region: waits for the operator
    door = site.agent.plugins._instances["entrance"].plugin.door  # type: ignore[attr-defined]
    wait_until(lambda: door.pending, 15, 0.02, "visitor waiting for the operator")
    view = site.agent.executor.call("entrance.confirm", {"operator": "值班员"})
    assert view["status"] == "admitted"
    wait_until(lambda: len(site.board.coil_switches(0)) > switches, 15, 0.02, "relay while offline")
    time.sleep(0.5)
    site.broker.start()
    wait_until(lambda: inside(c) == 1, 60, 0.2, "offline visit delivered after the outage")
    [latest, _] = c.get("/api/v1/visitors/visits", centre=CENTRE)["items"]
    assert latest["name"] == "王*" and latest["flags"] == ["region_class2"]
