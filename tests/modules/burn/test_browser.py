"""A real browser on the burn pages: the job list follows a station's reports live (real
Mosquitto, ``prtc-collector serve``, events published on the wire as the station would), and
the archive search finds a disc by the name of a file on it. Skipped without Chromium."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from contract.ids import uuid7
from tests.collector.conftest import WireAgent, event_envelope
from tests.support.browser import Browser, needs_chromium
from tests.support.mosquitto import Mosquitto
from tests.support.processes import CollectorProcess, tmpdir

pytestmark = needs_chromium

CENTRE = "burn-city"
SHA = "cd" * 32


@pytest.fixture
def site() -> Iterator[tuple[CollectorProcess, Mosquitto]]:
    workdir = tmpdir("prtc-burn-browser-")
    broker = Mosquitto().start()
    collector = CollectorProcess(workdir, broker.url)
    try:
        collector.enrol(CENTRE, "burn1", kind="burner")
        collector.start()
        collector.wait_ready()
        yield collector, broker
    finally:
        collector.stop()
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


def log_in(browser: Browser, collector: CollectorProcess, path: str) -> None:
    collector.headers  # noqa: B018 - creates the administrator
    browser.call("Page.navigate", url=f"{collector.api}{path}")
    browser.wait("!!document.getElementById('username')", "login page")
    browser.eval(
        f"document.getElementById('username').value = {json.dumps(collector.ADMIN)};"
        f"document.getElementById('password').value = {json.dumps(collector.ADMIN_PASSWORD)};"
        "document.getElementById('login-submit').click();"
    )
    browser.wait(f"location.pathname === {json.dumps(path)}", "logged in")


def test_job_page_is_live_and_the_archive_finds_a_file(
    site: tuple[CollectorProcess, Mosquitto], browser: Browser
) -> None:
    collector, broker = site
    project = collector.post(
        "/api/v1/burn/projects",
        {
            "centre_id": CENTRE,
            "number": "GC-2026-088",
            "name": "体育馆改造工程",
            "category": "construction",
            "opening_date": "2026-11-20",
            "sources": [{"kind": "url", "url": "http://docs.example/88.pdf"}],
        },
    )
    job = collector.post("/api/v1/burn/jobs", {"project_ids": [project["id"]]})[0]
    station = WireAgent(broker, "burn1", CENTRE)
    try:
        log_in(browser, collector, "/burn")
        row = f"document.querySelector('tr[data-id=\"{job['id']}\"]')"
        browser.wait(f"!!{row}", "the job is listed")
        browser.wait("!document.getElementById('live-badge').hidden", "live stream open")
        assert browser.eval(f"{row}.querySelector('[data-field=\"state\"]').innerText") == "排队"
        browser.eval("window.notReloaded = true")

        state = {"job_id": job["id"], "project_number": "GC-2026-088", "stage": "burning",
                 "progress": 0.5, "message": "sr0: 刻录第 1 张"}  # fmt: skip
        station.publish_raw(
            f"prtc/v1/{CENTRE}/burn1/event/burn.job_state",
            json.dumps(
                event_envelope("burn1", 1, centre=CENTRE, type_="burn.job_state", **state)
            ).encode(),
        )
        cell = f"{row}.querySelector('[data-field=\"progress\"]').innerText"
        browser.wait(f"{cell} === '50%'", "progress shown live", timeout=30)
        assert browser.eval(f"{row}.querySelector('[data-field=\"state\"]').innerText") == "刻录"
        assert browser.eval("window.notReloaded") is True

        # the job's page: its log grows live with the next stage (no inline script, CSP)
        browser.call("Page.navigate", url=f"{collector.api}/burn/jobs/{job['id']}")
        browser.wait("!!document.getElementById('job-log')", "job page")
        browser.wait("!document.getElementById('live-badge').hidden", "job streams open")
        rows = "document.querySelectorAll('#job-log tbody tr')"
        before = browser.eval(f"{rows}.length")
        state.update(stage="verifying", progress=0.9, message="校验 GC2026088_A1_0101")
        station.publish_raw(
            f"prtc/v1/{CENTRE}/burn1/event/burn.job_state",
            json.dumps(
                event_envelope("burn1", 2, centre=CENTRE, type_="burn.job_state", **state)
            ).encode(),
        )
        browser.wait(f"{rows}.length === {before + 1}", "the log line appended", timeout=30)
        last = f"{rows}[{before}]"
        assert browser.eval(f"{last}.querySelector('[data-field=\"state\"]').innerText") == "校验"
        assert "GC2026088_A1_0101" in browser.eval(f"{last}.innerText")
        assert browser.eval("document.getElementById('job-state').innerText") == "校验"

        disc = {
            "disc_id": str(uuid7()), "job_id": job["id"], "project_number": "GC-2026-088",
            "disc_index": 1, "disc_count": 1, "copy_role": "archive", "copy_number": 1,
            "volume_id": "GC2026088_A1_0101", "drive": "sr0", "medium": "dvd",
            "files": [{"path": "video/第三评标室_20261120_0900.mp4", "size": 9, "sha256": SHA,
                       "media": "video", "duration_s": 5400.0, "codec": "h264"}],
            "image_size": 9, "image_sha256": SHA, "verify": "ok",
            "burned_at": datetime.now(UTC).isoformat(),
        }  # fmt: skip
        station.publish_raw(
            f"prtc/v1/{CENTRE}/burn1/event/burn.disc",
            json.dumps(
                event_envelope("burn1", 3, centre=CENTRE, type_="burn.disc", **disc)
            ).encode(),
        )

        # the job fails while the page is open: the page reloads itself and offers the retry
        assert browser.eval("!!document.getElementById('cancel')") is True
        browser.eval("window.notReloaded = true")
        state.update(stage="failed", progress=0.9, error="sr1: 刻录失败", failed_stage="burning")
        station.publish_raw(
            f"prtc/v1/{CENTRE}/burn1/event/burn.job_state",
            json.dumps(
                event_envelope("burn1", 4, centre=CENTRE, type_="burn.job_state", **state)
            ).encode(),
        )
        browser.wait("!!document.getElementById('retry')", "retry offered", timeout=30)
        assert browser.eval("window.notReloaded") is None  # a fresh page, not a patched one
        assert browser.eval("!!document.getElementById('cancel')") is False
    finally:
        station.client.loop_stop()
        station.client.disconnect()

    browser.call("Page.navigate", url=f"{collector.api}/burn/archive")
    browser.wait("!!document.getElementById('archive-search')", "archive page")
    browser.eval(
        "document.getElementById('file').value = '第三评标室';"
        "document.getElementById('search').click();"
    )
    browser.wait("location.search.includes('file=')", "searched")
    table = "document.getElementById('burn-discs').innerText"
    browser.wait(f"{table}.includes('GC2026088_A1_0101')", "the disc is found", timeout=15)
    assert "第三评标室_20261120_0900.mp4" in browser.eval(table)
    assert "体育馆改造工程" in browser.eval(table)
    assert browser.csp_violations() == []
