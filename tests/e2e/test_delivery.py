"""End-to-end delivery through real processes: agents → Mosquitto → collector → database.

Every sim event carries its generator counter ``n``; a device that generated ``count`` events
must end with exactly the counters 0..count-1 stored, each once.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import Site
from tests.support.net import wait_until


def sim_counters(site: Site, device: str) -> list[int]:
    rows = site.rows(
        "SELECT payload FROM events WHERE device_id = :d AND type LIKE 'sim.%'", d=device
    )
    return sorted((json.loads(p) if isinstance(p, str) else p)["n"] for (p,) in rows)


def wait_all_stored(site: Site, expected: dict[str, int], timeout: float = 120) -> None:
    def done() -> bool:
        counts = site.sim_counts()
        return all(counts.get(d, (0, 0))[0] >= n for d, n in expected.items())

    wait_until(done, timeout, 0.25, f"all events stored {expected}")
    # Let in-flight duplicates (resends) arrive; they must not add rows.
    time.sleep(1.0)


def assert_exactly_once(site: Site, expected: dict[str, int]) -> None:
    for device, count in expected.items():
        assert sim_counters(site, device) == list(range(count)), device


def test_thousands_from_several_agents_stored_exactly_once(site: Site) -> None:
    site.start_collector()
    expected = {f"agent-{i}": 1500 for i in range(4)}
    for device, count in expected.items():
        site.add_agent(device, sim={"rate": 1000, "count": count}).start()
    wait_all_stored(site, expected)
    assert_exactly_once(site, expected)
    # Receipts freed every outbox of its sim events.
    for agent in site.agents:
        wait_until(
            lambda a=agent: not any(True for _ in a.outbox_ids()) or None,
            20,
            what=f"{agent.device} outbox drained",
        )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_broker_killed_mid_stream(site: Site) -> None:
    site.start_collector()
    expected = {"agent-b1": 2000, "agent-b2": 2000}
    for device, count in expected.items():
        site.add_agent(device, sim={"rate": 400, "count": count}).start()
    wait_until(lambda: sum(c for c, _ in site.sim_counts().values()) > 300, 30)
    site.broker.kill()  # no persistence: anything only in the broker is gone
    time.sleep(2.0)
    site.broker.start()
    wait_all_stored(site, expected)
    assert_exactly_once(site, expected)


def test_collector_sigkilled_mid_ingest(site: Site) -> None:
    site.start_collector()
    expected = {"agent-c1": 2500, "agent-c2": 2500}
    for device, count in expected.items():
        site.add_agent(device, sim={"rate": 500, "count": count}).start()
    wait_until(lambda: sum(c for c, _ in site.sim_counts().values()) > 500, 30)
    site.collector.kill()
    time.sleep(1.5)
    site.start_collector()
    wait_all_stored(site, expected)
    assert_exactly_once(site, expected)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_agent_sigkilled_with_backlog_delivers_it_after_restart(site: Site) -> None:
    # No collector yet: nothing is receipted, so everything stays in the outbox.
    agent = site.add_agent("agent-k1", sim={"rate": 500, "count": 3000})
    agent.start()
    wait_until(lambda: len(agent.outbox_ids()) >= 1000, 30, what="backlog builds")
    agent.kill()
    backlog = agent.outbox_ids()
    assert len(backlog) >= 1000
    # Restart without generating more, then bring the collector up.
    agent.env["PRTC_AGENT_PLUGINS__SIM1__RATE"] = "0"
    agent.start()
    site.start_collector()

    def stored_ids() -> set[str]:
        return {r[0] for r in site.rows("SELECT id FROM events WHERE device_id='agent-k1'")}

    wait_until(lambda: backlog <= stored_ids(), 60, 0.25, "backlog stored")
    counters = sim_counters(site, "agent-k1")
    assert len(counters) == len(set(counters)), "a counter was stored twice"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_agent_boots_without_network_and_delivers_when_broker_appears(site: Site) -> None:
    site.broker.stop()
    agent = site.add_agent("agent-n1", sim={"rate": 200, "count": 600})
    agent.start()
    # Captured and persisted from the first second with no broker at all.
    wait_until(lambda: len(agent.outbox_ids()) >= 100, 10, what="captured offline")
    time.sleep(2.0)
    site.broker.start()
    site.start_collector()
    wait_all_stored(site, {"agent-n1": 600})
    assert_exactly_once(site, {"agent-n1": 600})
    first = site.rows("SELECT min(ts), min(stored_at) FROM events WHERE device_id='agent-n1'")[0]
    assert first[0] is not None and first[1] is not None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_outbox_bound_evicts_and_reports(site: Site) -> None:
    site.broker.stop()
    agent = site.add_agent(
        "agent-e1",
        sim={"rate": 1000, "count": 1200, "types": ["sim.reading"]},
        outbox={"max_events": 500},
    )
    agent.start()
    wait_until(lambda: agent.outbox_depth() >= 500, 20, what="outbox full")
    time.sleep(1.5)
    assert agent.outbox_depth() <= 500
    site.broker.start()
    site.start_collector()

    def evicted_reported() -> int:
        rows = site.rows(
            "SELECT payload FROM events WHERE device_id='agent-e1' AND type='agent.outbox_evicted'"
        )
        return sum((json.loads(p) if isinstance(p, str) else p)["count"] for (p,) in rows)

    total = wait_until(
        lambda: evicted_reported() >= 700 and evicted_reported(), 60, what="eviction reported"
    )
    stored = len(sim_counters(site, "agent-e1"))
    # Everything generated is either stored or counted as evicted: nothing vanished silently.
    wait_until(lambda: len(sim_counters(site, "agent-e1")) + evicted_reported() >= 1200, 30)
    assert stored + total <= 1200 + 5  # heartbeats/evict events are not sim events

    # The heartbeat carries the totals too (the next one after the evictions).
    def heartbeat_evicted() -> int:
        hb = site.collector.get("/api/v1/devices/agent-e1").get("heartbeat") or {}
        return sum((hb.get("evicted") or {}).values())

    wait_until(lambda: heartbeat_evicted() >= 700, 30, 0.25, "evictions in the heartbeat")
