# ruff: noqa: E501
"""Scan import rate against the bare parse of the same file, in the same run.

    python -m benchmarks.venue_import [--rows 1000000] [--xlsx-rows 200000] [--postgres URL]

Bare parse: ``csv.reader`` over the decoded file (xlsx: openpyxl read-only ``iter_rows``).
Import: the module's whole path (header check, row checks, encryption of the personal
fields, keyed hashes, batched ``INSERT … ON CONFLICT DO NOTHING`` on SQLite or ``COPY`` + one
``INSERT … SELECT … ON CONFLICT DO NOTHING`` on PostgreSQL, daily counts, commit). Both wall
time and this process's CPU time are printed (on a shared machine the CPU ratio is the steadier
one; PostgreSQL's own CPU is not in it). For the csv file the import is also timed with its
later stages switched off (parse + checks; + encryption and hashes) to show where time goes.

The csv breakdown also measures the database's own floor for the same data, after the import:
the exact tuples the import builds (``ScanBuilder.build``, built once in memory, untimed) are
written by ``ScanWriter.write`` / ``finish`` (SQLite: ``executemany`` of ``ScanWriter.sql`` in
batches of 5000 on the DBAPI cursor with the import's ``cache_size``; PostgreSQL: ``COPY`` into
a temporary table and the ``INSERT … SELECT … ON CONFLICT`` statement, which also upserts the
daily counts) into an empty copy of ``venue_scans`` with all its indexes, then committed. The
copy is a fresh SQLite file, or on PostgreSQL a scratch schema (``CREATE TABLE … (LIKE …
INCLUDING ALL)`` plus the foreign keys) that is dropped afterwards; the user's tables are not
touched. The same write is timed again with the secondary indexes dropped (only the primary key
and the unique ``(centre_id, record_hash)`` kept), to show what the indexes the query pages
need cost. The last line is the import minus that floor (bare parse + insert floor): the time
our own code adds above what the csv parser and the database take for the same rows.
``--no-breakdown`` skips all of this.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Engine, make_url
from sqlmodel import Session, create_engine

from collector.centres.models import Centre
from collector.db import make_engine
from collector.migrate import upgrade
from collector.modules.venues.importer import ScanBuilder, ScanWriter, import_scans, iter_rows
from collector.security.personal_data import configure_personal_data

HEADER = ["公共场所ID", "公共场所", "类别", "所在市区", "所在街道", "公共场所管理员", "被采集人身份证",
          "被采集人", "联系电话", "采集结果", "核酸结果", "核酸结果时间", "健康码状态",
          "采集人所在位置", "采集时间"]  # fmt: skip


def row(i: int) -> list[str]:
    day, second = divmod(i, 86400)
    return [f"KP{i % 5000:05d}", "某某场所", "餐饮", "开平市", "长沙街道", "李四",
            f"44078319900101{i % 10000:04d}", "张三", f"138{i:08d}"[:11], "正常", "阴性",
            "2022-05-01 08:00:00", "绿码", "入口",
            f"2022-05-{1 + day % 28:02d} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"]  # fmt: skip


def make_csv(n: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for i in range(n):
        writer.writerow(row(i))
    return buffer.getvalue().encode("utf-8")


def make_xlsx(n: int) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(HEADER)
    for i in range(n):
        ws.append(row(i))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _stage(fn: Callable[[], object]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def breakdown(data: bytes, engine: Engine, centre: str) -> list[tuple[str, float, float]]:
    """The import path with the later stages switched off: parse + row checks (the builder
    returns nothing, nothing is written), + encryption and hashes (nothing written)."""
    stages: list[tuple[str, float, float]] = []
    real_build, real_write, real_finish = ScanBuilder.build, ScanWriter.write, ScanWriter.finish
    try:
        ScanWriter.write = lambda self, rows, counts: None  # type: ignore[method-assign]
        ScanWriter.finish = lambda self: None  # type: ignore[method-assign]
        with Session(engine) as session:
            ScanBuilder.build = lambda self, texts, local: ()  # type: ignore[method-assign]
            stages.append(
                (
                    "parse + checks",
                    *_stage(lambda: import_scans(session, data, centre_id=centre, actor="bench")),
                )
            )
            ScanBuilder.build = real_build  # type: ignore[method-assign]
            stages.append(
                (
                    "+ encrypt/hash",
                    *_stage(lambda: import_scans(session, data, centre_id=centre, actor="bench")),
                )
            )
            session.rollback()
    finally:
        ScanBuilder.build, ScanWriter.write, ScanWriter.finish = real_build, real_write, real_finish  # type: ignore[method-assign]
    return stages


Batch = list[tuple[Any, ...]]


def prebuilt_rows(data: bytes, engine: Engine, centre: str) -> list[Batch]:
    """The insert tuples the import builds for ``data``, in its batches of 5000 (the whole
    import path with nothing written; untimed)."""
    batches: list[Batch] = []
    real_write, real_finish = ScanWriter.write, ScanWriter.finish
    try:
        ScanWriter.write = lambda self, rows, counts: batches.append(rows) if rows else None  # type: ignore[method-assign]
        ScanWriter.finish = lambda self: None  # type: ignore[method-assign]
        with Session(engine) as session:
            import_scans(session, data, centre_id=centre, actor="bench")
            session.rollback()
    finally:
        ScanWriter.write, ScanWriter.finish = real_write, real_finish  # type: ignore[method-assign]
    return batches


def _add_centre(engine: Engine, centre: str) -> None:
    with Session(engine) as session:
        if session.get(Centre, centre) is None:
            session.add(Centre(id=centre, name=centre))
            session.commit()


@contextmanager
def scratch_tables(url: str, name: str, centre: str, *, secondary: bool) -> Iterator[Engine]:
    """An engine on an empty copy of ``venue_scans`` (and ``venue_scan_days``): a new SQLite
    file next to the benchmark's, or on PostgreSQL a scratch schema in front of the user's on
    the search path (``LIKE … INCLUDING ALL``, own sequences, the same foreign keys), dropped
    afterwards. Without ``secondary`` every index of ``venue_scans`` but the primary key and
    the unique ``(centre_id, record_hash)`` is dropped."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").with_name(f"{name}.db")
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        _add_centre(engine, centre)
        if not secondary:
            with engine.begin() as conn:
                names = conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'venue_scans' AND sql IS NOT NULL"  # not the UNIQUE's
                ).scalars()
                for index in list(names):
                    conn.exec_driver_sql(f"DROP INDEX {index}")
        try:
            yield engine
        finally:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    base_engine = make_engine(url, pool_size=1)
    schema = f"bench_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    with base_engine.begin() as conn:
        base = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        for table in ("venue_scans", "venue_scan_days"):
            conn.exec_driver_sql(
                f"CREATE TABLE {schema}.{table} (LIKE {base}.{table} INCLUDING ALL)"
            )
            serials = conn.exec_driver_sql(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s AND column_default LIKE 'nextval(%%'",
                (schema, table),
            ).scalars()
            for column in list(serials):  # not the user's sequence
                conn.exec_driver_sql(f"CREATE SEQUENCE {schema}.{table}_{column}_seq")
                conn.exec_driver_sql(
                    f"ALTER TABLE {schema}.{table} ALTER COLUMN {column} "
                    f"SET DEFAULT nextval('{schema}.{table}_{column}_seq')"
                )
            keys = conn.exec_driver_sql(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f'",
                (f"{base}.{table}",),
            ).all()
            for key, definition in keys:  # referenced tables resolve to the user's schema
                conn.exec_driver_sql(
                    f"ALTER TABLE {schema}.{table} ADD CONSTRAINT {key} {definition}"
                )
        if not secondary:
            names = conn.exec_driver_sql(
                "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
                (f"{schema}.venue_scans",),
            ).scalars()
            for index in list(names):
                conn.exec_driver_sql(f"DROP INDEX {schema}.{index}")
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema},{base}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with base_engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")  # the scratch schema only
        base_engine.dispose()


