"""Headless Chromium driven over the Chrome DevTools Protocol, for the browser tests.

``from tests.support.browser import CHROMIUM, Browser, browser`` gives the fixture; the tests
skip when Debian's chromium is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.net import free_port, wait_until

CHROMIUM = "/usr/bin/chromium"

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")


class Browser:
    """Just enough of the DevTools protocol: navigate, evaluate JavaScript, press keys."""

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

    def watch_csp(self) -> None:
        """Record every Content-Security-Policy violation of the pages loaded from now on, in
        the tab's session storage (so across navigations on one site); the fixture starts it.
        Read them with :meth:`csp_violations`."""
        self.call("Page.enable")  # without it the script is not added to new documents
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source=(
                "document.addEventListener('securitypolicyviolation', function (e) {"
                "  var seen = JSON.parse(sessionStorage.getItem('__csp') || '[]');"
                "  seen.push(location.pathname + ': ' + e.violatedDirective + ' '"
                "            + (e.blockedURI || 'inline'));"
                "  sessionStorage.setItem('__csp', JSON.stringify(seen));"
                "});"
            ),
        )

    def csp_violations(self) -> list[str]:
        """The violations recorded on this site's pages so far (see :meth:`watch_csp`)."""
        return list(self.eval("JSON.parse(sessionStorage.getItem('__csp') || '[]')"))

    def key(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=key,
                windowsVirtualKeyCode=code,
                nativeVirtualKeyCode=code,
            )

    def close(self) -> None:
        self.ws.close()


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
            "--window-size=1600,900",
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
        browser.watch_csp()
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
