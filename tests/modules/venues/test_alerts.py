"""The 7-day rule on constructed data, the daily SMS, and the nightly unknown-venue job."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.modules.notify.models import SmsMessage
from collector.modules.notify.modem_sim import ModemSimulator
from collector.modules.notify.settings import GsmModemSettings, NotifySettings
from collector.modules.venues import service
from collector.modules.venues.importer import insert_records
from collector.modules.venues.models import Venue, VenueAlert, VenueUnit
from tests.api.support import ApiTestRuntime
from tests.modules.venues.support import scans_for

END = date(2025, 3, 20)  # the last day of the evaluated window


def setup_venue(
    session: Session, code: str, *, low: int | None = 5, high: int | None = None
) -> Venue:
    unit = session.exec(select(VenueUnit)).first()
    if unit is None:
        unit = VenueUnit(centre_id="c1", name="卫健局", leader="王五", phone="13900001111")
        session.add(unit)
        session.flush()
    venue = Venue(
        centre_id="c1", code=code, name=code, unit_id=unit.id, min_daily=low, max_daily=high
    )
    session.add(venue)
    session.commit()
    return venue


def put_days(session: Session, code: str, counts: list[int]) -> None:
    """``counts`` for the days ending on END (the last element is END)."""
    first = END - timedelta(days=len(counts) - 1)
    for i, n in enumerate(counts):
        insert_records(
            session,
            scans_for(code, first + timedelta(days=i), n),
            centre_id="c1",
            actor="t",
            source="import",
        )
    session.commit()


def alerts(session: Session, code: str) -> list[VenueAlert]:
    venue = session.exec(select(Venue).where(Venue.code == code)).one()
    return list(session.exec(select(VenueAlert).where(VenueAlert.venue_id == venue.id)).all())


def test_seven_days_below_alert_six_do_not_a_gap_breaks(runtime: ApiTestRuntime) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        setup_venue(session, "SEVEN")
        put_days(session, "SEVEN", [1, 0, 2, 4, 1, 1, 3])  # 7 days below 5 (one with none)
        setup_venue(session, "SIX")
        put_days(session, "SIX", [9, 1, 1, 1, 1, 1, 1])  # only the last 6 below
        setup_venue(session, "GAP")
        put_days(session, "GAP", [1, 1, 1, 5, 1, 1, 1])  # day 4 meets the minimum
        setup_venue(session, "UNSET", low=None, high=None)
        put_days(session, "UNSET", [0] * 7)
        setup_venue(session, "HIGH", low=None, high=3)
        put_days(session, "HIGH", [4, 5, 6, 7, 8, 9, 10])
        assert service.evaluate_alerts(session, END) == 2
        seven = alerts(session, "SEVEN")
        assert [(a.direction, a.start_day, a.end_day, a.counts) for a in seven] == [
            ("low", END - timedelta(days=6), END, [1, 0, 2, 4, 1, 1, 3])
        ]
        assert alerts(session, "SIX") == [] and alerts(session, "GAP") == []
        assert alerts(session, "UNSET") == []
        assert [a.direction for a in alerts(session, "HIGH")] == ["high"]
        # Days after END have no scans (0): SIX completes its 7 days on END+1, GAP on END+4;
        # SEVEN's run goes on without an overlapping alert until a fresh window of 7 days.
        later = [service.evaluate_alerts(session, END + timedelta(days=d)) for d in range(1, 8)]
        assert later == [1, 0, 0, 1, 0, 0, 1]
        assert len(alerts(session, "SEVEN")) == 2
        assert alerts(session, "SEVEN")[1].start_day == END + timedelta(days=1)


def test_daily_sms_once_while_unreceived(runtime: ApiTestRuntime, client: TestClient) -> None:
    notify = runtime.settings.notify
    settings = runtime.settings.venues
    with Session(runtime.engine, expire_on_commit=False) as session:
        setup_venue(session, "SMS")
        put_days(session, "SMS", [0, 0, 0, 0, 0, 0, 1])
        assert service.evaluate_alerts(session, END) == 1
        day = date(2025, 3, 21)
        assert service.send_daily_reminders(session, notify, settings, today=day) == 1
        assert service.send_daily_reminders(session, notify, settings, today=day) == 0
        sent = session.exec(select(SmsMessage)).all()
        assert [(m.phone, m.text, m.status) for m in sent] == [
            ("13900001111", settings.sms_text, "sent")
        ]
        alert = alerts(session, "SMS")[0]
    page = client.get(f"/venue-alerts/{alert.id}").text
    assert "接收" in page and page.count("<td>0</td>") == 6
    from tests.console.support import csrf_of

    r = client.post(f"/venue-alerts/{alert.id}/receive", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 200 and "已接收" in r.text
    assert "SMS" in client.get("/venue-alerts?tab=received").text
    with Session(runtime.engine, expire_on_commit=False) as session:
        next_day = date(2025, 3, 22)
        assert service.send_daily_reminders(session, notify, settings, today=next_day) == 0
        assert len(session.exec(select(SmsMessage)).all()) == 1
    log = client.get("/sms-log").text
    assert "139****1111" in log and "13900001111" not in log


def test_one_bad_unit_phone_does_not_stop_the_daily_sms(runtime: ApiTestRuntime) -> None:
    settings = runtime.settings.venues
    with ModemSimulator() as modem:
        notify = NotifySettings(sender="gsm", gsm=GsmModemSettings(url=modem.path, timeout_s=5))
        with Session(runtime.engine, expire_on_commit=False) as session:
            # A phone stored before units were checked; the form refuses it now.
            bad = VenueUnit(centre_id="c1", name="甲局", phone="无")
            good = VenueUnit(centre_id="c1", name="乙局", phone="13900002222")
            session.add_all([bad, good])
            session.flush()
            for unit in (bad, good):
                session.add(
                    Venue(centre_id="c1", code=unit.name, name=unit.name, unit_id=unit.id,
                          min_daily=5)
                )  # fmt: skip
            session.commit()
            assert service.evaluate_alerts(session, END) == 2
            sent = service.send_daily_reminders(session, notify, settings, today=END)
            assert sent == 2  # both stored and tried
            log = {m.phone: m for m in session.exec(select(SmsMessage)).all()}
            assert log["无"].status == "failed" and log["无"].attempts == 1
            assert "not a phone number" in log["无"].last_error
            assert log["13900002222"].status == "sent"
        assert modem.texts() == [("13900002222", settings.sms_text)]


def test_nightly_job_finds_an_unknown_venue(runtime: ApiTestRuntime, client: TestClient) -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        setup_venue(session, "KNOWN")
        put_days(session, "KNOWN", [1])
        insert_records(
            session,
            [*scans_for("MYSTERY", END, 2)],
            centre_id="c1",
            actor="t",
            source="import",
        )
        session.commit()
        assert service.find_unknown_venues(session) == 1
        assert service.find_unknown_venues(session) == 0
    page = client.get("/venues?tab=unset").text
    assert "MYSTERY" in page and "KNOWN" not in page
    assert "KNOWN" in client.get("/venues?tab=set").text