def insert_floor(engine: Engine, centre: str, batches: list[Batch]) -> tuple[float, float]:
    """Wall and CPU seconds of writing the prebuilt batches as the import writes them, and
    the commit."""
    no_counts: Counter[Any] = Counter()
    with Session(engine) as session:
        writer = ScanWriter(session, centre)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            for rows in batches:
                writer.write(rows, no_counts)
            writer.finish()
        finally:
            writer.close()
        session.commit()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    expected = sum(map(len, batches))
    assert writer.inserted == expected, (writer.inserted, expected)
    return wall, cpu


def floors(data: bytes, engine: Engine, url: str, centre: str) -> list[tuple[str, float, float]]:
    """The insert floor, with all indexes and with the secondary ones dropped."""
    batches = prebuilt_rows(data, engine, centre)
    gc.collect()
    gc.freeze()  # the held rows are not traversed by the collector while writing
    try:
        out = []
        for label, name, secondary in [
            ("insert floor (prebuilt rows, same table and indexes)", "floor", True),
            ("insert floor, secondary indexes dropped (unique (centre_id, record_hash) only)",
             "floor-noindex", False),
        ]:  # fmt: skip
            with scratch_tables(url, name, centre, secondary=secondary) as scratch:
                out.append((label, *insert_floor(scratch, centre, batches)))
    finally:
        gc.unfreeze()
    return out


