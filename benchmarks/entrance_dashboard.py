"""Time from an entrance passage published by an agent to the dashboard's count changing.

    python -m benchmarks.entrance_dashboard [--passages 30] [--postgres]

Real parts: Mosquitto, ``prtc-collector serve`` (its own process) and the console's
server-sent events stream ``/console/events/visitors`` that the dashboard page listens to.
A paho client publishes ``entrance.passage`` envelopes exactly as an entrance agent does
(QoS 1, the agent's topic); the clock stops when the stream reports the new number of
people inside. The stream polls the database every second (``collector.console.live``), so
the figure is about half a second plus ingest; the goal is under 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import threading
import time
from datetime import UTC, datetime

import httpx
import paho.mqtt.client as mqtt

from contract.envelopes import EventEnvelope
from contract.ids import uuid7
from contract.topics import event_topic
from tests.support import postgres
from tests.support.mosquitto import Mosquitto
from tests.support.processes import CollectorProcess, tmpdir

CENTRE, DEVICE = "bench-city", "entrance-1"


def passage(i: int) -> dict[str, object]:
    return {
        "passage_id": f"bench-{uuid7()}",
        "direction": "in",
        "door": "东门",
        "at": datetime.now(UTC).isoformat(),
        "person": {
            "document_type": "resident",
            "name": "测试",
            "id_number": f"44010619900307{i:04d}"[:18],
        },
        "temperature_c": 36.5,
        "decision": "admitted",
        "decided_by": "rules",
    }


class Stream(threading.Thread):
    """Reads the dashboard stream and records when each new ``inside`` value arrived."""

    def __init__(self, url: str, cookie: str) -> None:
        super().__init__(daemon=True)
        self.url, self.cookie = url, cookie
        self.seen: dict[int, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        headers = {"Cookie": f"prtc_session={self.cookie}"}
        with contextlib.suppress(httpx.HTTPError):  # the collector stops at the end
            self._read(headers)

    def _read(self, headers: dict[str, str]) -> None:
        with httpx.stream("GET", self.url, headers=headers, timeout=None) as r:
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                for item in json.loads(line[6:])["items"]:
                    if item["id"] == "totals":
                        self.seen.setdefault(item["inside"], time.perf_counter())
                        self.ready.set()


def run(db_url: str | None, n: int) -> list[float]:
    workdir = tmpdir("prtc-bench-dash-")
    broker = Mosquitto().start()
    collector = CollectorProcess(workdir, broker.url, db_url=db_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-entrance")
    try:
        collector.enrol(CENTRE, DEVICE, kind="entrance")
        collector.start()
        collector.wait_ready()
        cookie = collector.headers["Cookie"].split("=", 1)[1]
        stream = Stream(f"{collector.api}/console/events/visitors", cookie)
        stream.start()
        stream.ready.wait(30)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        latencies = []
        for i in range(1, n + 1):
            env = EventEnvelope(
                id=uuid7(), centre=CENTRE, device=DEVICE, type="entrance.passage",
                ts=datetime.now(UTC), seq=i, payload=passage(i),
            )  # fmt: skip
            t0 = time.perf_counter()
            client.publish(
                event_topic(CENTRE, DEVICE, "entrance.passage"), env.model_dump_json(), qos=1
            )
            deadline = t0 + 10
            while i not in stream.seen and time.perf_counter() < deadline:
                time.sleep(0.002)
            latencies.append((stream.seen.get(i, deadline) - t0) * 1000)
            time.sleep(random.uniform(0.1, 0.9))  # decorrelate from the stream's poll phase
        return latencies
    finally:
        client.loop_stop()
        collector.stop()
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return f"p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {ordered[-1]:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    print(f"sqlite: passage published → dashboard count: {summary(run(None, args.passages))}")
    if args.postgres and postgres.available():
        db = postgres.TempDatabase()
        try:
            figures = summary(run(db.url, args.passages))
            print(f"postgresql: passage published → dashboard count: {figures} (goal < 1 s)")
        finally:
            db.drop()


if __name__ == "__main__":
    main()
