"""A real browser (headless Chromium over the DevTools protocol): log in, switch to English,
and watch a simulated device come online on the devices page without reloading it.

Everything is real: Mosquitto, ``prtc-collector serve`` and a ``prtc-agent`` with the sim
plugin, as separate processes; the page learns of the device through the server-sent events
stream. Skipped when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port, wait_until
from tests.support.processes import AgentProcess, CollectorProcess, tmpdir

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Browser-admin-1"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")


class Browser:
    """Just enough of the Chrome DevTools Protocol: navigate and evaluate JavaScript."""

    def __init__(self, ws_url: str) -> None:
        self.ws = connect(ws_url, max_size=None, open_timeout=10)
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def eval(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, what: str, timeout: float = 15) -> None:
        def true() -> bool:
            try:
                return bool(self.eval(expression))
            except RuntimeError:  # the page is between documents
                return False

        wait_until(true, timeout, 0.1, what)

    def close(self) -> None:
        self.ws.close()


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


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    port = free_port()
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pages: list[dict[str, Any]] = []

        def page_listed() -> bool:
            try:
                listed = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json()
            except httpx.HTTPError:
                return False
            pages[:] = [p for p in listed if p.get("type") == "page"]
            return bool(pages)

        wait_until(page_listed, 30, 0.2, "chromium started")
        browser = Browser(pages[0]["webSocketDebuggerUrl"])
        try:
            yield browser
        finally:
            browser.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(tmp_path / "chromium", ignore_errors=True)


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
