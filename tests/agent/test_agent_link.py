"""The agent against a real Mosquitto: offline boot, status epochs, receipts, commands, config."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contract import topics
from contract.envelopes import CommandEnvelope, ConfigEnvelope, Receipt, StatusMessage
from contract.ids import uuid7
from contract.payloads.sim import SimReading
from edge_agent.agent import Agent

from .conftest import CENTRE, Broker, Observer, ReceiptResponder, free_port, wait_until

Make = Callable[..., Agent]


def connected(agent: Agent) -> bool:
    return agent.link.connected


def send_command(observer: Observer, device: str, action: str, **args: object) -> str:
    now = datetime.now(UTC)
    cmd = CommandEnvelope(
        id=uuid7(),
        centre=CENTRE,
        device=device,
        action=action,
        args=dict(args),
        issued_at=now,
        expires_at=now + timedelta(seconds=30),
    )
    observer.publish(topics.cmd_topic(CENTRE, device), cmd.model_dump_json())
    return str(cmd.id)


def acks_of(observer: Observer, command_id: str) -> list[dict]:
    return [a for a in observer.bodies("/ack") if a["command_id"] == command_id]


def test_boots_without_broker_captures_events_and_delivers_them_later(
    make_agent: Make, make_broker: Callable[..., Broker]
) -> None:
    port = free_port()  # nothing listens here yet
    agent = make_agent(
        "dev-offline",
        port,
        plugins={"sim1": {"kind": "sim", "rate": 100, "count": 60, "types": ["sim.reading"]}},
        outbox={"resend_after_s": 1.0},
    )
    wait_until(lambda: agent.outbox.depth() >= 61, 10, "events captured offline")
    assert not agent.link.connected
    captured = {r.seq for r in agent.outbox.next_batch(1000)}

    broker = make_broker(port).start()
    responder = ReceiptResponder(broker.port, CENTRE, "dev-offline")
    try:
        wait_until(lambda: captured <= responder.seen, 15, "backlog published")
        wait_until(lambda: agent.outbox.depth() == 0, 10, "receipts freed the outbox")
    finally:
        responder.close()
    assert agent.link.session >= 1


def test_stale_will_on_own_status_topic_is_overwritten_with_online(
    make_agent: Make, broker: Broker, observer_factory: Callable[..., Observer]
) -> None:
    agent = make_agent("dev-will", broker.port)
    wait_until(lambda: connected(agent), 10, "connected")
    status_topic = topics.status_topic(CENTRE, "dev-will")
    observer = observer_factory(broker.port, status_topic)
    wait_until(lambda: observer.bodies("/status"), 5, "retained online")
    assert observer.bodies("/status")[-1]["state"] == "online"
    online = StatusMessage.model_validate(observer.bodies("/status")[-1])

    stale = StatusMessage(
        state="offline", boot=online.boot - 1, session=7, ts=datetime.now(UTC)
    )  # e.g. the will of the previous boot, delivered late
    observer.publish(status_topic, stale.model_dump_json(), retain=True)
    wait_until(
        lambda: (
            observer.bodies("/status")[-1]["state"] == "online"
            and len(observer.bodies("/status")) >= 3
        ),
        5,
        "online republished",
    )
    # What a collector subscribing now gets as retained is online again, same epoch.
    fresh = observer_factory(broker.port, status_topic)
    latest = wait_until(lambda: fresh.bodies("/status"), 5, "retained status")[-1]
    assert (latest["state"], latest["boot"], latest["session"]) == (
        "online",
        online.boot,
        online.session,
    )


def test_receipt_deletes_exactly_the_covered_ranges(make_agent: Make, broker: Broker) -> None:
    agent = make_agent("dev-receipt", broker.port)
    wait_until(lambda: connected(agent), 10, "connected")
    seqs = [
        agent.emit("sim.reading", SimReading(sensor="s", value=float(i), n=i)) for i in range(10)
    ]
    wait_until(lambda: agent.sender.published >= len(seqs), 5, "published")
    before = {r.seq for r in agent.outbox.next_batch(1000)}
    covered = {seqs[1], seqs[2], seqs[3], seqs[6]}
    receipt = Receipt(
        ranges=[(seqs[1], seqs[3]), (seqs[6], seqs[6])], collector_time=datetime.now(UTC)
    )
    observer = Observer(broker.port, "nothing/here")
    try:
        observer.publish(topics.receipt_topic(CENTRE, "dev-receipt"), receipt.model_dump_json())
    finally:
        observer.close()
    wait_until(lambda: agent.outbox.depth() == len(before) - 4, 5, "rows deleted")
    assert {r.seq for r in agent.outbox.next_batch(1000)} == before - covered
    assert agent.sender.last_receipt is not None


def test_commands_over_mqtt_ping_and_sim_burst_job(
    make_agent: Make, broker: Broker, observer_factory: Callable[..., Observer]
) -> None:
    agent = make_agent("dev-cmd", broker.port, plugins={"sim1": {"kind": "sim", "rate": 0}})
    wait_until(lambda: connected(agent), 10, "connected")
    observer = observer_factory(broker.port, "prtc/v1/+/dev-cmd/#")

    ping = send_command(observer, "dev-cmd", "agent.ping")
    wait_until(lambda: len(acks_of(observer, ping)) >= 2, 10, "ping answered")
    received, succeeded = acks_of(observer, ping)
    assert (received["status"], succeeded["status"]) == ("received", "succeeded")
    assert "agent_time" in succeeded["result"]

    burst = send_command(observer, "dev-cmd", "sim1.burst", count=20)
    wait_until(
        lambda: any(a["status"] == "succeeded" for a in acks_of(observer, burst)), 10, "burst done"
    )
    statuses = [a["status"] for a in acks_of(observer, burst)]
    assert statuses[:2] == ["received", "accepted"] and statuses[-1] == "succeeded"
    assert statuses.count("progress") >= 5
    wait_until(lambda: len(observer.bodies("/event/sim.reading")) >= 7, 5, "burst events")

    fail = send_command(observer, "dev-cmd", "sim1.fail")
    wait_until(lambda: len(acks_of(observer, fail)) >= 2, 10, "fail answered")
    assert acks_of(observer, fail)[-1]["status"] == "failed"
    assert acks_of(observer, fail)[-1]["message"] == "simulated failure"


def test_desired_config_is_applied_reported_and_cached(
    make_agent: Make, broker: Broker, observer_factory: Callable[..., Observer], tmp_path: Path
) -> None:
    agent = make_agent("dev-cfg", broker.port, plugins={"sim1": {"kind": "sim", "rate": 0}})
    wait_until(lambda: connected(agent), 10, "connected")
    observer = observer_factory(broker.port, "prtc/v1/+/dev-cfg/event/agent.config_applied")
    config = ConfigEnvelope(
        version=3,
        issued_at=datetime.now(UTC),
        config={"sim1": {"rate": 5.0, "types": ["sim.access"]}, "rules": {"x": 1}},
    )
    observer.publish(topics.config_topic(CENTRE, "dev-cfg"), config.model_dump_json(), retain=True)
    applied = wait_until(lambda: observer.bodies("config_applied"), 10, "config applied")
    assert applied[0]["payload"] == {"version": 3, "ok": True, "error": ""}
    assert agent.config.applied_version == 3
    assert agent.plugins.health()["sim1"].detail == "5 events/s"
    cached = json.loads((tmp_path / "dev-cfg" / "desired_config.json").read_text())
    assert cached["version"] == 3

    # Re-delivery of the same version (every reconnect) is not applied twice.
    observer.publish(topics.config_topic(CENTRE, "dev-cfg"), config.model_dump_json(), retain=True)
    time.sleep(0.3)
    assert len(observer.bodies("config_applied")) == 1
    agent.stop()

    # Restart with no broker at all: plugins start from the cached desired config.
    restarted = make_agent("dev-cfg", free_port(), plugins={"sim1": {"kind": "sim", "rate": 0}})
    assert restarted.config.applied_version == 3
    assert restarted.plugins.health()["sim1"].detail == "5 events/s"


def test_clean_stop_publishes_retained_offline_with_the_same_epoch(
    make_agent: Make, broker: Broker, observer_factory: Callable[..., Observer]
) -> None:
    agent = make_agent("dev-stop", broker.port)
    wait_until(lambda: connected(agent), 10, "connected")
    agent.stop()
    observer = observer_factory(broker.port, topics.status_topic(CENTRE, "dev-stop"))
    retained = wait_until(lambda: observer.bodies("/status"), 5, "retained status")[-1]
    assert (retained["state"], retained["boot"], retained["session"]) == ("offline", 1, 1)


def test_broker_restart_reconnects_with_a_new_session_and_resends(
    make_agent: Make, broker: Broker
) -> None:
    # The responder subscribes only after the broker is back: the agent's first resend on the
    # new connection may precede it, so a short resend_after_s sends it again.
    agent = make_agent("dev-restart", broker.port, outbox={"resend_after_s": 1.0})
    wait_until(lambda: connected(agent), 10, "connected")
    first = agent.emit("sim.reading", SimReading(sensor="s", value=1.0, n=0))
    wait_until(lambda: agent.sender.published >= 2, 5, "published")
    broker.stop()  # persistence is off: what only the broker held is gone
    wait_until(lambda: not connected(agent), 10, "link down")
    broker.start()
    responder = ReceiptResponder(broker.port, CENTRE, "dev-restart")
    try:
        wait_until(lambda: connected(agent), 10, "reconnected")
        assert agent.link.session >= 2
        wait_until(lambda: first in responder.seen, 10, "unreceipted event sent again")
    finally:
        responder.close()
