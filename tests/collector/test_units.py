"""Small pure pieces: broker URLs, subscriptions, ack ordering, the event bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from collector.commands.models import CommandState
from collector.commands.service import ack_update
from collector.event_bus import ANY, EventBus
from collector.inbox import Inbox
from collector.mqtt_link import MqttLink, parse_broker_url
from collector.settings import MqttSettings
from contract.envelopes import AckEnvelope
from contract.ids import uuid7


def test_parse_broker_url():
    a = parse_broker_url("mqtt://broker.local")
    assert (a.host, a.port, a.tls) == ("broker.local", 1883, False)
    b = parse_broker_url("mqtts://user:p%40ss@10.0.0.1:8884")
    assert (b.host, b.port, b.tls, b.username, b.password) == (
        "10.0.0.1",
        8884,
        True,
        "user",
        "p@ss",
    )
    assert parse_broker_url("mqtts://h").port == 8883
    with pytest.raises(ValueError):
        parse_broker_url("http://h")
    with pytest.raises(ValueError):
        parse_broker_url("mqtt://")


@pytest.mark.parametrize("shared", [False, True])
def test_subscriptions_share_events_and_acks_but_never_status(shared: bool):
    link = MqttLink(MqttSettings(url="mqtt://127.0.0.1:1", shared_subscription=shared), Inbox(10))
    subs = [topic for topic, qos in link.subscriptions()]
    prefix = "$share/collectors/" if shared else ""
    assert subs == [
        f"{prefix}prtc/v1/+/+/event/#",
        f"{prefix}prtc/v1/+/+/ack",
        "prtc/v1/+/+/status",
    ]
    assert all(qos == 1 for _, qos in link.subscriptions())


def _ack(status: str, ts: datetime) -> AckEnvelope:
    return AckEnvelope(
        id=uuid7(), command_id=UUID(int=1), centre="c", device="d", seq=1, status=status, ts=ts
    )


def test_ack_update_never_moves_back():
    t = datetime.now(UTC)
    assert ack_update(CommandState.SENT, None, _ack("received", t)).state is CommandState.RECEIVED
    assert ack_update(CommandState.PROGRESS, t, _ack("progress", t - timedelta(seconds=1))) is None
    assert ack_update(CommandState.SUCCEEDED, t, _ack("failed", t + timedelta(1))) is None
    assert ack_update(CommandState.EXPIRED, None, _ack("succeeded", t)) is None
    done = ack_update(CommandState.PROGRESS, t, _ack("succeeded", t))
    assert done.state is CommandState.SUCCEEDED and done.progress == 1.0


def test_event_bus_specific_and_catch_all():
    bus = EventBus()
    assert not bus
    calls: list[str] = []
    bus.subscribe("a.b", lambda s, e: calls.append("specific"))
    bus.subscribe(ANY, lambda s, e: calls.append("any"))
    assert bus and len(bus.handlers_for("a.b")) == 2 and len(bus.handlers_for("x.y")) == 1
    bus.dispatch(None, type("E", (), {"type": "a.b"})())  # type: ignore[arg-type]
    assert calls == ["specific", "any"]
