# ruff: noqa: E501
"""Scan lists, statistics page query and alert evaluation over many stored scans.

    python -m benchmarks.venue_stats [--scans 10000000] [--venues 5000] [--postgres URL]
        [--sqlite-file PATH [--reuse]] [--part all|stats|scans]

What is generated, and how (all set-based SQL inside the database, nothing per row in Python):

- ``venues``: ``--venues`` rows; every 10th has a minimum of 1,000 a day (so it alerts
  小于阈值), every 10th + 1 a maximum of 5 (大于阈值), the rest 10 … 100,000 (no alert).
- ``venue_scans``: ``--scans`` rows from a recursive CTE (SQLite) or ``generate_series``
  (PostgreSQL): scan ``i`` is at venue ``i % venues`` on day ``(i // venues) % 60``, so
  every venue has scans on every day, between 08:00 and 16:00 China time (the
  ``(venues × days)``-th block 10 minutes later, the venues of a block spread over those 10
  minutes, whole seconds). 核酸结果 is 阳性 for one scan in 1,000 (``i % 1000 = 7``), else 阴性.
  The personal columns are left NULL
  (the benchmark never reads them; encrypting 10M fake values would only time AES). The
  secondary indexes are dropped for the load and rebuilt after it (timed separately); the
  unique ``(centre_id, record_hash)`` index stays.
- ``venue_scan_days``: the exact daily counts of those scans, from the closed formula
  (venues × days); checked against ``count(*)`` of the scans.

Then timed: 扫码进场信息查询 (``service.query_scans``, as the page and ``GET
/api/v1/venue-scans`` call it, count included), first page of 50 and offset 100,000 (or the
last page of a smaller set), with no condition (one centre; two centres, the second empty, as a
city's user sees them; a supervising unit given every 10th venue), one 公共场所ID, the last 7
days of 采集时间, and 核酸结果 (no index) matching 99.9 % and 0.1 %; the list of
扫码进场信息管理 (the same call and the newest 采集时间 of the centre); the 扫码统计查询 of a
30-day range (total + first page of 50, as the page asks), and the 7-day alert evaluation (one
set-based query; inserts the alerts it finds).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, update
from sqlmodel import Session, col, func, select

from collector.centres.models import Centre
from collector.db import make_engine
from collector.migrate import upgrade
from collector.modules.venues import alerts, service
from collector.modules.venues.models import (
    Venue,
    VenueAlert,
    VenueScan,
    VenueSyncState,
    VenueUnit,
)
from collector.modules.venues.scope import VenueScope
from collector.modules.venues.settings import VenuesSettings
from collector.security.personal_data import configure_personal_data

DAYS = 60
FIRST = date(2022, 3, 1)
COMMON, RARE = "阴性", "阳性"  # 核酸结果: one scan in 1,000 is RARE
DEEP = 100_000  # the offset of a page deep in the set


def _series(sqlite: bool, n: int) -> str:
    if sqlite:
        return (
            f"(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {n}) "
            "SELECT i FROM s)"
        )
    return f"(SELECT generate_series(0, {n} - 1) AS i)"


def generate(engine: Engine, scans: int, venues: int) -> None:
    sqlite = engine.dialect.name == "sqlite"

    def run(c: Connection, sql: str) -> Any:  # psycopg reads a bare % as a placeholder
        return c.exec_driver_sql(sql if sqlite else sql.replace("%", "%%"))

    day_of = f"((i / {venues}) % {DAYS})"
    day_expr = (
        f"date('2022-03-01', '+' || {day_of} || ' days')"
        if sqlite
        else f"DATE '2022-03-01' + {day_of}"
    )
    # 08:00 China time (00:00 UTC) plus up to 8 hours: the (venues × days)-th block of scans
    # 10 minutes later, and the venues of a block spread over those 10 minutes (second
    # precision, as exported), so times repeat only a few times over the whole centre.
    secs = f"(((i / ({venues} * {DAYS})) % 48) * 600 + (i % {venues}) % 600)"
    ts_expr = (
        f"datetime('2022-03-01', '+' || {day_of} || ' days', '+' || {secs} || ' seconds') || '.000000'"
        if sqlite
        else f"TIMESTAMPTZ '2022-03-01 00:00:00+00' + {day_of} * INTERVAL '1 day' + {secs} * INTERVAL '1 second'"
    )
    now = "'2022-05-01 00:00:00.000000'" if sqlite else "TIMESTAMPTZ '2022-05-01 00:00:00+00'"
    indexes = [
        i
        for i in VenueScan.__table__.indexes  # type: ignore[attr-defined]
    ]
    t0 = time.perf_counter()
    with engine.begin() as c:
        run(
            c,
            "INSERT INTO venues (centre_id, code, name, category, city, street, admin, location,"
            " discovered, source, created_at, updated_at, min_daily, max_daily) "
            "SELECT 'bench', 'V' || i, 'venue', '', '', '', '', '', false, 'bench', "
            f"{now}, {now}, "
            "CASE WHEN i % 10 = 0 THEN 1000 WHEN i % 10 = 1 THEN NULL ELSE 10 END, "
            "CASE WHEN i % 10 = 1 THEN 5 WHEN i % 10 = 0 THEN NULL ELSE 100000 END "
            f"FROM {_series(sqlite, venues)} AS g",
        )
        for index in indexes:
            c.exec_driver_sql(f"DROP INDEX {index.name}")
        run(
            c,
            "INSERT INTO venue_scans (centre_id, venue_code, venue_name, category, city, street,"
            " venue_admin, collect_result, nucleic_result, nucleic_time, health_code, location,"
            " collected_at, day, imported_by, imported_at, source, record_hash) "
            f"SELECT 'bench', 'V' || (i % {venues}), 'venue', '', '', '', '', '正常', "
            f"CASE WHEN i % 1000 = 7 THEN '{RARE}' ELSE '{COMMON}' END, '', '绿码', '', "
            f"{ts_expr}, {day_expr}, 'bench', {now}, 'import', 'h' || i "
            f"FROM {_series(sqlite, scans)} AS g",
        )
    print(
        f"  venues + {scans:,} scans inserted (secondary indexes dropped): {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    with engine.begin() as c:
        for index in indexes:
            index.create(c)
    print(f"  {len(indexes)} secondary indexes rebuilt: {time.perf_counter() - t0:.1f} s")
    # Daily counts by formula: venue v has q_v = scans // venues (+1 if v < scans % venues)
    # scans, spread as day = q % DAYS, so day d gets q_v // DAYS (+1 if d < q_v % DAYS).
    t0 = time.perf_counter()
    base, extra = divmod(scans, venues)
    q = f"({base} + CASE WHEN v.i < {extra} THEN 1 ELSE 0 END)"
    day_d = "date('2022-03-01', '+' || d.i || ' days')" if sqlite else "DATE '2022-03-01' + d.i"
    with engine.begin() as c:
        run(
            c,
            "INSERT INTO venue_scan_days (centre_id, venue_code, day, count) "
            f"SELECT 'bench', 'V' || v.i, {day_d}, {q} / {DAYS} + CASE WHEN d.i < {q} % {DAYS} THEN 1 ELSE 0 END "
            f"FROM {_series(sqlite, venues)} AS v CROSS JOIN {_series(sqlite, DAYS)} AS d "
            f"WHERE {q} / {DAYS} + CASE WHEN d.i < {q} % {DAYS} THEN 1 ELSE 0 END > 0",
        )
        total = run(c, "SELECT sum(count) FROM venue_scan_days").scalar()
        stored = c.exec_driver_sql("SELECT count(*) FROM venue_scans").scalar()
    assert total == stored == scans, (total, stored, scans)
    print(
        f"  daily counts by formula ({total:,} = count(*) of scans): {time.perf_counter() - t0:.1f} s"
    )
    if sqlite:
        with engine.begin() as c:
            c.exec_driver_sql("ANALYZE")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE")


def timed(label: str, fn: Callable[[], Any], runs: int) -> Any:
    """Run ``fn`` ``runs`` times; print every wall time, the median, and this process's CPU."""
    walls, cpus, value = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    print(
        f"{label}: median {statistics.median(walls):.3f} s, best {min(walls):.3f} s "
        f"(runs {', '.join(f'{w:.3f}' for w in walls)}; this process's CPU median "
        f"{statistics.median(cpus):.3f} s)",
        flush=True,
    )
    return value


