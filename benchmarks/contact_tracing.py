"""Contact tracing over 1,000,000 visits: one person over 30 days, p50/p99, SQLite and PostgreSQL.

    python -m benchmarks.contact_tracing [--visits 1000000] [--runs 200] [--postgres]

The visits are generated the way a province's centres see them: 1 city and 19 counties of
very different sizes (Zipf weights) over one year, working days busier than weekends,
arrivals around 09:30 and 14:30, stays log-normal around an hour and cut at the 18:30
closing time, a pool of people in which 2 % (agencies' staff) come ten times as often, about
0.5 % refused at the door and the visits of the last day still open. The query timed is
the module's own (``collector.modules.visitors.tracing.trace_contacts``), for people who
visited at least once in the window, half of them frequent visitors.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.db import make_engine
from collector.migrate import upgrade
from collector.modules.visitors.models import Visit
from collector.modules.visitors.tracing import Subject, trace_contacts
from tests.support import postgres
from tests.support.processes import tmpdir

VISITS = Visit.__table__  # type: ignore[attr-defined]
CENTRES = ["city"] + [f"county-{i:02d}" for i in range(1, 20)]
END = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # 18:30 in Shanghai: "now"
DAYS = 365
BATCH = 20_000


def person_hash(i: int) -> str:
    return hashlib.sha256(f"person-{i}".encode()).hexdigest()


def zipf_weights(n: int, s: float) -> list[float]:
    return [1 / (k**s) for k in range(1, n + 1)]


def generate(n: int, seed: int = 7) -> list[dict[str, object]]:
    """``n`` visit rows (personal columns left empty: tracing reads only the hashes)."""
    rng = random.Random(seed)
    people = max(n // 5, 1000)
    centre_w = zipf_weights(len(CENTRES), 1.1)
    day_w = [0.25 if (END - timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(DAYS)]
    regulars = people // 50  # bidders' agents and staff of agencies: ten times as often
    person_w = [10.0] * regulars + [1.0] * (people - regulars)
    centres = rng.choices(CENTRES, centre_w, k=n)
    days = rng.choices(range(DAYS), day_w, k=n)
    persons = rng.choices(range(people), person_w, k=n)
    rows = []
    for i in range(n):
        day = (END - timedelta(days=days[i])).replace(hour=0, minute=0, second=0, microsecond=0)
        local_minutes = rng.gauss(570 if rng.random() < 0.6 else 870, 70)  # 09:30 / 14:30
        entered = day + timedelta(minutes=min(max(local_minutes, 480), 1080) - 480)  # UTC+8
        closing = day + timedelta(hours=10, minutes=30)
        stay = timedelta(minutes=min(rng.lognormvariate(4.1, 0.7), 600))
        exited: datetime | None = min(entered + stay, closing)
        if days[i] == 0 and rng.random() < 0.5:
            exited = None  # still inside today
        refused = rng.random() < 0.005
        rows.append(
            {
                "centre_id": centres[i],
                "entered_at": entered,
                "exited_at": entered if refused else exited,
                "id_number_hash": person_hash(persons[i]),
                "decision": "refused" if refused else "admitted",
                "closed_automatically": exited == closing,
                "exit_unmatched": False,
                "flagged": refused,
                "flag_codes": "",
                "flags": [],
                "document_type": "resident",
                "sex": "",
                "origin_province": "",
                "origin_city": "",
                "origin_county": "",
                "decided_by": "rules",
                "operator": "",
                "device_id": f"entrance-{centres[i]}",
            }
        )
    return rows


def populate(engine: Engine, rows: list[dict[str, object]]) -> float:
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for centre in CENTRES:
            conn.execute(
                text("INSERT INTO centres (id, name, level) VALUES (:id, :id, 'county')"),
                {"id": centre},
            )
    for start in range(0, len(rows), BATCH):
        with engine.begin() as conn:
            conn.execute(insert(VISITS), rows[start : start + BATCH])
    # What autovacuum does on a live PostgreSQL: statistics, and the visibility map that
    # index-only scans need.
    vacuum = "VACUUM ANALYZE visits" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(vacuum))
    return time.perf_counter() - t0


def subjects(rows: list[dict[str, object]], runs: int, seed: int = 11) -> list[str]:
    """People with at least one visit in the last 30 days; half of them frequent visitors."""
    rng = random.Random(seed)
    since = END - timedelta(days=30)
    recent: dict[str, int] = {}
    for row in rows:
        if row["entered_at"] >= since:  # type: ignore[operator]
            key = str(row["id_number_hash"])
            recent[key] = recent.get(key, 0) + 1
    frequent = sorted(recent, key=recent.__getitem__, reverse=True)[: max(runs, 10)]
    anyone = list(recent)
    return [rng.choice(frequent if i % 2 else anyone) for i in range(runs)]


def measure(engine: Engine, people: list[str]) -> tuple[list[float], list[int]]:
    times, counts = [], []
    with Session(engine) as session:
        trace_contacts(session, CENTRES, Subject(id_number_hash=people[0]), END, END)  # warm-up
        for person in people:
            t0 = time.perf_counter()
            found = trace_contacts(
                session,
                CENTRES,
                Subject(id_number_hash=person),
                END - timedelta(days=30),
                END,
                now=END,
            )
            times.append((time.perf_counter() - t0) * 1000)
            counts.append(len(found))
    return times, counts


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, engine: Engine, rows: list[dict[str, object]], runs: int) -> None:
    loaded = populate(engine, rows)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM visits")).scalar_one()
    times, counts = measure(engine, subjects(rows, runs))
    print(
        f"{name}: {total:,} visits (loaded in {loaded:.0f} s); one person over 30 days, "
        f"{runs} people: p50 {pct(times, 0.5):.1f} ms, p99 {pct(times, 0.99):.1f} ms, "
        f"max {max(times):.1f} ms (goal < 200 ms); contacts per person: "
        f"median {statistics.median(counts):.0f}, max {max(counts)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    rows = generate(args.visits)
    sqlite = make_engine(f"sqlite:///{tmpdir('prtc-bench-trace-') / 'trace.db'}")
    upgrade(sqlite)
    report("sqlite", sqlite, rows, args.runs)
    sqlite.dispose()
    if args.postgres and postgres.available():
        db = postgres.TempDatabase()
        engine = make_engine(db.url)
        try:
            upgrade(engine)
            report("postgresql", engine, rows, args.runs)
        finally:
            engine.dispose()
            db.drop()


if __name__ == "__main__":
    main()
