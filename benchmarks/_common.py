"""Shared pieces of the benchmarks: a real broker, envelopes, a bare paho baseline."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import deque
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from contract.envelopes import EventEnvelope
from contract.ids import uuid7
from contract.topics import SUB_EVENTS, event_topic

CENTRE = "bench-city"


def make_events(n: int, devices: list[str]) -> list[tuple[str, bytes]]:
    """``n`` valid ``sim.reading`` envelopes spread round-robin over ``devices``."""
    seqs = dict.fromkeys(devices, 0)
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        device = devices[i % len(devices)]
        seqs[device] += 1
        env = EventEnvelope(
            id=uuid7(),
            centre=CENTRE,
            device=device,
            type="sim.reading",
            ts=datetime.now(UTC),
            seq=seqs[device],
            payload={"sensor": "t1", "value": 21.5 + (i % 10) / 10, "unit": "C", "n": i},
        )
        out.append((event_topic(CENTRE, device, "sim.reading"), env.model_dump_json().encode()))
    return out


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Publish with QoS 1 as fast as the broker takes them; return seconds taken."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    client.max_inflight_messages_set(0)  # paho rescans its window on every PUBACK
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    t0 = time.perf_counter()
    # paho's message ids wrap at 65,535: keep fewer than that unacknowledged at once.
    pending: deque[mqtt.MQTTMessageInfo] = deque()
    for topic, body in messages:
        if len(pending) >= 20_000:
            pending.popleft().wait_for_publish(60)
        pending.append(client.publish(topic, body, qos=1))
    for info in pending:
        info.wait_for_publish(60)
    elapsed = time.perf_counter() - t0
    client.loop_stop()
    client.disconnect()
    return elapsed


BARE_SUBSCRIBER = r"""
import sys, time, threading
import paho.mqtt.client as mqtt
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare",
                     clean_session=False)
state = {"n": 0, "first": 0.0, "last": 0.0, "cpu0": 0.0, "cpu1": 0.0}
done = threading.Event()
def on_connect(c, u, f, rc, p):
    c.subscribe(sys.argv[4], qos=1)
def on_subscribe(c, u, mid, rc, p):
    if mode == "prepare":
        done.set()
def on_message(c, u, msg):
    now = time.perf_counter()
    if state["n"] == 0:
        state["first"] = now
        state["cpu0"] = time.process_time()
    state["n"] += 1
    state["last"] = now
    if state["n"] >= n:
        state["cpu1"] = time.process_time()
        done.set()
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect("127.0.0.1", port)
client.loop_start()
done.wait(600)
client.loop_stop()
client.disconnect()
span = state["last"] - state["first"]
print(state["n"], span, state["cpu1"] - state["cpu0"])
"""


def bare_subscriber(port: int, n: int, mode: str) -> tuple[int, float, float]:
    """Run the bare paho subscriber in its own process (own GIL, like the collector).

    Returns the messages received, the seconds from the first to the last, and the CPU
    seconds the subscriber spent meanwhile."""
    out = subprocess.run(
        [sys.executable, "-c", BARE_SUBSCRIBER, str(port), str(n), mode, SUB_EVENTS],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    count, span, cpu = out.stdout.split()
    return int(count), float(span), float(cpu)


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float]) -> str:
    return (
        f"n={len(values)} p50={percentile(values, 50):.1f} p90={percentile(values, 90):.1f} "
        f"p99={percentile(values, 99):.1f} max={max(values):.1f} "
        f"mean={statistics.fmean(values):.1f}"
    )


__all__ = [
    "CENTRE",
    "Stopwatch",
    "bare_subscriber",
    "make_events",
    "percentile",
    "publish_all",
    "summary",
]