def nightly(session: Session, as_of: date) -> None:
    """The 03:00 job as it runs: which days are known (one index seek per day), then the
    rule for each day whose whole window is known, each day committed with its mark."""
    settings = VenuesSettings()
    session.execute(delete(VenueAlert))
    session.execute(delete(VenueSyncState))
    session.commit()
    today = as_of + timedelta(days=1)
    created = timed(
        f"nightly job, first run (judges the {settings.alert_lookback_days}-day look-back)",
        lambda: alerts.evaluate_pending(session, settings, today=today),
        1,
    )
    print(f"  ({sum(created.values()):,} new alerts)")
    week = [as_of - timedelta(days=k) for k in range(settings.alert_days)]
    alerts.reopen_days(session, "bench", week)
    session.commit()
    timed(
        f"after an import that touched the last {len(week)} days (judges them again)",
        lambda: alerts.evaluate_pending(session, settings, today=today),
        1,
    )


def bench_scopes(session: Session) -> dict[str, VenueScope]:
    """The scopes the scan pages are timed in: the centre; the centre and an empty sibling
    (a user of a parent centre: ``centre_id IN (…)``); a supervising unit given every 10th
    venue (codes ending in 2: ``(centre, 公共场所ID IN (…))``). Created when missing."""
    if session.get(Centre, "bench2") is None:
        session.add(Centre(id="bench2", name="bench2"))
    unit = session.exec(select(VenueUnit).where(VenueUnit.name == "bench unit")).first()
    if unit is None:
        unit = VenueUnit(centre_id="bench", name="bench unit")
        session.add(unit)
        session.flush()
        session.execute(
            update(Venue)
            .where(col(Venue.centre_id) == "bench", col(Venue.code).like("%2"))
            .values(unit_id=unit.id)
        )
    session.commit()
    return {
        "centre": VenueScope(frozenset({"bench"})),
        "2 centres": VenueScope(frozenset({"bench", "bench2"})),
        "unit": VenueScope(frozenset({"bench"}), restricted=True, unit_id=unit.id),
    }


