"""A real browser (headless Chromium over the DevTools protocol): log in, switch to English,
and watch a simulated device come online on the devices page without reloading it.

Everything is real: Mosquitto, ``prtc-collector serve`` and a ``prtc-agent`` with the sim
plugin, as separate processes; the page learns of the device through the server-sent events
stream. Skipped when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.browser import Browser, needs_chromium
from tests.support.mosquitto import Mosquitto
from tests.support.processes import AgentProcess, CollectorProcess, tmpdir

PASSWORD = "Browser-admin-1"

pytestmark = needs_chromium


CENTRE = "browser-city"


@dataclass
class SiteUnderTest:
    url: str
    collector: CollectorProcess
    agent: AgentProcess


@pytest.fixture
def site() -> Iterator[SiteUnderTest]:
    workdir = tmpdir("prtc-browser-")
    broker = Mosquitto().start()
    collector = CollectorProcess(workdir, broker.url)
    agent = AgentProcess(workdir, CENTRE, "sim-b1", broker.url, heartbeat_interval_s=1.0)
    try:
        collector.enrol(CENTRE, "sim-b1")
        collector.cli("user", "add", "admin", "--role", "system_admin", "--password", PASSWORD)
        collector.start()
        collector.wait_ready()
        yield SiteUnderTest(collector.api, collector, agent)
    finally:
        agent.stop()
        collector.stop()
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_log_in_switch_language_and_see_a_device_come_online(
    site: SiteUnderTest, browser: Browser
) -> None:
    browser.call("Page.navigate", url=f"{site.url}/devices")
    browser.wait("location.pathname === '/login' && !!document.getElementById('username')", "login")
    assert "登录" in browser.eval("document.body.innerText")
    browser.eval(
        "document.getElementById('username').value = 'admin';"
        f"document.getElementById('password').value = {json.dumps(PASSWORD)};"
        "document.getElementById('login-submit').click();"
    )
    browser.wait("location.pathname === '/devices' && !!document.getElementById('devices')", "in")
    assert "设备" in browser.eval("document.querySelector('nav').innerText")

    browser.eval("document.getElementById('lang-switch').click()")
    nav = "document.querySelector('nav')"
    browser.wait(f"{nav} && {nav}.innerText.includes('Devices')", "English")
    browser.wait("!document.getElementById('live-badge').hidden", "live stream open")
    cell = 'document.querySelector(\'tr[data-id="sim-b1"] [data-field="online"]\').innerText'
    assert browser.eval(cell) == "Offline"
    browser.eval("window.notReloaded = true")

    site.agent.start()  # the simulated device connects and says it is online
    browser.wait(f"{cell} === 'Online'", "sim-b1 online on the page", timeout=30)
    assert browser.eval("window.notReloaded") is True
    beat = 'document.querySelector(\'tr[data-id="sim-b1"] [data-field="last_heartbeat_at"]\')'
    browser.wait(f"{beat}.innerText !== '-'", "heartbeat shown", timeout=30)
    assert browser.csp_violations() == []
