"""The entrance screen in a real browser (headless Chromium over the DevTools protocol): a
flagged visitor appears live through server-sent events, Enter confirms it, the gate action
runs and the passage is recorded; the language switch works. Skipped without Chromium."""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.payloads.entrance import EntranceRules, Person, WatchedRegion
from device_plugins.entrance.door import Door, EntranceSettings
from device_plugins.entrance.kiosk import Kiosk
from device_plugins.messages import CardRead, CardUnreadable, TemperatureReading
from tests.support.browser import Browser, needs_chromium

from .fakes import FakeContext

WUHAN = "420102199001011236"

pytestmark = [
    needs_chromium,
    pytest.mark.timeout(120),
]


@pytest.fixture
def kiosk() -> Iterator[tuple[Kiosk, FakeContext]]:
    ctx = FakeContext({})
    rules = EntranceRules(watched_regions=[WatchedRegion(prefix="4201", level=1)])
    settings = EntranceSettings(
        door="东门", readers={"idcard": "operator"}, gate_action="gate1.open", rules=rules
    )
    door = Door(settings, emit=ctx.emit, call_action=ctx.call_action, logger=logging.getLogger("t"))
    k = Kiosk(door, port=0)
    k.start()
    yield k, ctx
    k.stop()


def test_a_flagged_visitor_appears_live_and_enter_confirms(
    kiosk: tuple[Kiosk, FakeContext], browser: Browser
) -> None:
    k, ctx = kiosk
    browser.call("Page.navigate", url=k.url)
    browser.wait("document.getElementById('link').classList.contains('up')", "live stream open")
    assert browser.eval("document.getElementById('decision').innerText") == "请刷身份证"
    assert browser.eval("document.getElementById('door').innerText") == "东门"

    k.door.on_temperature(TemperatureReading("thermometer", 36.5, "sensor", time.perf_counter()))
    person = Person(document_type="resident", name="张三", id_number=WUHAN)
    k.door.on_card(CardRead("idcard", person, b"", time.perf_counter()))
    browser.wait("document.getElementById('name').innerText === '张三'", "visitor shown")
    assert browser.eval("document.getElementById('id').innerText") == "420***********1236"
    assert "来自一类地区：湖北省武汉市" in browser.eval(
        "document.getElementById('flags').innerText"
    )
    assert browser.eval("document.getElementById('decision').innerText") == "请人工确认"
    assert browser.eval("document.getElementById('actions').hidden") is False
    if shot_path := os.environ.get("PRTC_KIOSK_SCREENSHOT"):  # to look at the screen
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        Path(shot_path).write_bytes(base64.b64decode(shot))

    browser.key("Enter", 13)
    browser.wait("document.getElementById('decision').innerText.startsWith('准许进入')", "admitted")
    assert ctx.calls == [("gate1.open", None)]
    [p] = ctx.passages()
    assert p.decision == "admitted" and p.decided_by == "operator"
    assert browser.eval("document.getElementById('c-admitted').innerText") == "1"

    browser.eval("document.getElementById('lang').click()")
    browser.wait("document.getElementById('decision').innerText.startsWith('Admitted')", "English")
    assert "Manual entry" in browser.eval("document.body.innerText")


def test_an_unreadable_card_and_the_document_details_show_on_the_screen(
    kiosk: tuple[Kiosk, FakeContext], browser: Browser
) -> None:
    k, _ = kiosk
    browser.call("Page.navigate", url=k.url)
    browser.wait("document.getElementById('link').classList.contains('up')", "live stream open")
    assert browser.eval("document.getElementById('notice').hidden") is True

    text = "无法识别的证件类型（类型标识 'Z'），请手工登记"
    k.door.on_unreadable(CardUnreadable("idcard", text, "unsupported card type flag 'Z'", "Z"))
    browser.wait("document.getElementById('notice').hidden === false", "notice shown")
    assert text in browser.eval("document.getElementById('notice').innerText")

    permit = Person(
        document_type="hk_mo_tw",
        name="陈大文",
        id_number="810000198505120057",
        pass_number="H60123456",
        issue_count="01",
    )
    k.door.on_temperature(TemperatureReading("thermometer", 36.5, "sensor", time.perf_counter()))
    k.door.on_card(CardRead("idcard", permit, b"", time.perf_counter()))
    browser.wait("document.getElementById('name').innerText === '陈大文'", "visitor shown")
    assert browser.eval("document.getElementById('notice').hidden") is True
    info = browser.eval("document.getElementById('docinfo').innerText")
    assert info == "通行证号码 H60**3456 · 签发次数 01"
    assert "H60123456" not in browser.eval("document.body.innerText")

    foreigner = Person(
        document_type="foreign_permanent",
        name="SMITH JOHN (史密斯)",
        id_number="911124198001010015",
        english_name="SMITH JOHN",
        nationality="CAN",
        issue_count="02",
    )
    k.door.on_temperature(TemperatureReading("thermometer", 36.5, "sensor", time.perf_counter()))
    k.door.on_card(CardRead("idcard", foreigner, b"", time.perf_counter()))
    browser.wait("document.getElementById('name').innerText.startsWith('SMITH')", "foreigner")
    info = browser.eval("document.getElementById('docinfo').innerText")
    assert info == "国籍 CAN · 换证次数 02"  # the English name is in the name already
