"""The plugin on the agent's plugin manager: local-bus inputs, the gate action, live roster
updates from the desired config, and its health."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from contract.envelopes import ConfigEnvelope
from contract.payloads.entrance import Person
from device_plugins.messages import (
    CARD_READ,
    CARD_UID,
    CARD_UNREADABLE,
    CardRead,
    CardUid,
    CardUnreadable,
)
from device_plugins.wiegand_gate.simulator import WiegandControllerSimulator
from tests.device_plugins.conftest import Site, wait_until
from tests.device_plugins.expert_gate.roster import EXPERT_ID, EXPERT_UID, roster


@pytest.fixture
def controller() -> Iterator[WiegandControllerSimulator]:
    sim = WiegandControllerSimulator(42).start()
    yield sim
    sim.stop()


def site_with_gate(
    make_site: Callable[..., Site], controller: WiegandControllerSimulator, **gate: object
) -> Site:
    return make_site(
        {
            "door": {
                "kind": "wiegand_gate",
                "host": "127.0.0.1",
                "port": controller.port,
                "serial": 42,
            },
            "expert_gate": {
                "kind": "expert_gate",
                "gate": "gate-east",
                "gate_action": "door.open",
                **gate,
            },
        }
    )


def id_card(number: str) -> CardRead:
    person = Person(document_type="resident", name="张三", id_number=number)
    return CardRead("idcard", person, last_byte_at=time.perf_counter())


def test_without_a_roster_it_refuses_and_says_so(
    make_site: Callable[..., Site], controller: WiegandControllerSimulator
) -> None:
    site = site_with_gate(make_site, controller)
    health = site.wait_health("expert_gate", "degraded")
    assert "no roster key" in health.detail and "no rooms" in health.detail
    site.manager.bus.publish(CARD_READ, id_card(EXPERT_ID))
    assert site.call("expert_gate.status")["counts"] == {"admitted": 0, "refused": 1}
    assert controller.doors_opened() == []


def test_roster_from_desired_config_applies_live(
    make_site: Callable[..., Site], controller: WiegandControllerSimulator
) -> None:
    site = site_with_gate(make_site, controller)
    now = datetime.now(UTC)
    envelope = ConfigEnvelope(
        version=3,
        issued_at=now,
        config={"expert_gate": {"roster": roster(version=9, start=now - timedelta(minutes=5))}},
    )
    assert site.manager.apply_desired(envelope) == []
    site.wait_health("expert_gate", "ok")
    status = site.call("expert_gate.status")
    assert status["roster_version"] == 9 and status["rooms"] == ["301", "302"]
    site.manager.bus.publish(CARD_UID, CardUid("ic", EXPERT_UID, time.perf_counter()))
    wait_until(lambda: controller.doors_opened() == [1], 5, "door opened")
    last = site.call("expert_gate.status")["last"]
    assert last["decision"] == "admitted" and last["label"] == "张*"
    assert last["decision_ms"] < 1000


def test_guard_screen_shows_the_decision_and_refuses_foreign_hosts(
    make_site: Callable[..., Site], controller: WiegandControllerSimulator
) -> None:
    now = datetime.now(UTC)
    site = site_with_gate(
        make_site,
        controller,
        screen_enabled=True,
        screen_port=0,
        roster=roster(start=now + timedelta(hours=3)),  # too early for now
    )
    site.wait_health("expert_gate", "ok")
    url = site.call("expert_gate.status")["screen"]
    site.manager.bus.publish(CARD_READ, id_card(EXPERT_ID))
    with urllib.request.urlopen(url + "api/state", timeout=5) as r:
        state = json.load(r)
    [last] = state["recent"]
    assert (last["decision"], last["reason_text"], last["label"]) == (
        "refused",
        "未到入场时间",
        "张*",
    )
    assert last["project"] == "GC2026-118" and state["counts"]["refused"] == 1
    site.manager.bus.publish(CARD_UNREADABLE, CardUnreadable("idcard", "读卡失败，请重新放卡"))
    with urllib.request.urlopen(url + "api/state", timeout=5) as r:
        state = json.load(r)
    unreadable = state["recent"][0]
    assert (unreadable["decision"], unreadable["reason_text"]) == (
        "refused",
        "无法读卡，请人工核验，读卡失败，请重新放卡",
    )
    assert state["counts"]["refused"] == 2
    assert EXPERT_ID not in json.dumps(state) and "hash" not in json.dumps(state)
    with urllib.request.urlopen(url, timeout=5) as r:
        assert "评标区门禁" in r.read().decode()
    request = urllib.request.Request(url + "api/state", headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 421
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(url + "static/../gatekeeper.py", timeout=5)
