"""SMS senders: a GSM modem on a serial port, an HTTP gateway, and the log (development).

Each sender has ``name`` and ``send(phone, text) -> reference``; a failure raises
:class:`SmsSendError` and the service retries later with backoff.
"""

from __future__ import annotations

import json
import logging
import re
import time
from string import Template
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx
import serial

from collector.modules.notify.pdu import encode_submit
from collector.modules.notify.settings import GsmModemSettings, HttpGatewaySettings, NotifySettings
from collector.security.personal_data import mask_phone

log = logging.getLogger(__name__)


class SmsSendError(Exception):
    """The message did not leave; the reason is kept in the send log."""


class SmsSender(Protocol):
    name: str

    def send(self, phone: str, text: str) -> str: ...


class LogSender:
    """Development: writes the message to the log (phone masked) and counts it as sent."""

    name = "log"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> str:
        self.sent.append((phone, text))
        log.info("SMS to %s: %s", mask_phone(phone), text)
        return f"log-{len(self.sent)}"


class HttpGatewaySender:
    """An SMS gateway over HTTP with a configurable request template."""

    name = "http"

    def __init__(
        self, settings: HttpGatewaySettings, transport: httpx.BaseTransport | None = None
    ) -> None:
        if not settings.url:
            raise SmsSendError("notify.http.url is not configured")
        self.settings = settings
        self._transport = transport

    def _body(self, phone: str, text: str) -> tuple[str, str]:
        fmt = self.settings.body_format
        if fmt == "json":
            values = {"phone": json.dumps(phone), "text": json.dumps(text, ensure_ascii=False)}
            ctype = "application/json; charset=utf-8"
        elif fmt == "form":
            values = {"phone": quote_plus(phone), "text": quote_plus(text)}
            ctype = "application/x-www-form-urlencoded"
        else:
            values = {"phone": phone, "text": text}
            ctype = "text/plain; charset=utf-8"
        return Template(self.settings.body_template).safe_substitute(values), ctype

    def send(self, phone: str, text: str) -> str:
        s = self.settings
        body, ctype = self._body(phone, text)
        headers = {"Content-Type": ctype, **s.headers}
        url = Template(s.url).safe_substitute(phone=quote_plus(phone), text=quote_plus(text))
        try:
            with httpx.Client(timeout=s.timeout_s, transport=self._transport) as client:
                if s.method == "GET":
                    response = client.request("GET", url, headers=s.headers)
                else:
                    response = client.request(s.method, url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise SmsSendError(f"gateway unreachable: {exc}") from exc
        if response.status_code not in s.success_statuses:
            raise SmsSendError(f"gateway answered {response.status_code}: {response.text[:200]}")
        if s.success_text and s.success_text not in response.text:
            raise SmsSendError(f"gateway refused: {response.text[:200]}")
        return response.text[:100]


FINAL = re.compile(rb"^(OK|ERROR|\+CMS ERROR: ?\d+|\+CME ERROR: ?.+)$")


class ModemError(SmsSendError):
    pass


class AtChannel:
    """AT commands over one open serial port: write a command, read lines to a final result."""

    def __init__(self, port: Any, timeout_s: float) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self._buffer = b""

    def _fill(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise ModemError("modem did not answer in time")
        chunk = self.port.read(self.port.in_waiting or 1)
        self._buffer += chunk

    def _final(self, deadline: float) -> list[str]:
        lines: list[str] = []
        while True:
            while b"\n" not in self._buffer and b"\r" not in self._buffer:
                self._fill(deadline)
            line, _, rest = (
                self._buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").partition(b"\n")
            )
            self._buffer = rest
            line = line.strip()
            if not line:
                continue
            if FINAL.match(line):
                text = line.decode("ascii", "replace")
                if text != "OK":
                    raise ModemError(f"modem answered {text} ({' / '.join(lines)})")
                return lines
            lines.append(line.decode("ascii", "replace"))

    def command(self, command: str) -> list[str]:
        self._buffer = b""
        self.port.write(command.encode("ascii") + b"\r")
        lines = self._final(time.monotonic() + self.timeout_s)
        return [line for line in lines if line != command]  # an echo, if echo was on

    def submit(self, pdu_hex: str, tpdu_length: int) -> str:
        """``AT+CMGS=<n>``, wait for the ``> `` prompt, send the PDU and Ctrl-Z."""
        self._buffer = b""
        self.port.write(f"AT+CMGS={tpdu_length}\r".encode("ascii"))
        deadline = time.monotonic() + self.timeout_s
        while b">" not in self._buffer:
            if b"ERROR" in self._buffer and self._buffer.endswith((b"\r", b"\n")):
                self._final(deadline)  # raises on ERROR / +CMS ERROR
            self._fill(deadline)
        self._buffer = self._buffer.split(b">", 1)[1]
        self.port.write(pdu_hex.encode("ascii") + b"\x1a")
        lines = self._final(time.monotonic() + max(self.timeout_s, 60.0))
        for line in lines:
            if line.startswith("+CMGS:"):
                return line.split(":", 1)[1].strip()
        raise ModemError(f"no +CMGS reference in {lines}")


class GsmModemSender:
    """A GSM modem (or 4G module) answering AT commands on a serial port, in PDU mode."""

    name = "gsm"

    def __init__(self, settings: GsmModemSettings) -> None:
        self.settings = settings
        self._reference = int(time.time()) & 0xFF

    def send(self, phone: str, text: str) -> str:
        s = self.settings
        try:
            port = serial.serial_for_url(s.url, baudrate=s.baudrate, timeout=0.2)
        except (serial.SerialException, OSError) as exc:
            raise ModemError(f"cannot open {s.url}: {exc}") from exc
        try:
            at = AtChannel(port, s.timeout_s)
            at.command("AT")
            at.command("ATE0")
            if s.pin and any("SIM PIN" in line for line in at.command("AT+CPIN?")):
                at.command(f'AT+CPIN="{s.pin}"')
            at.command("AT+CMGF=0")
            self._reference = (self._reference + 1) & 0xFF
            refs = [
                at.submit(pdu.hex, pdu.tpdu_length)
                for pdu in encode_submit(phone, text, smsc=s.smsc, reference=self._reference)
            ]
            return ",".join(refs)
        except serial.SerialException as exc:
            raise ModemError(f"serial error: {exc}") from exc
        finally:
            port.close()


def make_sender(settings: NotifySettings) -> SmsSender:
    if settings.sender == "gsm":
        return GsmModemSender(settings.gsm)
    if settings.sender == "http":
        return HttpGatewaySender(settings.http)
    return LogSender()
