"""Headless Chromium on the venues pages: import a CSV through the file input, query the
scans, receive an alert. Skipped without /usr/bin/chromium."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlmodel import Session

from collector.modules.venues.models import Venue, VenueAlert
from tests.api.support import ADMIN_PASSWORD, ApiTestRuntime
from tests.modules.venues.test_import import GOOD, csv_bytes
from tests.support.browser import Browser, needs_chromium
from tests.support.net import free_port, wait_until

pytestmark = needs_chromium


@pytest.fixture
def site(app: FastAPI, runtime: ApiTestRuntime) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 15, 0.05, "uvicorn started")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def log_in(browser: Browser, url: str) -> None:
    browser.call("Page.navigate", url=f"{url}/venue-import")
    browser.wait("!!document.getElementById('username')", "login form")
    browser.eval(
        "document.getElementById('username').value = 'admin';"
        f"document.getElementById('password').value = {json.dumps(ADMIN_PASSWORD)};"
        "document.getElementById('login-submit').click();"
    )
    browser.wait("location.pathname === '/venue-import' && !!document.getElementById('file')", "in")


def test_import_query_and_receive_in_a_browser(
    site: str, browser: Browser, runtime: ApiTestRuntime, tmp_path: Path
) -> None:
    log_in(browser, site)
    latest_c1 = "document.querySelector('#latest tr[data-centre=c1] td').innerText"
    assert browser.eval(latest_c1) == "无"
    upload = tmp_path / "scans.csv"
    upload.write_bytes(csv_bytes(GOOD))
    browser.call("DOM.enable")
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", nodeId=root, selector="#file")["nodeId"]
    browser.call("DOM.setFileInputFiles", files=[str(upload)], nodeId=node)
    browser.eval("document.getElementById('import-submit').click()")
    browser.wait("!!document.getElementById('message')", "import finished")
    assert "新增 3 条" in browser.eval("document.getElementById('message').innerText")
    assert browser.eval(latest_c1) == "2022-05-02 08:00:00"  # of the centre imported into
    assert browser.eval("document.querySelectorAll('#scans tbody tr').length") == 3  # listed

    browser.call("Page.navigate", url=f"{site}/venue-scans")
    browser.wait("!!document.getElementById('scan-filter')", "query page")
    browser.eval(
        "document.querySelector('input[name=venue_code]').value = 'KP1';"
        "document.getElementById('scan-search').click();"
    )
    browser.wait("location.search.includes('venue_code=KP1')", "searched")
    rows = browser.eval("document.querySelectorAll('#scans tbody tr').length")
    assert rows == 2
    export = browser.eval("document.getElementById('scans-export').getAttribute('href')")
    assert export.startswith("/api/v1/venue-scans/export?") and "venue_code=KP1" in export
    text = browser.eval("document.getElementById('scans').innerText")
    assert "空" in text and "138****5678" in text and "13812345678" not in text

    with Session(runtime.engine, expire_on_commit=False) as session:
        venue = Venue(centre_id="c1", code="KP1", name="人民医院", min_daily=10)
        session.add(venue)
        session.flush()
        alert = VenueAlert(
            centre_id="c1",
            venue_id=venue.id or 0,
            direction="low",
            threshold=10,
            start_day=date(2022, 4, 25),
            end_day=date(2022, 5, 1),
            counts=[0, 0, 0, 0, 0, 0, 2],
        )
        session.add(alert)
        session.commit()
    browser.call("Page.navigate", url=f"{site}/venue-alerts")
    browser.wait("!!document.getElementById('alerts')", "alerts page")
    assert "2022-04-25至2022-05-01" in browser.eval("document.getElementById('alerts').innerText")
    browser.eval("document.querySelector('#alerts a').click()")
    browser.wait("!!document.getElementById('receive')", "alert detail")
    assert browser.eval("document.querySelectorAll('#alert-days tbody tr').length") == 7
    browser.eval("document.getElementById('receive').click()")
    browser.wait("!!document.getElementById('received')", "received")
    browser.call("Page.navigate", url=f"{site}/venue-alerts?tab=received")
    browser.wait("!!document.getElementById('alerts')", "received tab")
    assert "人民医院" in browser.eval("document.getElementById('alerts').innerText")
    assert browser.csp_violations() == []
    time.sleep(0)