def scan_pages(session: Session, runs: int) -> None:
    """扫码进场信息查询 and the list of 扫码进场信息管理: the calls of the pages (and of
    ``GET /api/v1/venue-scans``), the first page of 50 and one deep in the set (offset
    ``DEEP``, or the last page of a smaller set)."""
    scopes = bench_scopes(session)
    latest = service.latest_by_centre(session, frozenset({"bench"}))["bench"] or datetime.now(UTC)
    # the last 7 China days with scans, as the page asks for them (from China midnight)
    week = datetime.combine((latest + timedelta(hours=8)).date(), datetime.min.time(), UTC)
    week -= timedelta(days=6, hours=8)
    cases = [
        ("no filter", "centre", service.ScanFilters()),
        ("no filter", "2 centres", service.ScanFilters()),
        ("no filter", "unit", service.ScanFilters()),
        ("one venue (V123)", "centre", service.ScanFilters(venue_code="V123")),
        (
            "7 days of 采集时间",
            "centre",
            service.ScanFilters(start=week, end=week + timedelta(days=7)),
        ),
        (
            f"核酸结果={COMMON} (no index, 99.9 %)",
            "centre",
            service.ScanFilters(nucleic_result=COMMON),
        ),
        (f"核酸结果={RARE} (no index, 0.1 %)", "centre", service.ScanFilters(nucleic_result=RARE)),
    ]
    for label, scope_name, f in cases:
        scope = scopes[scope_name]
        n = exact_count(session, scope, f)
        for offset in deep_offsets(n):
            page = timed(
                f"scan query, {label}, {scope_name} ({n:,} rows), offset {offset:,}",
                partial(service.query_scans, session, scope, f, limit=50, offset=offset),
                runs,
            )
            shown = f"{page.total:,}+" if page.more else f"{page.total:,}"
            print(f"  (pager: 共 {shown} 条; {len(page.rows)} rows)")
    scope = scopes["centre"]
    n = exact_count(session, scope, service.ScanFilters())

    def import_page(offset: int) -> None:
        service.query_scans(session, scope, service.ScanFilters(), limit=50, offset=offset)
        service.latest_by_centre(session, scope.centres)

    for offset in deep_offsets(n):
        timed(
            f"import page's list ({n:,} rows), offset {offset:,}",
            partial(import_page, offset),
            runs,
        )


