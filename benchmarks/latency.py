"""End-to-end latency at a steady rate: agent outbox write → collector database commit.

Agents (real processes with the sim plugin) generate events at a steady total rate; each
event's envelope time is taken when it is written to the outbox and the collector records when
it stored it, on the same host clock. The baseline is a bare paho publisher → subscriber round
trip through the same broker at the same rate. Run:

    python -m benchmarks.latency [--rate 500] [--seconds 20] [--agents 5] [--postgres]
"""

from __future__ import annotations

import argparse
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


def agent_latency(
    broker: Mosquitto, db_url: str, rate: float, seconds: float, agents: int
) -> list[float]:
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
                text("SELECT ts, stored_at FROM events WHERE type = 'sim.reading'")
            ).all()
        engine.dispose()
        rows = [(as_datetime(ts), as_datetime(st)) for ts, st in rows]
        # Skip the first second: agents connect and the sim generator starts.
        start = min(ts for ts, _ in rows).timestamp() + 1.0
        return [
            (stored_at - ts).total_seconds() * 1000
            for ts, stored_at in rows
            if ts.timestamp() >= start
        ]
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
        targets = [("sqlite", None)]
        if args.postgres and postgres.available():
            targets.append(("postgresql", postgres.TempDatabase()))
        for name, pg in targets:
            url = pg.url if pg else f"sqlite:///{tmpdir('prtc-bench-db-') / 'lat.db'}"
            lat = agent_latency(broker, url, args.rate, args.seconds, args.agents)
            print(
                f"agent outbox → {name} commit at {args.rate:.0f}/s (ms): {summary(lat)} "
                f"(goal p99 < 50)"
            )
            if pg:
                pg.drop()
    finally:
        broker.close()


if __name__ == "__main__":
    main()
