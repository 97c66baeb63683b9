"""The bulk import path on SQLite and PostgreSQL: a duplicate inside one file and a file
imported twice are stored once and counted once; a bad row in the middle of a large file
stores nothing and is reported by its row number; the daily counts stay exact."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from collector.centres.models import Centre
from collector.modules.venues.importer import ScanRecord, import_scans, insert_records
from collector.modules.venues.models import VenueScan, VenueScanDay
from collector.modules.venues.service import person_of
from collector.tabular import ImportErrors
from tests.modules.venues.support import keyed, scan_csv

KEYS = ["venue_code", "venue_name", "id_number", "person_name", "phone", "collected_at"]


def csv_bytes(rows: list[list[str]]) -> bytes:
    return scan_csv(keyed(KEYS, rows))


def row(i: int) -> list[str]:
    return [f"V{i % 7}", "场所", f"44078319900101{i:04d}", "张三", f"138{i:08d}",
            f"2022-05-{1 + i % 3:02d} {i % 24:02d}:{i % 60:02d}:00"]  # fmt: skip


def days(engine: Engine) -> dict[tuple[str, date], int]:
    with Session(engine) as session:
        stored = {
            (code, day): n
            for code, day, n in session.exec(
                select(VenueScanDay.venue_code, VenueScanDay.day, VenueScanDay.count)
            ).all()
        }
        actual = {
            (code, day): n
            for code, day, n in session.exec(
                select(VenueScan.venue_code, VenueScan.day, func.count()).group_by(
                    VenueScan.venue_code, VenueScan.day
                )
            ).all()
        }
    assert stored == actual  # the aggregate is exact
    return stored


def run(engine: Engine, data: bytes, batch: int = 100) -> int:
    with Session(engine) as session:
        if session.get(Centre, "c1") is None:
            session.add(Centre(id="c1", name="甲"))
            session.commit()
        try:
            result = import_scans(session, data, centre_id="c1", actor="导入人", batch=batch)
        except BaseException:
            session.rollback()
            raise
        session.commit()
        return result.inserted


def test_duplicates_in_one_file_and_across_files(engine: Engine) -> None:
    rows = [row(i) for i in range(1000)]
    assert run(engine, csv_bytes(rows + rows[10:20])) == 1000  # 10 repeated in the file
    assert sum(days(engine).values()) == 1000
    # Again, with a new record in a batch full of known ones: only it is added and counted.
    assert run(engine, csv_bytes([*rows[:500], row(5000), *rows[500:]])) == 1
    counts = days(engine)
    assert sum(counts.values()) == 1001
    with Session(engine) as session:
        scan = session.exec(select(VenueScan).where(VenueScan.venue_code == "V1")).first()
        assert scan is not None and scan.imported_by == "导入人"
        assert scan.person is not None and scan.person.startswith("pd1:") is False  # decrypted
        assert person_of(scan)[1] == "张三"


def test_a_bad_row_in_the_middle_stores_nothing(engine: Engine) -> None:
    rows = [row(i) for i in range(3000)]
    rows[1500][5] = "不是时间"
    rows[2200][0] = ""
    with pytest.raises(ImportErrors) as caught:
        run(engine, csv_bytes(rows))
    assert [(e.row, e.column) for e in caught.value.errors] == [
        (1502, "采集时间"),
        (2202, "公共场所ID"),
    ]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(VenueScan)).one() == 0
        assert session.exec(select(func.count()).select_from(VenueScanDay)).one() == 0


def test_sync_records_use_the_same_path(engine: Engine) -> None:
    from datetime import datetime

    with Session(engine) as session:
        session.add(Centre(id="c1", name="甲"))
        session.commit()
        records = [
            ScanRecord(venue_code="S1", collected_at=datetime(2022, 5, 1, 9, m)) for m in range(5)
        ]
        assert (
            insert_records(
                session, records + records[:2], centre_id="c1", actor="前置库", source="sync"
            ).inserted
            == 5
        )
        session.commit()
    assert days(engine) == {("S1", date(2022, 5, 1)): 5}
