"""Retention of the personal data in scans (SQLite and PostgreSQL): the purge nulls the
encrypted value and every hash of it in batches, keeps the anonymous record and the daily
counts, is audited and resumable; import and sync skip rows older than the retention; the
pages show purged rows as (已清除). And the alert job's catch-up over missed days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from collector.auth.models import AuditEntry
from collector.centres.models import Centre
from collector.modules.venues import retention, service
from collector.modules.venues.alerts import judged_through
from collector.modules.venues.importer import ScanRecord, import_scans, insert_records
from collector.modules.venues.models import Venue, VenueAlert, VenueScan, VenueScanDay
from collector.modules.venues.settings import VenuesSettings
from collector.tabular import ImportErrors
from tests.api.support import ApiTestRuntime
from tests.modules.venues.support import keyed, scan_csv

TODAY = date(2025, 4, 30)  # retention 30 days: scans before 2025-03-31 00:00 China time purge
CUTOFF = datetime(2025, 3, 30, 16, tzinfo=UTC)


def person(code: str, at: datetime, i: int) -> ScanRecord:
    return ScanRecord(
        venue_code=code,
        collected_at=at,
        id_number=f"4407831990010{i:05d}",
        person_name=f"张{i}",
        phone=f"138{i:08d}",
    )


def old_and_new() -> dict[str, list[ScanRecord]]:
    same_second = datetime(2025, 3, 29, 10)
    return {
        "c1": [
            *(person("V1", same_second, i) for i in range(5)),  # more ties than a batch
            *(person("V1", datetime(2025, 3, 29, 11, i), 10 + i) for i in range(4)),
            person("V2", datetime(2025, 3, 30, 23, 59, 59), 20),  # the last purged second
            person("V2", datetime(2025, 3, 31, 0, 0, 0), 21),  # the first kept one
            *(person("V1", datetime(2025, 4, 10, 9, i), 30 + i) for i in range(2)),
        ],
        "c2": [person("W1", datetime(2025, 3, 1, 9, i), 40 + i) for i in range(3)],
    }


def seed(engine: Engine) -> dict[tuple[str, str, date], int]:
    with Session(engine) as session:
        session.add_all([Centre(id="c1", name="甲"), Centre(id="c2", name="乙")])
        session.commit()
        for centre_id, records in old_and_new().items():
            insert_records(session, records, centre_id=centre_id, actor="t", source="import")
        session.commit()
    return day_counts(engine)


def day_counts(engine: Engine) -> dict[tuple[str, str, date], int]:
    with Session(engine) as session:
        return {
            (c, code, day): n
            for c, code, day, n in session.exec(
                select(
                    VenueScanDay.centre_id,
                    VenueScanDay.venue_code,
                    VenueScanDay.day,
                    VenueScanDay.count,
                )
            ).all()
        }


def test_purge_nulls_personal_data_in_batches_and_keeps_the_counts(engine: Engine) -> None:
    counts = seed(engine)
    settings = VenuesSettings(retention_days=30)
    with Session(engine) as session:
        assert retention.purge_personal_data(session, settings, today=TODAY, batch=2) == 13
        scans = session.exec(select(VenueScan).order_by(col(VenueScan.id))).all()
        purged = [s for s in scans if s.purged_at is not None]
        kept = [s for s in scans if s.purged_at is None]
        assert len(purged) == 13 and len(kept) == 3
        for s in purged:
            assert s.collected_at < CUTOFF
            assert (s.person, s.id_number_hash, s.phone_hash) == (None, None, None)
            assert s.record_hash == f"~{s.id}"
            assert service.person_of(s) == ("(已清除)",) * 3
            assert s.venue_code and s.day  # the anonymous record stays
        for s in kept:
            assert s.collected_at >= CUTOFF
            assert s.id_number_hash and len(s.record_hash) == 32
            assert service.person_of(s)[1].startswith("张")
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "venues.purge")).one()
        assert entry.detail == {
            "scans": 13,
            "retention_days": 30,
            "before": CUTOFF.isoformat(),
        }
        assert retention.last_purge_cutoff(session) == CUTOFF
        # Nothing left: a second run purges none and still leaves its audit line.
        assert retention.purge_personal_data(session, settings, today=TODAY, batch=2) == 0
        audits = session.exec(select(func.count()).where(AuditEntry.action == "venues.purge"))
        assert audits.one() == 2
    assert day_counts(engine) == counts  # statistics and alerts see the same numbers


def test_purged_records_are_not_stored_again(engine: Engine) -> None:
    counts = seed(engine)
    settings = VenuesSettings(retention_days=30)
    with Session(engine) as session:
        retention.purge_personal_data(session, settings, today=TODAY)
        # A day later; the retention raised to 60 days: the purged days stay closed.
        settings.retention_days = 60
        boundary = retention.import_boundary(session, settings, today=TODAY + timedelta(days=1))
        assert boundary == CUTOFF
        records = old_and_new()["c1"]
        result = insert_records(
            session, records, centre_id="c1", actor="t", source="import", keep_from=boundary
        )
        assert (result.inserted, result.expired, result.duplicates) == (0, 10, 3)
        # The file path: the same rule, the summary counts them.
        keys = ["venue_code", "id_number", "collected_at"]
        rows = [
            ["V1", "440783199001019999", "2025-03-30 23:59:59"],  # expired
            ["V1", "440783199001019998", "2025-03-31 00:00:00"],  # new
            ["V1", "", "不是时间"],  # still checked
        ]
        with pytest.raises(ImportErrors) as caught:  # expired rows are checked all the same
            import_scans(
                session, scan_csv(keyed(keys, rows)), centre_id="c1", actor="t", keep_from=boundary
            )
        assert [(e.row, e.column) for e in caught.value.errors] == [(4, "采集时间")]
        session.rollback()
        data = scan_csv(keyed(keys, rows[:2]))
        result = import_scans(session, data, centre_id="c1", actor="t", keep_from=boundary)
        assert (result.rows, result.inserted, result.expired, result.duplicates) == (2, 1, 1, 0)
        session.commit()
        assert session.exec(select(func.count()).select_from(VenueScan)).one() == 17
    counts[("c1", "V1", date(2025, 3, 31))] = 1
    assert day_counts(engine) == counts


def test_pages_and_api_show_purged_rows(runtime: ApiTestRuntime, client: TestClient) -> None:
    runtime.settings.venues.retention_days = 30
    today = service.china_today()
    old = datetime.combine(today - timedelta(days=40), datetime.min.time()).replace(hour=9)
    new = datetime.combine(today - timedelta(days=1), datetime.min.time()).replace(hour=9)
    with Session(runtime.engine) as session:
        insert_records(
            session,
            [person("P1", old, 1), person("P1", new, 2)],
            centre_id="c1",
            actor="t",
            source="import",
        )
        session.commit()
        assert retention.purge_personal_data(session, runtime.settings.venues) == 1
    items = client.get("/api/v1/venue-scans").json()["items"]
    by_purged = {i["purged"]: i for i in items}
    assert by_purged[True]["id_number"] == "(已清除)" and by_purged[True]["phone"] == "(已清除)"
    assert by_purged[False]["person_name"] == "张*"  # masked, not purged
    page = client.get("/venue-scans").text
    table = page.split('<table id="scans">')[1]
    assert table.count("(已清除)") == 3 and table.count('class="purged"') == 1 and "张*" in table
    assert "个人信息（身份证、姓名、电话）保存 30 天" in page
    # Searching by the purged person's ID number finds nothing any more.
    found = client.get("/api/v1/venue-scans", params={"id_number": "440783199001000001"})
    assert found.json()["total"] == 0
    found = client.get("/api/v1/venue-scans", params={"id_number": "440783199001000002"})
    assert found.json()["total"] == 1
    # An import of a file with an expired row says so.
    body = scan_csv(
        [
            {"venue_code": "P1", "collected_at": (old - timedelta(days=1)).isoformat(" ")},
            {"venue_code": "P1", "collected_at": today.isoformat() + " 08:00:00"},
        ]
    )
    r = client.post("/api/v1/venue-scans/import/c1", content=body)
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["expired"]) == (1, 1)


# --- alert catch-up -----------------------------------------------------------------------


def alert_ends(session: Session) -> list[date]:
    return [a.end_day for a in session.exec(select(VenueAlert).order_by(VenueAlert.end_day))]


def quiet_and_busy(session: Session, first: date, last: date) -> None:
    """QUIET (minimum 5) never has a scan; BUSY has one a day from ``first`` to ``last``,
    which makes those days known for the centre (imported), so QUIET's zeros count."""
    session.add(Centre(id="c1", name="甲"))
    session.add(Venue(centre_id="c1", code="QUIET", name="无人场所", min_daily=5))
    session.commit()  # the scans go in on the connection's own cursor
    days = (last - first).days + 1
    records = [
        ScanRecord(venue_code="BUSY", collected_at=datetime.combine(first, time(9)) + timedelta(d))
        for d in range(days)
    ]
    insert_records(session, records, centre_id="c1", actor="t", source="import")
    session.commit()


