"""Stored events per second: the collector vs a bare paho subscriber on the same broker.

Both consumers drain the same number of queued QoS 1 messages from a real Mosquitto (their
persistent sessions are filled while they are away), each in its own process. The bare
subscriber only counts; the collector parses, validates, stores exactly once, acknowledges
after commit and publishes receipts. Besides the rates it prints the CPU time each process
spent per event (collector, its MQTT receiver child, the broker, the PostgreSQL backends),
which a busy machine disturbs far less than the rates. Run:

    python -m benchmarks.ingest_throughput [--events 50000] [--devices 10] [--postgres]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from datetime import datetime

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from benchmarks._common import CENTRE, bare_subscriber, make_events, publish_all
from tests.support import postgres
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until
from tests.support.processes import CollectorProcess, tmpdir


def as_datetime(value: datetime | str) -> datetime:
    """SQLite hands raw timestamps back as text; PostgreSQL as datetimes."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def cpu_seconds(processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
    """User + system CPU seconds per group of processes (a vanished process counts 0)."""
    out: dict[str, float] = {}
    for name, procs in processes.items():
        total = 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        out[name] = total
    return out


def measured_processes(
    collector: CollectorProcess, broker: Mosquitto, engine: Engine
) -> dict[str, list[psutil.Process]]:
    assert collector.proc is not None and broker.proc is not None
    main = psutil.Process(collector.proc.pid)
    groups = {"collector": [main], "receiver": main.children(recursive=True)}
    groups["broker"] = [psutil.Process(broker.proc.pid)]
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            pids = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
            groups["db server"] = [psutil.Process(pid) for pid in pids]
    return groups


def collector_rate(
    broker: Mosquitto, db_url: str, messages, devices: list[str]
) -> tuple[float, dict[str, float]]:
    """Events stored per second, and CPU microseconds per event of each process."""
    work = tmpdir("prtc-bench-")
    collector = CollectorProcess(work, broker.url, db_url)
    try:
        collector.cli("db", "upgrade")
        for device in devices:
            collector.enrol(CENTRE, device)
        collector.start()  # creates the persistent session and its subscriptions
        collector.wait_ready(120)  # a busy machine starts slowly
        collector.stop()
        publish_all(broker.port, messages)
        collector.start()
        engine = create_engine(db_url)

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM events")).scalar() or 0)

        # CPU is counted from the first stored event on, so the start-up is left out.
        wait_until(lambda: stored() > 0, 120, 0.02, "first stored")
        processes = measured_processes(collector, broker, engine)
        cpu_before, first_count = cpu_seconds(processes), stored()
        wait_until(lambda: stored() >= len(messages), 900, 0.5, "all stored")
        cpu_after = cpu_seconds(processes)
        with engine.connect() as conn:
            first, last = conn.execute(
                text("SELECT min(stored_at), max(stored_at) FROM events")
            ).one()
        collector.stop()
        engine.dispose()
        span = (as_datetime(last) - as_datetime(first)).total_seconds()
        counted = max(1, len(messages) - first_count)
        cpu = {k: (cpu_after[k] - cpu_before[k]) / counted * 1e6 for k in cpu_before}
        return (len(messages) / span if span > 0 else float("inf")), cpu
    finally:
        collector.stop()  # also when a wait above failed: no collector left behind
        shutil.rmtree(work, ignore_errors=True)


def bare_rate(
    broker: Mosquitto, messages: list[tuple[str, bytes]]
) -> tuple[float, dict[str, float]]:
    """Messages per second of the bare subscriber, and CPU microseconds per message."""
    assert broker.proc is not None
    broker_proc = {"broker": [psutil.Process(broker.proc.pid)]}
    bare_subscriber(broker.port, 0, "prepare")
    publish_all(broker.port, messages)
    before = cpu_seconds(broker_proc)
    n, span, cpu = bare_subscriber(broker.port, len(messages), "consume")
    after = cpu_seconds(broker_proc)
    per = 1e6 / max(1, n)
    return n / span, {"subscriber": cpu * per, "broker": (after["broker"] - before["broker"]) * per}


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
    cpus: dict[str, list[dict[str, float]]] = {"bare": [], **{t: [] for t in targets}}
    broker = Mosquitto().start()
    try:
        # Rounds interleave the consumers so that a busy moment of the machine hits all alike.
        for round_no in range(1, args.repeat + 1):
            rate, bare_cpu = bare_rate(broker, messages)
            rates["bare"].append(rate)
            cpus["bare"].append(bare_cpu)
            for name in targets:
                pg = postgres.TempDatabase() if name == "postgresql" else None
                url = pg.url if pg else f"sqlite:///{tmpdir('prtc-bench-db-') / 'bench.db'}"
                try:
                    rate, cpu = collector_rate(broker, url, messages, devices)
                    rates[name].append(rate)
                    cpus[name].append(cpu)
                finally:
                    if pg:
                        pg.drop()
            line = ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items())
            ratios = ", ".join(f"{t} {rates[t][-1] / rates['bare'][-1]:.2f}" for t in targets)
            print(f"round {round_no}: {line} (of this round's bare: {ratios})", flush=True)
            for name, per_round in cpus.items():
                print(f"  cpu us/event {name}: {cpu_line(per_round[-1])}", flush=True)
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
    for name, per_round in cpus.items():
        medians = {k: statistics.median(r[k] for r in per_round) for k in per_round[0]}
        print(f"cpu us/event {name} (medians): {cpu_line(medians)}")


def cpu_line(cpu: dict[str, float]) -> str:
    parts = [f"{k} {v:.1f}" for k, v in cpu.items()]
    return ", ".join(parts) + f" (total {sum(cpu.values()):.1f})"


if __name__ == "__main__":
    main()
