"""A GSM modem simulator on a pseudo-terminal, speaking the AT command set byte for byte.

It answers ``AT``, ``ATE0/1``, ``AT+CPIN?``, ``AT+CMGF=0/1`` and ``AT+CMGS=<n>`` with the
``> `` prompt; it reads the PDU up to Ctrl-Z (Ctrl-Esc cancels), checks its length against
``<n>``, decodes it and answers ``+CMGS: <mr>`` / ``OK``, or ``+CMS ERROR: <n>``. Tests and
demos point the GSM sender at :attr:`ModemSimulator.path`; ``fail_next`` makes the next
submits fail with ``+CMS ERROR: 500``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import tty
from dataclasses import dataclass, field

from collector.modules.notify.pdu import DecodedSubmit, decode_submit


@dataclass
class ModemSimulator:
    echo: bool = True
    pdu_mode: bool = False
    fail_next: int = 0
    received: list[DecodedSubmit] = field(default_factory=list)
    raw_pdus: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._mr = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modem-sim", daemon=True)

    def __enter__(self) -> ModemSimulator:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        os.close(self._slave)
        self._thread.join(2)
        with contextlib.suppress(OSError):
            os.close(self._master)

    def texts(self) -> list[tuple[str, str]]:
        """(number, text) per message, concatenated parts joined."""
        out: list[tuple[str, str]] = []
        pending: dict[tuple[str, int], dict[int, str]] = {}
        for message in self.received:
            if message.concat is None:
                out.append((message.number, message.text))
                continue
            ref, total, seq = message.concat
            parts = pending.setdefault((message.number, ref), {})
            parts[seq] = message.text
            if len(parts) == total:
                out.append((message.number, "".join(parts[i] for i in range(1, total + 1))))
                del pending[(message.number, ref)]
        return out

    # --- the byte loop -------------------------------------------------------------------

    def _write(self, data: str) -> None:
        os.write(self._master, data.encode("ascii"))

    def _run(self) -> None:
        buffer = b""
        pdu_length: int | None = None
        while not self._stop.is_set():
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                if pdu_length is not None:
                    end = min(
                        (i for i in (buffer.find(b"\x1a"), buffer.find(b"\x1b")) if i >= 0),
                        default=-1,
                    )
                    if end < 0:
                        break
                    body, terminator, buffer = (
                        buffer[:end],
                        buffer[end : end + 1],
                        buffer[end + 1 :],
                    )
                    if terminator == b"\x1a":
                        self._submit(body.decode("ascii", "replace").strip(), pdu_length)
                    else:
                        self._write("\r\nOK\r\n")
                    pdu_length = None
                    continue
                if b"\r" not in buffer:
                    break
                line, _, buffer = buffer.partition(b"\r")
                buffer = buffer.lstrip(b"\n")
                command = line.decode("ascii", "replace").strip()
                if not command:
                    continue
                if self.echo:
                    self._write(command + "\r")
                pdu_length = self._command(command)

    def _command(self, command: str) -> int | None:
        self.commands.append(command)
        upper = command.upper()
        if upper in ("AT", "ATZ"):
            self._write("\r\nOK\r\n")
        elif upper in ("ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            self._write("\r\nOK\r\n")
        elif upper == "AT+CPIN?":
            self._write("\r\n+CPIN: READY\r\n\r\nOK\r\n")
        elif upper in ("AT+CMGF=0", "AT+CMGF=1"):
            self.pdu_mode = upper.endswith("0")
            self._write("\r\nOK\r\n")
        elif upper.startswith("AT+CMGS="):
            if not self.pdu_mode:
                self._write("\r\n+CMS ERROR: 302\r\n")  # operation not allowed
                return None
            try:
                length = int(upper.split("=", 1)[1])
            except ValueError:
                self._write("\r\nERROR\r\n")
                return None
            self._write("\r\n> ")
            return length
        else:
            self._write("\r\nERROR\r\n")
        return None

    def _submit(self, pdu_hex: str, length: int) -> None:
        try:
            raw = bytes.fromhex(pdu_hex)
            if len(raw) - 1 - raw[0] != length:
                raise ValueError(f"length {length} given, {len(raw) - 1 - raw[0]} sent")
            decoded = decode_submit(pdu_hex)
        except (ValueError, IndexError):
            self._write("\r\n+CMS ERROR: 304\r\n")  # invalid PDU mode parameter
            return
        if self.fail_next > 0:
            self.fail_next -= 1
            self._write("\r\n+CMS ERROR: 500\r\n")
            return
        self.raw_pdus.append(pdu_hex)
        self.received.append(decoded)
        self._mr = (self._mr + 1) % 256
        self._write(f"\r\n+CMGS: {self._mr}\r\n\r\nOK\r\n")