def test_alert_job_catches_up_missed_days_once(engine: Engine) -> None:
    start = date(2025, 3, 10)
    settings = VenuesSettings(alert_days=7, alert_lookback_days=31)
    with Session(engine, expire_on_commit=False) as session:
        quiet_and_busy(session, start - timedelta(days=7), start + timedelta(days=14))
        # The first run: the one window whose days are all imported ends yesterday.
        assert service.evaluate_pending(session, settings, today=start) == {
            start - timedelta(days=1): 1
        }
        # The collector was down for 15 nights: one run evaluates each missed day in order.
        later = start + timedelta(days=15)
        created = service.evaluate_pending(session, settings, today=later)
        assert list(created) == [start + timedelta(days=d) for d in range(15)]
        assert sum(created.values()) == 2
        assert alert_ends(session) == [
            start - timedelta(days=1),
            start + timedelta(days=6),
            start + timedelta(days=13),
        ]
        assert judged_through(session, "c1") == later - timedelta(days=1)
        # A second run (a misfire re-run, another leader) finds nothing left to evaluate.
        assert service.evaluate_pending(session, settings, today=later) == {}
        assert len(alert_ends(session)) == 3


def test_alert_catch_up_is_bounded_by_the_look_back(engine: Engine) -> None:
    start = date(2025, 3, 10)
    settings = VenuesSettings(alert_days=7, alert_lookback_days=3)
    with Session(engine, expire_on_commit=False) as session:
        quiet_and_busy(session, start - timedelta(days=7), start + timedelta(days=39))
        service.evaluate_pending(session, settings, today=start)
        created = service.evaluate_pending(session, settings, today=start + timedelta(days=40))
        assert list(created) == [start + timedelta(days=d) for d in (37, 38, 39)]
        assert alert_ends(session) == [start - timedelta(days=1), start + timedelta(days=37)]