def deep_offsets(n: int) -> list[int]:
    """The first page, and the page at ``DEEP`` or the last page of a smaller set."""
    return sorted({0, max(0, min(DEEP, (n - 1) // 50 * 50))})


def exact_count(session: Session, scope: VenueScope, f: service.ScanFilters) -> int:
    """What the pages no longer count (not timed)."""
    where = scope.code_filter(session, VenueScan.centre_id, VenueScan.venue_code)
    query = select(func.count()).select_from(VenueScan).where(where, *service.scan_conditions(f))
    return int(session.exec(query).one())


def stats_and_alerts(session: Session, runs: int, venues: int) -> None:
    scope = VenueScope(frozenset({"bench"}))
    session.execute(delete(VenueAlert))  # from an earlier run
    session.commit()
    f = service.StatsFilters(start=FIRST + timedelta(days=20), end=FIRST + timedelta(days=49))
    _rows, total = timed(
        "statistics page (30 days, total + first 50 of the venues)",
        lambda: service.venue_stats(session, scope, f, limit=50),
        runs,
    )
    print(f"  ({total:,} venues with scans in the range)")
    as_of = FIRST + timedelta(days=DAYS - 1)
    created = timed(
        f"alert evaluation ({venues:,} venues, 7 days ending {as_of}), first run",
        lambda: service.evaluate_alerts(session, as_of),
        1,
    )
    print(f"  ({created:,} new alerts)")
    timed(
        "alert evaluation again (finds the same venues, no new alerts)",
        lambda: service.evaluate_alerts(session, as_of),
        runs,
    )
    nightly(session, as_of)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=10_000_000)
    parser.add_argument("--venues", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default="", help="PostgreSQL URL instead of SQLite")
    parser.add_argument("--sqlite-file", default="", help="keep the SQLite database here")
    parser.add_argument(
        "--reuse", action="store_true", help="the database is already generated: only time"
    )
    parser.add_argument("--part", choices=("all", "stats", "scans"), default="all")
    parser.add_argument("--query-runs", type=int, default=3, help="runs of each scan page")
    args = parser.parse_args()
    configure_personal_data("benchmark-secret-0123456789abcdef")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{args.sqlite_file or Path(tmp) / 'stats.db'}"
        engine = make_engine(url)
        if not args.reuse:
            print(
                f"{engine.dialect.name}: generating {args.scans:,} scans of {args.venues:,} venues"
            )
            upgrade(engine)
            with Session(engine) as session:
                session.add(Centre(id="bench", name="bench"))
                session.commit()
            t0 = time.perf_counter()
            generate(engine, args.scans, args.venues)
            print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
        with engine.connect() as c:
            stored = c.exec_driver_sql("SELECT count(*) FROM venue_scans").scalar()
        print(f"{engine.dialect.name}: {stored:,} scans stored")
        with Session(engine) as session:
            if args.part in ("all", "scans"):
                scan_pages(session, args.query_runs)
            if args.part in ("all", "stats"):
                stats_and_alerts(session, args.runs, args.venues)
        engine.dispose()


if __name__ == "__main__":
    main()
