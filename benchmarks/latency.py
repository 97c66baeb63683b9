"""End-to-end latency at a steady rate: agent outbox write → collector database commit.

Agents (real processes with the sim plugin) generate events at a steady total rate; each
event's envelope time is taken when it is written to the outbox and the collector records when
it stored it, on the same host clock. Because the collector publishes a device's receipt only
after the database commit, the benchmark also listens to the receipts: the time a receipt
covering an event is seen, minus the event's outbox time, bounds outbox write → commit from
above (one extra broker hop, about 0.3 ms here). The baseline is a bare paho publisher →
subscriber round trip through the same broker at the same rate. Run:

    python -m benchmarks.latency [--rate 500] [--seconds 20] [--agents 5] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time

import paho.mqtt.client as mqtt
from sqlalchemy import create_engine, text

from benchmarks._common import CENTRE, summary
from benchmarks.ingest_throughput import as_datetime
from tests.support import postgres
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until
from tests.support.processes import AgentProcess, CollectorProcess, tmpdir


def bare_latency(port: int, rate: float, seconds: float) -> list[float]:
    """Milliseconds from publish to receipt by a bare subscriber, same broker and rate."""
    latencies: list[float] = []
    total = int(rate * seconds)
    done = threading.Event()

    def on_message(_c, _u, msg) -> None:
        latencies.append((time.time() - float(msg.payload)) * 1000)
        if len(latencies) >= total:
            done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-lat-sub")
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("bench/latency", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-lat-pub")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.5)
    t0 = time.monotonic()
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pub.publish("bench/latency", repr(time.time()), qos=1)
    done.wait(seconds + 30)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return latencies


class ReceiptWatch:
    """Records when each receipt arrives: (device, first seq, last seq, unix time)."""

    def __init__(self, port: int) -> None:
        self.seen: list[tuple[str, int, int, float]] = []
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-receipts")
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.subscribe("prtc/v1/+/+/receipt", qos=1)
        self._client.loop_start()

    def _on_message(self, _c, _u, msg) -> None:
        now = time.time()
        device = msg.topic.split("/")[3]
        for first, last in json.loads(msg.payload)["ranges"]:
            self.seen.append((device, first, last, now))

    def first_cover(self) -> dict[tuple[str, int], float]:
        out: dict[tuple[str, int], float] = {}
        for device, first, last, at in self.seen:
            for seq in range(first, last + 1):
                out.setdefault((device, seq), at)
        return out

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def agent_latency(
    broker: Mosquitto, db_url: str, rate: float, seconds: float, agents: int
) -> tuple[list[float], list[float]]:
    work = tmpdir("prtc-bench-lat-")
    procs: list[AgentProcess] = []
    collector = CollectorProcess(work, broker.url, db_url)
    try:
        collector.cli("db", "upgrade")
        collector.start()
        collector.wait_ready()
        per_agent = int(rate * seconds / agents)
        for i in range(agents):
            device = f"lat-{i:02d}"
            collector.enrol(CENTRE, device)
            agent = AgentProcess(
                work,
                CENTRE,
                device,
                broker.url,
                sim={"rate": rate / agents, "count": per_agent, "types": ["sim.reading"]},
                heartbeat_interval_s=30,
            )
            procs.append(agent)
        receipts = ReceiptWatch(broker.port)
        for agent in procs:
            agent.start()
        engine = create_engine(db_url)
        expected = per_agent * agents

        def stored() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        text("SELECT count(*) FROM events WHERE type = 'sim.reading'")
                    ).scalar()
                    or 0
                )

        wait_until(lambda: stored() >= expected, seconds + 120, 0.5, "all stored")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT device_id, seq, ts, stored_at FROM events WHERE type = 'sim.reading'")
            ).all()
        engine.dispose()
        time.sleep(0.5)
        receipts.close()
        covered = receipts.first_cover()
        events = [(d, s, as_datetime(ts), as_datetime(st)) for d, s, ts, st in rows]
        # Skip the first second: agents connect and the sim generator starts.
        start = min(ts for _, _, ts, _ in events).timestamp() + 1.0
        steady = [e for e in events if e[2].timestamp() >= start]
        to_store = [(st - ts).total_seconds() * 1000 for _, _, ts, st in steady]
        to_commit = [
            (covered[(d, s)] - ts.timestamp()) * 1000 for d, s, ts, _ in steady if (d, s) in covered
        ]
        return to_store, to_commit
    finally:
        for agent in procs:
            agent.stop()
        collector.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()

    broker = Mosquitto().start()
    try:
        base = bare_latency(broker.port, args.rate, args.seconds)
        print(f"bare paho publish→subscribe (ms): {summary(base)}")
        targets: list[tuple[str, postgres.TempDatabase | None]] = [("sqlite", None)]
        if args.postgres and postgres.available():
            targets.append(("postgresql", postgres.TempDatabase()))
        for name, pg in targets:
            url = pg.url if pg else f"sqlite:///{tmpdir('prtc-bench-db-') / 'lat.db'}"
            to_store, to_commit = agent_latency(broker, url, args.rate, args.seconds, args.agents)
            print(f"agent outbox → {name} insert at {args.rate:.0f}/s (ms): {summary(to_store)}")
            print(
                f"agent outbox → {name} commit, receipt seen (ms): {summary(to_commit)} "
                "(goal p99 < 50)"
            )
            if pg:
                pg.drop()
    finally:
        broker.close()


if __name__ == "__main__":
    main()
