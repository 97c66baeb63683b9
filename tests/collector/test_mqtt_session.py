"""The collector's paho session on a real Mosquitto: buffered socket reads and batched acks.

The session reads the socket in large chunks (:class:`collector.mqtt_session.BufferedClient`)
and sends the PUBACKs of a batch in one write, on a plain and on a TLS listener. Mosquitto
holds back everything beyond its in-flight window (1000 in the test broker) until PUBACKs
free it, and redelivers whatever was not acknowledged when the same client id reconnects;
both make a wrong ack visible here.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from collector.mqtt_session import BufferedClient, Item, PahoSession
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until
from tests.support.pki import make_pki

TOPIC = "prtc/v1/t-city/sess-1/event/sim.reading"
WINDOW = 1000  # max_inflight_messages of the test broker


class Sink:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.states: list[tuple[bool, bool, int]] = []
        self._lock = threading.Lock()

    def state(self, connected: bool, subscribed: bool, generation: int) -> None:
        self.states.append((connected, subscribed, generation))

    def message(self, item: Item, timeout: float) -> bool:
        with self._lock:
            self.items.append(item)
        return True

    def count(self) -> int:
        with self._lock:
            return len(self.items)


class Broker:
    """A test Mosquitto, plain or behind TLS (``ca`` set)."""

    def __init__(self, mosquitto: Mosquitto, ca: Path | None = None) -> None:
        self.mosquitto = mosquitto
        self.port = mosquitto.port
        self.ca = ca


@pytest.fixture(params=["plain", "tls"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    if request.param == "plain":
        mosquitto = Mosquitto().start()
        yield Broker(mosquitto)
        mosquitto.close()
        return
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    make_pki(tmp_path)
    conf = (
        f"cafile {tmp_path / 'ca.crt'}\n"
        f"certfile {tmp_path / 'server.crt'}\n"
        f"keyfile {tmp_path / 'server.key'}\n" + ("user root\n" if os.geteuid() == 0 else "")
        # As root, mosquitto drops to user "mosquitto", who cannot read a 0600 key in tmp_path.
    )
    mosquitto = Mosquitto(extra_conf=conf).start()
    yield Broker(mosquitto, tmp_path / "ca.crt")
    mosquitto.close()


def options(broker: Broker, client_id: str) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": broker.port,
        "keepalive": 30,
        "client_id": client_id,
        "username": "",
        "password": "",
        "tls": broker.ca is not None,
        "tls_ca_file": str(broker.ca) if broker.ca else "",
        "max_inflight": 1000,
        "subscriptions": [("prtc/v1/+/+/event/#", 1)],
    }


def start(broker: Broker, client_id: str) -> tuple[PahoSession, Sink]:
    sink = Sink()
    session = PahoSession(options(broker, client_id), sink)
    session.start()
    wait_until(lambda: (True, True, session.generation) in sink.states, 10, what="subscribed")
    return session, sink


def publish(broker: Broker, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.time_ns()}")
    client.max_inflight_messages_set(0)
    if broker.ca is not None:
        client.tls_set(ca_certs=str(broker.ca))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        infos = [client.publish(TOPIC, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.loop_stop()
        client.disconnect()


def test_bulk_reads_and_batched_acks(broker: Broker) -> None:
    # Small messages that arrive many to a read, and large ones that span several reads.
    sizes = [10 + (i % 50) for i in range(1500)]
    sizes[7] = sizes[1200] = 3 * BufferedClient.READ_SIZE + 17
    payloads = [bytes([65 + i % 26]) * size for i, size in enumerate(sizes)]
    payloads = [f"{i:05d}".encode() + p for i, p in enumerate(payloads)]

    session, sink = start(broker, "sess-bulk")
    assert isinstance(session.client, BufferedClient)
    publish(broker, payloads)
    # Unacknowledged, the broker stops at its window.
    wait_until(lambda: sink.count() >= WINDOW, 20, what="a full window")
    time.sleep(0.3)
    assert sink.count() == WINDOW
    # One write of a thousand PUBACKs frees the window: the rest arrive.
    session.ack(session.generation, [item[2] for item in sink.items[:WINDOW]])
    wait_until(lambda: sink.count() >= len(payloads), 20, what="the rest")
    assert [item[1] for item in sink.items] == payloads
    generation = session.generation
    session.ack(generation, [item[2] for item in sink.items[WINDOW:]])
    # An ack for an earlier connection is never sent.
    session.ack(generation - 1, [1, 2, 3])
    session.publish(TOPIC, b"marker-1", 1, False)  # the session's own publishes still flow
    wait_until(lambda: sink.count() == len(payloads) + 1, 10, what="own marker")
    session.ack(generation, [sink.items[-1][2]])
    time.sleep(0.3)  # let the network thread write the last acks before disconnecting
    session.stop()
    assert all(item[5] == generation for item in sink.items)

    # Same client id again (persistent session): nothing is redelivered, so every ack
    # above reached the broker; the next message is the first to arrive.
    session, sink = start(broker, "sess-bulk")
    try:
        publish(broker, [b"marker-2"])
        wait_until(lambda: sink.count() >= 1, 10, what="marker")
        time.sleep(0.3)
        assert [item[1] for item in sink.items] == [b"marker-2"]
    finally:
        session.stop()


def test_unacknowledged_messages_are_redelivered(broker: Broker) -> None:
    session, sink = start(broker, "sess-redeliver")
    payloads = [f"m{i}".encode() for i in range(50)]
    publish(broker, payloads)
    wait_until(lambda: sink.count() >= 50, 10, what="all received")
    session.ack(session.generation, [item[2] for item in sink.items[:30]])
    time.sleep(0.3)
    session.stop()

    session, sink = start(broker, "sess-redeliver")
    try:
        wait_until(lambda: sink.count() >= 20, 10, what="redelivery")
        time.sleep(0.3)
        assert sorted(item[1] for item in sink.items) == sorted(payloads[30:])
    finally:
        session.stop()
