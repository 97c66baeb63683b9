"""The dashboard in headless Chromium: log in, open 来访概况, and watch the counters and the
origin chart change without a reload when visits are stored (through the real
``prtc-collector serve`` process and its server-sent events stream)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from collector.db import make_engine
from collector.db_types import utcnow
from collector.ingest.models import StoredEvent
from collector.modules.visitors.handler import handle_passage
from collector.modules.visitors.service import day_bounds, local_today
from collector.security.personal_data import configure_personal_data
from contract.ids import uuid7
from tests.modules.visitors.conftest import passage
from tests.support.browser import Browser, needs_chromium
from tests.support.mosquitto import Mosquitto
from tests.support.processes import CollectorProcess, tmpdir

PASSWORD = "Browser-admin-1"
CLASS1 = {"code": "region_class1", "level": "warn", "reason": "一类地区"}
CENTRE_TZ = ZoneInfo("Asia/Shanghai")  # the collector's default centre time zone
pytestmark = needs_chromium


@pytest.fixture
def collector() -> Iterator[CollectorProcess]:
    workdir = tmpdir("prtc-visitors-browser-")
    broker = Mosquitto().start()
    process = CollectorProcess(workdir, broker.url)
    try:
        process.enrol("city-x", "entrance-1", kind="entrance")
        process.cli("user", "add", "admin", "--role", "system_admin", "--password", PASSWORD)
        process.start()
        process.wait_ready()
        yield process
    finally:
        process.stop()
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


def store_passages(process: CollectorProcess, *payloads: dict[str, object]) -> None:
    """What the ingest does for new events, written into the collector's own database."""
    configure_personal_data(process.env["PRTC_COLLECTOR_SECRET_KEY"])
    engine = make_engine(process.db_url)
    try:
        with Session(engine) as session:
            for payload in payloads:
                event = StoredEvent(
                    id=str(uuid7()), centre_id="city-x", device_id="entrance-1",
                    type="entrance.passage", seq=1, ts=utcnow(), payload=payload,
                )  # fmt: skip
                session.add(event)
                session.flush()
                handle_passage(session, event)
            session.commit()
    finally:
        engine.dispose()


def earlier_today(now: datetime, minutes: int) -> datetime:
    """``minutes`` before ``now`` but never before the centre's local midnight, so the
    dashboard's "today" counts it whatever time the suite runs (CI once ran at 00:04)."""
    midnight, _ = day_bounds(local_today(CENTRE_TZ, now), CENTRE_TZ)
    return max(now - timedelta(minutes=minutes), midnight)


def test_dashboard_updates_live(collector: CollectorProcess, browser: Browser) -> None:
    now = utcnow()
    store_passages(collector, passage("zhang", "in", earlier_today(now, 5)))
    browser.call("Page.navigate", url=f"{collector.api}/visitors")
    browser.wait("!!document.getElementById('username')", "login form")
    browser.eval(
        "document.getElementById('username').value = 'admin';"
        f"document.getElementById('password').value = {json.dumps(PASSWORD)};"
        "document.getElementById('login-submit').click();"
    )
    browser.wait("!!document.getElementById('inside-now')", "dashboard")
    assert "来访概况" in browser.eval("document.querySelector('nav').innerText")
    inside = "document.getElementById('inside-now').innerText"
    assert browser.eval(inside) == "1"
    # drawn under the console's Content-Security-Policy: bars sized by console.js
    assert browser.eval("document.querySelector('#chart-provinces i').style.width") == "100%"
    browser.wait("!document.getElementById('live-badge').hidden", "live stream open")
    browser.eval("window.notReloaded = true")

    store_passages(
        collector,
        passage("li", "in", now, flags=[CLASS1]),
        passage("wang", "in", now),
    )
    browser.wait(f"{inside} === '3'", "three people inside", timeout=20)
    assert browser.eval("document.getElementById('total-today').innerText") == "3"
    assert browser.eval("document.getElementById('flagged-today').innerText") == "1"
    chart = "document.getElementById('chart-provinces').innerText"
    browser.wait(f"{chart}.includes('广东省') && {chart}.includes('湖北省')", "origin chart")
    flagged = "document.getElementById('flagged-list').innerText"
    assert "李*" in browser.eval(flagged) and "一类地区" in browser.eval(flagged)
    assert browser.eval("window.notReloaded") is True
    # the centre picker submits itself (console.js, no inline handler)
    browser.eval(
        "var s = document.querySelector('select[data-autosubmit]');"
        "s.value = s.options[s.options.length - 1].value;"
        "s.dispatchEvent(new Event('change'));"
    )
    browser.wait("location.search.includes('centre=')", "centre chosen")
    assert browser.csp_violations() == []
