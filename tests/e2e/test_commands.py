"""Commands end to end through the REST API, the broker and a real agent process."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.conftest import Site
from tests.support.net import wait_until

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def command(site: Site, command_id: str) -> dict:
    return site.collector.get(f"/api/v1/commands/{command_id}")


def online(site: Site, device: str) -> bool:
    return bool(site.collector.get(f"/api/v1/devices/{device}")["online"])


def test_command_round_trip_and_offline_device(site: Site) -> None:
    site.start_collector()
    agent = site.add_agent("agent-cmd", sim={"rate": 0})

    # Offline: a time-critical command is answered "offline" at once, a durable one waits.
    critical = site.collector.post(
        "/api/v1/commands",
        {"device_id": "agent-cmd", "action": "agent.ping", "ttl_s": 30, "durable": False},
    )
    assert critical["state"] == "offline"
    durable = site.collector.post(
        "/api/v1/commands",
        {
            "device_id": "agent-cmd",
            "action": "sim1.burst",
            "args": {"count": 7},
            "ttl_s": 600,
            "durable": True,
        },
    )
    assert durable["state"] == "queued"

    agent.start()
    wait_until(lambda: online(site, "agent-cmd"), 30, what="agent online")
    done = wait_until(
        lambda: (
            command(site, durable["id"])["state"] == "succeeded" and command(site, durable["id"])
        ),
        30,
        what="durable command done",
    )
    statuses = [a["status"] for a in done["acks"]]
    assert statuses.count("succeeded") == 1
    assert "accepted" in statuses
    # Executed once: the burst job generated exactly 7 events.
    wait_until(lambda: site.sim_counts().get("agent-cmd", (0, 0))[0] >= 7, 20)
    time.sleep(1.0)
    assert site.sim_counts()["agent-cmd"][0] == 7

    # Online: a time-critical command round trip.
    ping = site.collector.post(
        "/api/v1/commands",
        {"device_id": "agent-cmd", "action": "agent.ping", "ttl_s": 10, "durable": False},
    )
    wait_until(lambda: command(site, ping["id"])["state"] == "succeeded", 20, what="ping")

    # Unknown action is rejected by the agent, not executed.
    bad = site.collector.post(
        "/api/v1/commands",
        {"device_id": "agent-cmd", "action": "nothing.here", "ttl_s": 10, "durable": False},
    )
    wait_until(lambda: command(site, bad["id"])["state"] == "rejected", 20, what="rejected")


def test_bad_command_input_is_422_naming_the_field(site: Site) -> None:
    site.start_collector()
    r = httpx.post(
        f"{site.collector.api}/api/v1/commands",
        json={"device_id": "x", "action": "agent.ping", "ttl_s": -5},
        headers=site.collector.headers,
        timeout=10,
    )
    assert r.status_code == 422
    assert "ttl_s" in r.text
