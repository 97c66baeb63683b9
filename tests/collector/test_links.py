"""Both MQTT links: the receiver child process (default) survives being killed; the
in-process link (``mqtt.receiver_process = false``) stores and receipts the same way."""

from __future__ import annotations

import os
import signal

import pytest
from sqlmodel import func, select

from collector.ingest.models import StoredEvent
from collector.mqtt_process import ProcessMqttLink
from tests.collector.conftest import enrol, event_envelope, session
from tests.support.net import wait_until


def stored(runtime) -> int:  # type: ignore[no-untyped-def]
    with session(runtime) as s:
        return int(s.exec(select(func.count()).select_from(StoredEvent)).one())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_receiver_process_killed_is_restarted_and_nothing_is_lost(collector, agent_factory):
    assert isinstance(collector.link, ProcessMqttLink)
    enrol(collector, "rx-1")
    agent = agent_factory("rx-1")
    envs = [event_envelope("rx-1", seq) for seq in range(1, 201)]
    for env in envs[:100]:
        agent.publish_event(env)
    first_pid = collector.link.pid
    os.kill(first_pid, signal.SIGKILL)
    for env in envs[100:]:
        agent.publish_event(env)
    wait_until(lambda: collector.link.pid not in (None, first_pid), 10, what="restarted")
    assert collector.wait_ready(10)
    wait_until(lambda: stored(collector) == 200, 20, what="all stored")
    # Whatever the dead child had not acknowledged was redelivered: receipts cover it all.
    wait_until(lambda: agent.receipted_seqs() == set(range(1, 201)), 20, what="receipts")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_in_process_link(mosquitto, db_url, runtime_factory, agent_factory):
    runtime = runtime_factory(db_url, mosquitto.url, mqtt={"receiver_process": False})
    assert not isinstance(runtime.link, ProcessMqttLink)
    enrol(runtime, "ip-1")
    agent = agent_factory("ip-1")
    envs = [event_envelope("ip-1", seq) for seq in range(1, 21)]
    for env in envs + envs[:5]:
        agent.publish_event(env)
    wait_until(lambda: agent.receipted_seqs() == set(range(1, 21)), 10, what="receipts")
    assert stored(runtime) == 20


def test_runtime_stop_ends_the_receiver_process(collector):
    pid = collector.link.pid
    assert pid is not None
    collector.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
