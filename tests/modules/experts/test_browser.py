"""The rooms board and the session page in headless Chromium, against a real
``prtc-collector serve``: an expert passing the gate and the terminal starting to record show
up on the board without a reload; the session page shows the masked roster, the sign-in and
a recording the browser can seek in (Range)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from collector.db import make_engine
from collector.db_types import utcnow
from collector.files.models import StoredFile, UploadState
from collector.modules.experts import service
from collector.modules.experts.handlers import handle_recorder_state, record_admission
from collector.modules.experts.models import Recording
from collector.modules.experts.settings import ExpertsSettings
from collector.security.personal_data import configure_personal_data
from contract.ids import uuid7
from contract.payloads.entrance import person_hash
from tests.modules.experts.support import admission, event
from tests.support.browser import Browser, needs_chromium
from tests.support.mosquitto import Mosquitto
from tests.support.processes import CollectorProcess, tmpdir

PASSWORD = "Browser-admin-1"
CENTRE = "city-x"
ZHANG = "11010519491231002X"
pytestmark = needs_chromium


@pytest.fixture
def collector() -> Iterator[CollectorProcess]:
    workdir = tmpdir("prtc-experts-browser-")
    broker = Mosquitto().start()
    process = CollectorProcess(workdir, broker.url)
    try:
        process.enrol(CENTRE, "gate-1", kind="gate")
        process.enrol(CENTRE, "term-1", kind="recorder")
        process.cli("user", "add", "admin", "--role", "system_admin", "--password", PASSWORD)
        process.start()
        process.wait_ready()
        yield process
    finally:
        process.stop()
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


class Site:
    """Writes into the collector's own database what the push API and the ingest would."""

    def __init__(self, process: CollectorProcess) -> None:
        self.secret = process.env["PRTC_COLLECTOR_SECRET_KEY"]
        configure_personal_data(self.secret)
        self.engine = make_engine(process.db_url)
        self.files = Path(process.env["PRTC_COLLECTOR_FILES__ROOT"])

    def setup(self) -> int:
        start = utcnow().replace(microsecond=0) + timedelta(minutes=20)
        with Session(self.engine, expire_on_commit=False) as session:
            service.save_room(
                session,
                service.RoomIn(
                    centre_id=CENTRE,
                    code="P1",
                    name="第一评标室",
                    gates=["gate-1"],
                    terminals=["term-1"],
                ),
                actor=None,
            )
            body = service.ProjectIn.model_validate({
                "centre_id": CENTRE, "number": "JSGC-7", "name": "教学楼工程",
                "sessions": [{
                    "rooms": ["P1"], "start": start.isoformat(),
                    "end": (start + timedelta(hours=2)).isoformat(),
                    "roster": [
                        {"name": "张三", "id_number": ZHANG, "role": "leader"},
                        {"name": "王五", "id_number": "420111198510203456"},
                    ],
                }],
            })  # fmt: skip
            applied = service.apply_project(session, body, actor=None, source="api")
            session.commit()
            return applied.sessions[0].id or 0

    def admit(self, session_id: int) -> None:
        key = service.gate_key(self.secret, CENTRE)
        payload = admission(
            at=utcnow(),
            gate="gate-1",
            session_id=str(session_id),
            person_hash=person_hash(key, ZHANG),
        )
        with Session(self.engine) as session:
            stored = event("access.admission", payload, CENTRE, "gate-1", utcnow())
            session.add(stored)
            session.flush()
            record_admission(session, stored, ExpertsSettings(), self.secret)
            session.commit()

    def recording(self, session_id: int) -> bytes:
        with Session(self.engine) as session:
            stored = event(
                "recorder.state",
                {"state": "recording", "session_id": str(session_id)},
                CENTRE,
                "term-1",
                utcnow(),
            )
            session.add(stored)
            session.flush()
            handle_recorder_state(session, stored)
            content = bytes(range(256)) * 64
            (self.files / "seg").mkdir(parents=True, exist_ok=True)
            (self.files / "seg" / "0.mp4").write_bytes(content)
            file_id = str(uuid7())
            session.add(
                StoredFile(
                    id=file_id,
                    name="0.mp4",
                    size=len(content),
                    sha256="0" * 64,
                    store_key="seg/0.mp4",
                    state=UploadState.COMPLETE,
                    received=len(content),
                    centre_id=CENTRE,
                    content_type="video/mp4",
                )
            )
            session.add(
                Recording(
                    centre_id=CENTRE,
                    session_id=session_id,
                    file_id=file_id,
                    device_id="term-1",
                    index=0,
                    started_at=utcnow(),
                )
            )
            session.commit()
            return content


def test_rooms_board_live_and_session_page(collector: CollectorProcess, browser: Browser) -> None:
    site = Site(collector)
    try:
        session_id = site.setup()
        browser.call("Page.navigate", url=f"{collector.api}/experts")
        browser.wait("!!document.getElementById('username')", "login form")
        browser.eval(
            "document.getElementById('username').value = 'admin';"
            f"document.getElementById('password').value = {json.dumps(PASSWORD)};"
            "document.getElementById('login-submit').click();"
        )
        browser.wait("!!document.getElementById('rooms-board')", "rooms board")
        assert "评标室看板" in browser.eval("document.querySelector('nav').innerText")
        row = "document.querySelector('#rooms-board tr[data-id^=\"room:\"]')"
        signed = f"{row}.querySelector('[data-field=signed]').innerText"
        recording = f"{row}.querySelector('[data-field=recording]').innerText"
        assert browser.eval(signed) == "0/2"
        assert browser.eval(recording) == "未录像"
        assert "JSGC-7" in browser.eval(f"{row}.innerText")
        browser.wait("!document.getElementById('live-badge').hidden", "live stream open")
        browser.eval("window.notReloaded = true")

        site.admit(session_id)
        content = site.recording(session_id)
        browser.wait(f"{signed} === '1/2'", "signed in live", timeout=20)
        browser.wait(f"{recording} === '录像中'", "recording live", timeout=20)
        assert browser.eval("window.notReloaded") is True

        browser.call("Page.navigate", url=f"{collector.api}/experts/sessions/{session_id}")
        browser.wait("!!document.getElementById('roster')", "session page")
        roster = browser.eval("document.getElementById('roster').innerText")
        assert "张*" in roster and "110***********002X" in roster and ZHANG not in roster
        assert "已签到" in roster and "待签到" in roster
        assert browser.eval("document.querySelectorAll('#recordings video').length") == 1
        src = browser.eval("document.querySelector('#recordings video').src")
        browser.eval(
            "window.rangeResult = null; fetch("
            f"{json.dumps(src)}, {{headers: {{Range: 'bytes=1000-1009'}}}})"
            ".then(r => r.arrayBuffer().then(b => window.rangeResult ="
            " [r.status, Array.from(new Uint8Array(b))]))"
        )
        browser.wait("window.rangeResult !== null", "range request")
        status, data = browser.eval("window.rangeResult")
        assert status == 206 and bytes(data) == content[1000:1010]
        assert browser.csp_violations() == []
    finally:
        site.engine.dispose()
