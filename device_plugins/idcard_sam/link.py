"""One SAM reader on one serial port: command out, answer in, with a deadline.

The link owns the port (one owner per serial line). Every transaction starts from a clean
slate: input that arrived since the last one (a late answer, line noise) is flushed, so that an
answer is never taken for the next command's.
"""

from __future__ import annotations

import termios
import threading
import time

import serial

from device_plugins.idcard_sam import protocol as p

PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
"""What a vanished or broken port raises (termios.error is not an OSError)."""


class ReaderTimeout(Exception):
    """No complete, valid answer in time (silent reader, card pulled, corrupt frame)."""


class SamLink:
    def __init__(self, url: str, *, baudrate: int = 115200) -> None:
        self.url = url
        self.baudrate = baudrate
        self.parser = p.FrameParser()
        self._serial: serial.SerialBase | None = None

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        self.close()
        # 8N1 as every SAM module ships; a short read timeout so the loop sees its deadline.
        self._serial = serial.serial_for_url(
            self.url,
            baudrate=self.baudrate,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=0.02,
            write_timeout=1.0,
        )

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except PORT_ERRORS:  # closing a port that is already gone
                return

    def transact(
        self,
        code: tuple[int, int],
        *,
        timeout_s: float,
        stop: threading.Event | None = None,
        data: bytes = b"",
    ) -> tuple[p.Response, float]:
        """Send one command; return its answer and ``perf_counter()`` at its last byte."""
        port = self._serial
        if port is None:
            raise serial.SerialException("port is not open")
        port.reset_input_buffer()
        self.parser.reset()
        port.write(p.encode_command(code[0], code[1], data))
        deadline = time.monotonic() + timeout_s
        while True:
            chunk = port.read(max(1, port.in_waiting))
            if chunk:
                bodies = self.parser.feed(chunk)
                if bodies:
                    last_byte_at = time.perf_counter()
                    return p.decode_response(bodies[-1]), last_byte_at
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                raise ReaderTimeout(f"no answer to {code[0]:02X} {code[1]:02X} in {timeout_s} s")
