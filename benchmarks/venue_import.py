# ruff: noqa: E501
"""Scan import rate against the bare parse of the same file, in the same run.

    python -m benchmarks.venue_import [--rows 1000000] [--xlsx-rows 200000] [--postgres]

Bare parse: ``csv.reader`` over the decoded file (xlsx: openpyxl read-only ``iter_rows``).
Import: the module's whole path (header check, row checks, encryption of the personal
fields, keyed hashes, batched ``INSERT … ON CONFLICT DO NOTHING`` on SQLite or ``COPY`` + one
``INSERT … SELECT … ON CONFLICT DO NOTHING`` on PostgreSQL, daily counts, commit). Both wall
time and this process's CPU time are printed (on a shared machine the CPU ratio is the steadier
one; PostgreSQL's own CPU is not in it). For the csv file the import is also timed with its
later stages switched off (parse + checks; + encryption and hashes) to show where time goes.
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import Engine
from sqlmodel import Session

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


def measure(label: str, data: bytes, rows: int, url: str, *, stages: bool) -> None:
    parse_s, parse_cpu = _stage(lambda: sum(1 for _ in iter_rows(data)))
    engine = make_engine(url)
    upgrade(engine)
    centre = f"bench-{label}"
    with Session(engine) as session:
        if session.get(Centre, centre) is None:
            session.add(Centre(id=centre, name=centre))
            session.commit()
    parts = breakdown(data, engine, centre) if stages else []
    with Session(engine) as session:
        t0, c0 = time.perf_counter(), time.process_time()
        result = import_scans(session, data, centre_id=centre, actor="bench")
        session.commit()
        import_s, import_cpu = time.perf_counter() - t0, time.process_time() - c0
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
    ]:
        print(
            f"  {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, {wall / parse_s:.2f}x the bare parse",
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
