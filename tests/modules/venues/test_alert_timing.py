"""Which days the alert rule judges when scans are imported by hand, late and in pieces: a
day the centre has no data for is not yet known (not 0), and an import, a late one too,
has its days judged right after it. Through the real API import, dated from today."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.modules.venues import service
from collector.modules.venues.alerts import judged_through
from collector.modules.venues.importer import import_scans
from collector.modules.venues.models import Venue, VenueAlert
from collector.modules.venues.retention import china_today
from tests.api.support import ApiTestRuntime
from tests.modules.venues.support import scan_csv

TODAY = china_today()


def day(n: int) -> date:
    """``n`` days before today."""
    return TODAY - timedelta(days=n)


def venue(
    runtime: ApiTestRuntime, code: str, *, low: int | None = None, high: int | None = None
) -> None:
    with Session(runtime.engine) as session:
        session.add(Venue(centre_id="c1", code=code, name=code, min_daily=low, max_daily=high))
        session.commit()


def scans(code: str, counts: dict[date, int], *, minute: int = 0) -> list[dict[str, str]]:
    """``counts[d]`` scans of ``code`` on day ``d``, one second apart from ``minute``."""
    return [
        {
            "venue_code": code,
            "id_number": f"44078319900101{i:04d}",
            "collected_at": (datetime.combine(d, time(9, minute)) + timedelta(seconds=i)).isoformat(
                " "
            ),
        }
        for d, n in counts.items()
        for i in range(n)
    ]


def upload(client: TestClient, rows: list[dict[str, str]]) -> dict[str, int]:
    r = client.post("/api/v1/venue-scans/import/c1", content=scan_csv(rows))
    assert r.status_code == 200, r.text
    return r.json()


def alerts(runtime: ApiTestRuntime) -> list[tuple[str, date, date, list[int]]]:
    with Session(runtime.engine) as session:
        rows = session.exec(select(VenueAlert).order_by(VenueAlert.start_day)).all()
        return [(a.direction, a.start_day, a.end_day, list(a.counts)) for a in rows]


def nightly(runtime: ApiTestRuntime) -> dict[date, int]:
    with Session(runtime.engine, expire_on_commit=False) as session:
        return service.evaluate_pending(session, runtime.settings.venues)


def test_a_week_without_imports_raises_no_alert(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    venue(runtime, "LOW", low=5)
    # A good week, imported; then nothing is imported for a week.
    assert upload(client, scans("LOW", {day(n): 10 for n in range(14, 7, -1)}))["alerts"] == 0
    assert nightly(runtime) == {}  # no day after the data, nor any window into it, is judged
    assert alerts(runtime) == []
    with Session(runtime.engine) as session:
        assert judged_through(session, "c1") == day(1)  # considered, but unknown: not judged


def test_late_data_completing_a_seven_day_run_alerts_after_its_import(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    venue(runtime, "LOW", low=5)
    # Five bad days arrive; the two after them are not imported yet.
    assert upload(client, scans("LOW", {day(n): 1 for n in range(10, 5, -1)}))["alerts"] == 0
    assert nightly(runtime) == {} and alerts(runtime) == []
    # The missing two days come in: their import completes 7 bad days and alerts at once.
    result = upload(client, scans("LOW", {day(5): 1, day(4): 1}))
    assert result["alerts"] == 1
    assert alerts(runtime) == [("low", day(10), day(4), [1] * 7)]
    assert sum(nightly(runtime).values()) == 0  # and the nightly run adds no second one


def test_late_rows_for_a_day_already_judged_are_judged_again(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    venue(runtime, "HIGH", high=3)
    counts = {day(n): 5 for n in range(9, 2, -1)}
    counts[day(6)] = 2  # not above the maximum: the 7-day run is broken
    assert upload(client, scans("HIGH", counts))["alerts"] == 0
    assert nightly(runtime) == {}
    # Two more scans of that day arrive late: it is above the maximum after all.
    assert upload(client, scans("HIGH", {day(6): 2}, minute=30))["alerts"] == 1
    assert alerts(runtime) == [("high", day(9), day(3), [5, 5, 5, 4, 5, 5, 5])]
    assert sum(nightly(runtime).values()) == 0  # windows never overlap


def test_a_deletion_reopens_its_days_and_a_deleted_day_is_unknown_again(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    venue(runtime, "LOW", low=5)
    venue(runtime, "OK", low=1)
    # OK's scans make days 20 to 2 known; LOW had none there: 0 a day, two 7-day alerts.
    assert upload(client, scans("OK", {day(n): 3 for n in range(20, 1, -1)}))["alerts"] == 2
    assert [(a[1], a[2]) for a in alerts(runtime)] == [(day(20), day(14)), (day(13), day(7))]
    # Delete the scans of days 8 and 9 before today (a sensitive range, say).
    body = {
        "by": "collected",
        "start": f"{day(9).isoformat()}T00:00:00+08:00",
        "end": f"{day(7).isoformat()}T00:00:00+08:00",
        "centre_id": "c1",
        "confirm": True,
    }
    assert client.post("/api/v1/venue-scans/delete", json=body).json() == {"deleted": 6}
    with Session(runtime.engine) as session:
        assert judged_through(session, "c1") == day(10)  # reopened, judged at the next run
    # Re-judged: the windows over the deleted days are unknown now, not 7 days of zeros, so
    # no window over them is judged at all.
    assert nightly(runtime) == {}
    assert len(alerts(runtime)) == 2


def _prepare_race(client: TestClient, runtime: ApiTestRuntime) -> None:
    """Known days 20 to 1 before today for a venue with a minimum, judged through day 8."""
    from collector.modules.venues import alerts as rule

    venue(runtime, "LOW", low=5)
    upload(client, scans("LOW", {day(n): 10 for n in range(20, 0, -1)}))
    with Session(runtime.engine) as session:
        rule._set_mark(session, "c1", day(8))
        session.commit()


def _reopen_once(runtime: ApiTestRuntime, n: int, reopened: list[date]) -> None:
    """What an import of day ``n`` commits on another connection: its days reopened."""
    from collector.modules.venues import alerts as rule

    if not reopened:
        with Session(runtime.engine) as other:
            rule.reopen_days(other, "c1", [day(n)])
            other.commit()
        reopened.append(day(n))


@pytest.mark.parametrize("during", ["judging", "reading the known days"])
def test_days_reopened_during_an_evaluation_are_judged_again(
    client: TestClient, runtime: ApiTestRuntime, monkeypatch: pytest.MonkeyPatch, during: str
) -> None:
    """The 03:00 job judges day by day; an import that commits in between moves the mark
    back. The job must not then move it forward over the reopened days: it starts again from
    the mark as it now is."""
    from collector.modules.venues import alerts as rule

    _prepare_race(client, runtime)
    reopened: list[date] = []
    judged: list[date] = []
    real_judge, real_known = rule.evaluate_alerts, rule.known_days

    def judge(session: Session, as_of: date, **kw: object) -> int:
        judged.append(as_of)
        created = real_judge(session, as_of, **kw)  # type: ignore[arg-type]
        if during == "judging":
            _reopen_once(runtime, 14, reopened)
        return created

    def known(session: Session, centre_id: str, first: date, last: date) -> set[date]:
        found = real_known(session, centre_id, first, last)
        if during != "judging":
            _reopen_once(runtime, 14, reopened)
        return found

    monkeypatch.setattr(rule, "evaluate_alerts", judge)
    monkeypatch.setattr(rule, "known_days", known)
    nightly(runtime)
    assert reopened == [day(14)]
    start = judged.index(day(14))  # judged again after the reopening
    assert judged[start:] == [day(n) for n in range(14, 0, -1)]
    with Session(runtime.engine) as session:
        assert judged_through(session, "c1") == day(1)


def test_new_days_imported_during_an_evaluation_are_not_passed_over(
    client: TestClient, runtime: ApiTestRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import of days after the mark does not move it, but stamps it: an evaluation that
    had found those days unknown starts again and judges them."""
    from collector.modules.venues import alerts as rule

    venue(runtime, "LOW", low=5)
    upload(client, scans("LOW", {day(n): 1 for n in range(20, 7, -1)}))  # days 7..1 unknown
    assert judged_through_day(runtime) == day(1)
    with Session(runtime.engine) as session:
        rule._set_mark(session, "c1", day(8))
        session.commit()
    real_known = rule.known_days
    imported: list[bool] = []

    def known(session: Session, centre_id: str, first: date, last: date) -> set[date]:
        found = real_known(session, centre_id, first, last)
        if not imported:  # days 7..1 arrive right after this read; their import commits
            imported.append(True)
            rows = scans("LOW", {day(n): 1 for n in range(7, 0, -1)})
            with Session(runtime.engine) as other:
                import_scans(other, scan_csv(rows), centre_id="c1", actor="t")
                rule.reopen_days(other, "c1", [day(n) for n in range(7, 0, -1)])
                other.commit()
        return found

    monkeypatch.setattr(rule, "known_days", known)
    nightly(runtime)
    assert ("low", day(13), day(7), [1] * 7) in alerts(runtime)  # the new days were judged


def judged_through_day(runtime: ApiTestRuntime) -> date | None:
    with Session(runtime.engine) as session:
        return judged_through(session, "c1")