def measure(label: str, data: bytes, rows: int, url: str, *, stages: bool) -> None:
    parse_s, parse_cpu = _stage(lambda: sum(1 for _ in iter_rows(data)))
    engine = make_engine(url)
    upgrade(engine)
    centre = f"bench-{label}"
    _add_centre(engine, centre)
    parts = breakdown(data, engine, centre) if stages else []
    with Session(engine) as session:
        t0, c0 = time.perf_counter(), time.process_time()
        result = import_scans(session, data, centre_id=centre, actor="bench")
        session.commit()
        import_s, import_cpu = time.perf_counter() - t0, time.process_time() - c0
    floor = floors(data, engine, url, centre) if stages else []
    engine.dispose()
    print(
        f"{label}: {rows:,} rows; bare parse {parse_s:.2f} s ({rows / parse_s:,.0f} rows/s); "
        f"import {import_s:.2f} s ({rows / import_s:,.0f} rows/s, {result.inserted:,} new); "
        f"ratio {import_s / parse_s:.2f} (this process's CPU: parse {parse_cpu:.2f} s, "
        f"import {import_cpu:.2f} s, ratio {import_cpu / parse_cpu:.2f})",
        flush=True,
    )
    for name, wall, cpu in [
        ("bare parse", parse_s, parse_cpu),
        *parts,
        ("whole import (insert, daily counts, commit)", import_s, import_cpu),
        *floor,
    ]:
        print(
            f"  {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, {wall / parse_s:.2f}x the bare parse "
            f"(CPU {cpu / parse_cpu:.2f}x)",
            flush=True,
        )
    if floor:
        _, floor_s, floor_cpu = floor[0]
        base, base_cpu = parse_s + floor_s, parse_cpu + floor_cpu
        over, over_cpu = import_s - base, import_cpu - base_cpu
        print(
            f"  import minus the floor (bare parse + insert floor = {base:.2f} s wall, "
            f"{base / parse_s:.2f}x the bare parse; CPU {base_cpu / parse_cpu:.2f}x): "
            f"{over:.2f} s wall = {over / parse_s:.2f}x the bare parse (CPU {over_cpu:.2f} s = "
            f"{over_cpu / parse_cpu:.2f}x) of our own work (row checks, encryption, hashes, "
            "daily counts); goal: the whole import at most 2x the bare parse",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=200_000)
    parser.add_argument("--postgres", default="", help="PostgreSQL URL instead of SQLite")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the csv stage timings")
    args = parser.parse_args()
    configure_personal_data("benchmark-secret-0123456789abcdef")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'bench.db'}"
        measure("csv", make_csv(args.rows), args.rows, url, stages=not args.no_breakdown)
        url = args.postgres or f"sqlite:///{Path(tmp) / 'bench2.db'}"
        measure("xlsx", make_xlsx(args.xlsx_rows), args.xlsx_rows, url, stages=False)


if __name__ == "__main__":
    main()
