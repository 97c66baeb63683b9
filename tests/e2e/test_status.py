"""Online/offline from status messages and last wills, end to end."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest

from contract.topics import status_topic
from tests.e2e.conftest import CENTRE, Site
from tests.support.net import wait_until

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def device(site: Site, device_id: str) -> dict:
    return site.collector.get(f"/api/v1/devices/{device_id}")


def publish(site: Site, topic: str, payload: dict) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="stale-will-injector")
    client.connect("127.0.0.1", site.broker.port)
    client.loop_start()
    client.publish(topic, json.dumps(payload), qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_stale_will_after_reconnect_does_not_mark_agent_offline(site: Site) -> None:
    site.start_collector()
    agent = site.add_agent("agent-s1", sim={"rate": 0})
    agent.start()
    wait_until(lambda: device(site, "agent-s1")["online"], 30, what="online")

    # A will from an earlier connection arrives late: it must be ignored.
    publish(
        site,
        status_topic(CENTRE, "agent-s1"),
        {"state": "offline", "boot": 0, "session": 0, "ts": datetime.now(UTC).isoformat()},
    )
    time.sleep(2.0)
    assert device(site, "agent-s1")["online"] is True

    # The real thing: SIGKILL the agent, the broker publishes its current will.
    agent.kill()
    wait_until(lambda: not device(site, "agent-s1")["online"], 60, what="offline by will")
    agent.start()
    wait_until(lambda: device(site, "agent-s1")["online"], 30, what="online again")
