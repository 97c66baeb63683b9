"""Helpers of the venues tests: rows in another county for the route walks, users, scans."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.modules.venues.columns import SCAN_COLUMNS
from collector.modules.venues.importer import ScanRecord, insert_records
from collector.modules.venues.models import Venue, VenueAlert, VenueUnit
from collector.security.personal_data import (
    PersonalDataNotConfigured,
    configure_personal_data,
    personal_data_cipher,
)

SECRET = "venues-test-secret-0123456789abcdef"


def ensure_cipher() -> None:
    """The API test runtime does not configure personal data; the venues tables need it."""
    try:
        personal_data_cipher()
    except PersonalDataNotConfigured:
        configure_personal_data(SECRET)


def other_county_venues(engine: Engine, centre_id: str = "c3") -> dict[str, str]:
    """A unit, a venue with thresholds, a scan and an alert in ``centre_id``; their ids for
    path parameters (``venue_id``, ``alert_id``, ``centre_id``)."""
    ensure_cipher()
    with Session(engine, expire_on_commit=False) as session:
        unit = VenueUnit(centre_id=centre_id, name="乙县监管单位", phone="13900000003")
        session.add(unit)
        session.flush()
        venue = Venue(
            centre_id=centre_id,
            code="VB-3",
            name="乙县场所",
            unit_id=unit.id,
            min_daily=5,
            max_daily=500,
        )
        session.add(venue)
        session.flush()
        alert = VenueAlert(
            centre_id=centre_id,
            venue_id=venue.id or 0,
            direction="low",
            threshold=5,
            start_day=date(2025, 3, 1),
            end_day=date(2025, 3, 7),
            counts=[0] * 7,
        )
        session.add(alert)
        insert_records(
            session,
            [
                ScanRecord(
                    venue_code="VB-3", collected_at=datetime(2025, 3, 1, 9), venue_name="乙县场所"
                )
            ],
            centre_id=centre_id,
            actor="test",
            source="import",
        )
        session.commit()
        return {"venue_id": str(venue.id), "alert_id": str(alert.id), "centre_id": centre_id}


def scans_for(code: str, day: date, n: int, *, start_hour: int = 8) -> list[ScanRecord]:
    return [
        ScanRecord(
            venue_code=code,
            collected_at=datetime(day.year, day.month, day.day, start_hour) + timedelta(seconds=i),
            id_number=f"44078319900101{i % 10000:04d}",
            person_name="张三",
            phone="13812345678",
        )
        for i in range(n)
    ]


def scan_csv(rows: Iterable[dict[str, str]]) -> bytes:
    """A CSV laid out as the import template (every column), with the given fields."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.label for c in SCAN_COLUMNS])
    for row in rows:
        writer.writerow([row.get(c.key, "") for c in SCAN_COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def keyed(keys: Sequence[str], rows: Iterable[Sequence[str]]) -> list[dict[str, str]]:
    """Positional rows as template fields: ``keys`` name the values of each row."""
    return [dict(zip(keys, row, strict=True)) for row in rows]
