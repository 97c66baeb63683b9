"""The embedded amqtt broker: started when mqtt.url is empty; QoS 1 delivery end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from collector.ingest.models import StoredEvent
from contract import topics
from tests.collector.conftest import CENTRE, enrol, event_envelope, session
from tests.support.net import free_port, wait_until


def test_embedded_broker_delivers_events_and_receipts(tmp_path: Path, runtime_factory, sqlite_url):
    port = free_port()
    runtime = runtime_factory(sqlite_url, "", mqtt={"embedded_listen": f"127.0.0.1:{port}"})
    assert runtime.embedded_broker is not None
    assert runtime.broker_url == f"mqtt://127.0.0.1:{port}"
    enrol(runtime, "emb-1")

    receipts: list[dict] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="emb-1")
    client.on_message = lambda c, u, m: receipts.append(json.loads(m.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe(topics.receipt_topic(CENTRE, "emb-1"), 1)
        time.sleep(0.2)
        envs = [event_envelope("emb-1", seq) for seq in range(1, 21)]
        for env in envs + envs[:3]:
            client.publish(
                topics.event_topic(CENTRE, "emb-1", "sim.reading"), json.dumps(env), qos=1
            ).wait_for_publish(5)

        def stored() -> int:
            with session(runtime) as s:
                return len(s.exec(__import__("sqlmodel").select(StoredEvent.id)).all())

        wait_until(lambda: stored() == 20, 10, what="stored")
        wait_until(
            lambda: (
                {s for r in receipts for a, b in r["ranges"] for s in range(a, b + 1)}
                == set(range(1, 21))
            ),
            10,
            what="receipts",
        )
    finally:
        client.disconnect()
        client.loop_stop()
    runtime.stop()
    # Stopped cleanly: the port is free again.
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        sock.bind(("127.0.0.1", port))
        sock.listen()
