"""Stored events per second: the collector vs a bare paho subscriber on the same broker.

Both consumers drain the same number of queued QoS 1 messages from a real Mosquitto (their
persistent sessions are filled while they are away), each in its own process. The bare
subscriber only counts; the collector parses, validates, stores exactly once, acknowledges
after commit and publishes receipts. Run:

    python -m benchmarks.ingest_throughput [--events 50000] [--devices 10] [--postgres]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from datetime import datetime

from sqlalchemy import create_engine, text

from benchmarks._common import CENTRE, bare_subscriber, make_events, publish_all
from tests.support import postgres
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until
from tests.support.processes import CollectorProcess, tmpdir


def as_datetime(value: datetime | str) -> datetime:
    """SQLite hands raw timestamps back as text; PostgreSQL as datetimes."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def collector_rate(broker: Mosquitto, db_url: str, messages, devices: list[str]) -> float:
    work = tmpdir("prtc-bench-")
    try:
        collector = CollectorProcess(work, broker.url, db_url)
        collector.cli("db", "upgrade")
        for device in devices:
            collector.enrol(CENTRE, device)
        collector.start()  # creates the persistent session and its subscriptions
        collector.wait_ready()
        collector.stop()
        publish_all(broker.port, messages)
        collector.start()
        engine = create_engine(db_url)

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM events")).scalar() or 0)

        wait_until(lambda: stored() >= len(messages), 900, 0.5, "all stored")
        with engine.connect() as conn:
            first, last = conn.execute(
                text("SELECT min(stored_at), max(stored_at) FROM events")
            ).one()
        collector.stop()
        engine.dispose()
        span = (as_datetime(last) - as_datetime(first)).total_seconds()
        return len(messages) / span if span > 0 else float("inf")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bare_rate(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> float:
    bare_subscriber(broker.port, 0, "prepare")
    publish_all(broker.port, messages)
    n, span = bare_subscriber(broker.port, len(messages), "consume")
    return n / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are compared")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    args = parser.parse_args()

    devices = [f"bench-{i:03d}" for i in range(args.devices)]
    messages = make_events(args.events, devices)
    targets = ["sqlite"] + (["postgresql"] if args.postgres and postgres.available() else [])
    rates: dict[str, list[float]] = {"bare": [], **{t: [] for t in targets}}
    broker = Mosquitto().start()
    try:
        # Rounds interleave the consumers so that a busy moment of the machine hits all alike.
        for round_no in range(1, args.repeat + 1):
            rates["bare"].append(bare_rate(broker, messages))
            for name in targets:
                pg = postgres.TempDatabase() if name == "postgresql" else None
                url = pg.url if pg else f"sqlite:///{tmpdir('prtc-bench-db-') / 'bench.db'}"
                try:
                    rates[name].append(collector_rate(broker, url, messages, devices))
                finally:
                    if pg:
                        pg.drop()
            line = ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items())
            ratios = ", ".join(f"{t} {rates[t][-1] / rates['bare'][-1]:.2f}" for t in targets)
            print(f"round {round_no}: {line} (of this round's bare: {ratios})")
    finally:
        broker.close()
    bare = statistics.median(rates["bare"])
    print(f"bare paho subscriber: median {bare:,.0f} msg/s over {args.repeat} rounds")
    for name in targets:
        rate = statistics.median(rates[name])
        print(
            f"collector on {name}: median {rate:,.0f} events/s stored "
            f"= {rate / bare:.2f} of the bare subscriber (goal >= 0.70)"
        )


if __name__ == "__main__":
    main()
