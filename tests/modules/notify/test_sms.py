"""SMS: the GSM sender against the byte-level modem simulator (Chinese text as a valid
UCS-2 PDU, long text concatenated, +CMS ERROR retried with backoff), the HTTP gateway."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, create_engine, select

from collector.db_types import utcnow
from collector.modules.notify import service
from collector.modules.notify.models import SmsMessage
from collector.modules.notify.modem_sim import ModemSimulator
from collector.modules.notify.pdu import decode_submit, encode_submit
from collector.modules.notify.senders import GsmModemSender, HttpGatewaySender
from collector.modules.notify.settings import (
    GsmModemSettings,
    HttpGatewaySettings,
    NotifySettings,
)
from collector.security.personal_data import configure_personal_data, reset_personal_data

TEXT = "你有未接收的“扫码”预警待处理，请到OA系统的疫情防控专区查阅，谢谢！"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    configure_personal_data("notify-test-secret-0123456789")
    engine = create_engine(f"sqlite:///{tmp_path}/n.db")
    SQLModel.metadata.create_all(engine, tables=[SmsMessage.__table__])  # type: ignore[list-item]
    with Session(engine, expire_on_commit=False) as s:
        yield s
    engine.dispose()
    reset_personal_data()


def test_pdu_for_chinese_text_decodes_back() -> None:
    (pdu,) = encode_submit("13812345678", TEXT)
    assert pdu.hex.startswith("00")  # the SIM's service centre
    decoded = decode_submit(pdu.hex)
    assert (decoded.number, decoded.text, decoded.dcs, decoded.concat) == (
        "13812345678", TEXT, 0x08, None,
    )  # fmt: skip
    assert pdu.tpdu_length == len(bytes.fromhex(pdu.hex)) - 1
    # the hand-checkable start: SUBMIT+VP, MR 0, 11 digits national, swapped digits, F pad
    assert pdu.hex[2:22] == "1100" + "0B81" + "3118325476F8"[:12]


def test_gsm_sender_against_the_modem_simulator(session: Session) -> None:
    with ModemSimulator() as modem:
        settings = NotifySettings(sender="gsm", gsm=GsmModemSettings(url=modem.path, timeout_s=5))
        message = service.send_sms(session, "+8613812345678", TEXT, purpose="t", settings=settings)
        assert message.status == "sent" and message.sender == "gsm"
        assert modem.texts() == [("+8613812345678", TEXT)]
        assert "AT+CMGF=0" in modem.commands
        long_text = "长消息" * 50  # 150 characters: three concatenated parts
        GsmModemSender(settings.gsm).send("13812345678", long_text)
        parts = modem.received[1:]
        assert [p.concat[1:] for p in parts if p.concat] == [(3, 1), (3, 2), (3, 3)]
        assert modem.texts()[1] == ("13812345678", long_text)

        modem.fail_next = 1  # the network refuses once: +CMS ERROR: 500
        failed = service.send_sms(session, "13812345678", "重试", purpose="t", settings=settings)
        assert failed.status == "pending" and "+CMS ERROR: 500" in failed.last_error
        assert failed.next_attempt_at is not None
        assert service.retry_due(session, settings) == 0  # backoff not elapsed
        later = utcnow() + timedelta(seconds=settings.retry_base_s + 1)
        assert service.retry_due(session, settings, now=later) == 1
        session.refresh(failed)
        assert failed.status == "sent" and failed.attempts == 2
        assert modem.texts()[-1] == ("13812345678", "重试")


def test_gives_up_after_max_attempts_and_dedups(session: Session) -> None:
    settings = NotifySettings(
        sender="gsm", max_attempts=2, gsm=GsmModemSettings(url="/nonexistent/tty", timeout_s=1)
    )
    m = service.send_sms(session, "13812345678", "x", purpose="t", settings=settings, dedup_key="k")
    assert m.status == "pending"
    service.retry_due(session, settings, now=utcnow() + timedelta(hours=1))
    session.refresh(m)
    assert m.status == "failed" and m.attempts == 2
    again = service.send_sms(session, "1", "y", purpose="t", settings=settings, dedup_key="k")
    assert again.id == m.id
    assert len(session.exec(select(SmsMessage)).all()) == 1


def test_http_gateway_with_a_template() -> None:
    received: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, dict(self.headers), body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"code": 0}')

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = HttpGatewaySettings(
            url=f"http://127.0.0.1:{server.server_port}/sms/send",
            headers={"X-Api-Key": "k1"},
            body_template='{"mobile": $phone, "content": $text, "sign": "开平"}',
            success_text='"code": 0',
        )
        HttpGatewaySender(settings).send("13812345678", TEXT)
    finally:
        server.shutdown()
    path, headers, body = received[0]
    assert path == "/sms/send" and headers["X-Api-Key"] == "k1"
    assert json.loads(body) == {"mobile": "13812345678", "content": TEXT, "sign": "开平"}


def test_an_unexpected_error_fails_one_message_and_the_others_go_on(session: Session) -> None:
    with ModemSimulator() as modem:
        settings = NotifySettings(sender="gsm", gsm=GsmModemSettings(url=modem.path, timeout_s=5))
        # A phone without a digit cannot become a PDU address (ValueError, not a send error).
        bad = service.send_sms(session, "无号码", TEXT, purpose="t", settings=settings)
        assert (bad.status, bad.attempts, bad.next_attempt_at) == ("failed", 1, None)
        assert bad.last_error.startswith("ValueError: not a phone number")
        good = service.send_sms(session, "13812345678", TEXT, purpose="t", settings=settings)
        assert good.status == "sent"
        # Stored before the fix's time (pending, due): the retry job records it and goes on.
        stale = SmsMessage(purpose="t", phone="--", text="x", next_attempt_at=utcnow())
        later = SmsMessage(purpose="t", phone="13812345679", text="y", next_attempt_at=utcnow())
        session.add_all([stale, later])
        session.commit()
        assert service.retry_due(session, settings) == 1
        session.refresh(stale)
        assert stale.status == "failed" and "ValueError" in stale.last_error
        assert [t for _, t in modem.texts()] == [TEXT, "y"]
