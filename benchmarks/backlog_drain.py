"""Backlog drain: an agent holding a large outbox when its broker and collector are there.

The agent's outbox is filled with ``--events`` sim events through the agent's own event writer
(exactly what plugins produce), then the agent process starts against a real Mosquitto with a
collector storing into SQLite. Measured: events/s from agent start until its outbox is empty
(every event receipted by the collector) and until all are stored. The baseline is a bare paho
publisher pushing the same number of QoS 1 messages into the same broker. Run:

    python -m benchmarks.backlog_drain [--events 100000]
"""

from __future__ import annotations

import argparse
import shutil
import time

from sqlalchemy import create_engine, text

from benchmarks._common import CENTRE, make_events, publish_all
from edge_agent.events import EventWriter
from edge_agent.outbox import Outbox
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until
from tests.support.processes import AgentProcess, CollectorProcess, tmpdir

DEVICE = "drain-01"


def fill_outbox(agent: AgentProcess, events: int) -> None:
    outbox = Outbox.open(agent.outbox_path)
    writer = EventWriter(outbox, centre=CENTRE, device=DEVICE)
    chunk = 5000
    for start in range(0, events, chunk):
        writer.emit_many(
            [
                ("sim.reading", {"sensor": "t1", "value": 20.0 + i % 7, "unit": "C", "n": i})
                for i in range(start, min(events, start + chunk))
            ]
        )
    outbox.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()

    broker = Mosquitto().start()
    work = tmpdir("prtc-bench-drain-")
    collector = CollectorProcess(work, broker.url)
    agent = AgentProcess(work, CENTRE, DEVICE, broker.url, sim={"rate": 0}, heartbeat_interval_s=60)
    try:
        baseline_msgs = make_events(args.events, ["baseline"])
        took = publish_all(broker.port, baseline_msgs)
        bare = args.events / took
        print(
            f"bare paho publisher, QoS 1: {args.events} messages in {took:.1f}s = {bare:,.0f} msg/s"
        )

        collector.cli("db", "upgrade")
        collector.enrol(CENTRE, DEVICE)
        collector.start()
        collector.wait_ready()
        fill_outbox(agent, args.events)
        depth = agent.outbox_depth()
        print(f"agent outbox holds {depth} messages")

        engine = create_engine(collector.db_url)

        def stored() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        text("SELECT count(*) FROM events WHERE type = 'sim.reading'")
                    ).scalar()
                    or 0
                )

        t0 = time.perf_counter()
        agent.start()
        wait_until(lambda: agent.outbox_depth() <= 1, 600, 0.2, "outbox drained")
        drained = time.perf_counter() - t0
        wait_until(lambda: stored() >= args.events, 120, 0.2, "all stored")
        all_stored = time.perf_counter() - t0
        engine.dispose()
        print(
            f"agent backlog drained (receipted) in {drained:.1f}s = "
            f"{args.events / drained:,.0f} events/s (goal >= 5,000; "
            f"{args.events / drained / bare:.2f} of the bare publisher)"
        )
        print(f"all {args.events} stored after {all_stored:.1f}s")
    finally:
        agent.stop()
        collector.stop()
        broker.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
