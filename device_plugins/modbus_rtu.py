"""Modbus RTU at the byte level: CRC-16 and a slave simulator on a pseudo-terminal.

The simulator answers functions 01/02 (coils, discrete inputs), 03/04 (holding, input
registers), 05/06 (write one coil/register) and 0F/10 (write several), so that pymodbus' real
client code runs against it. It records every coil and register write with a monotonic
timestamp, so a test can assert that a relay really switched, and in which order.

On a pty there is no 3.5-character silence to delimit frames, so requests are delimited by
their function's length (all request formats are self-describing); a frame with a bad CRC
is dropped one byte at a time until a good one lines up, as a slave resynchronises.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from device_plugins.ptysim import PtyDevice

ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(frame: bytes) -> bytes:
    return frame + crc16(frame).to_bytes(2, "little")


def request_length(buf: bytes | bytearray) -> int | None:
    """Length of the request at the start of ``buf``; None while too short to tell, 0 for a
    function this slave does not know (the byte is dropped)."""
    if len(buf) < 2:
        return None
    function = buf[1]
    if function in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06):
        return 8
    if function in (0x0F, 0x10):
        return None if len(buf) < 7 else 9 + buf[6]
    return 0


@dataclass(frozen=True)
class Write:
    table: str  # "coil" or "holding"
    address: int
    value: int
    at: float  # time.monotonic()


class RtuSlaveSimulator(PtyDevice):
    def __init__(self, link: str | Path | None = None, *, slave: int = 1) -> None:
        super().__init__(link)
        self.slave = slave
        self.coils: dict[int, bool] = {}
        self.discrete: dict[int, bool] = {}
        self.holding: dict[int, int] = {}
        self.input: dict[int, int] = {}
        self.size = 1024  # addresses 0..size-1 exist
        self.silent = False
        self.writes: list[Write] = []
        self.requests = 0
        self.crc_errors = 0
        self._buf = bytearray()
        self._lock = threading.Lock()

    def coil_switches(self, address: int) -> list[bool]:
        """The values written to one coil, in order."""
        return [bool(w.value) for w in self.writes if w.table == "coil" and w.address == address]

    def on_bytes(self, data: bytes) -> None:
        self._buf += data
        while True:
            length = request_length(self._buf)
            if length is None or len(self._buf) < length:
                return
            if length == 0:
                del self._buf[:1]
                continue
            frame = bytes(self._buf[:length])
            if crc16(frame[:-2]).to_bytes(2, "little") != frame[-2:]:
                self.crc_errors += 1
                del self._buf[:1]
                continue
            del self._buf[:length]
            self.requests += 1
            answer = self._handle(frame[:-2])
            if answer is not None and not self.silent:
                self.port.write(with_crc(answer))

    def _handle(self, pdu: bytes) -> bytes | None:
        unit, function = pdu[0], pdu[1]
        if unit != self.slave:
            return None  # another slave on the bus
        start = int.from_bytes(pdu[2:4], "big")
        head = bytes([unit, function])
        with self._lock:
            if function in (0x01, 0x02, 0x03, 0x04):
                count = int.from_bytes(pdu[4:6], "big")
                if not 1 <= count <= 125 or start + count > self.size:
                    return bytes([unit, function | 0x80, ILLEGAL_ADDRESS])
                if function in (0x01, 0x02):
                    table = self.coils if function == 0x01 else self.discrete
                    bits = [table.get(start + i, False) for i in range(count)]
                    packed = bytes(
                        sum(1 << j for j, bit in enumerate(bits[i : i + 8]) if bit)
                        for i in range(0, count, 8)
                    )
                    return head + bytes([len(packed)]) + packed
                regs = self.holding if function == 0x03 else self.input
                values = b"".join(
                    (regs.get(start + i, 0) & 0xFFFF).to_bytes(2, "big") for i in range(count)
                )
                return head + bytes([len(values)]) + values
            if start >= self.size:
                return bytes([unit, function | 0x80, ILLEGAL_ADDRESS])
            now = time.monotonic()
            if function == 0x05:
                on = pdu[4:6] == b"\xff\x00"
                self.coils[start] = on
                self.writes.append(Write("coil", start, int(on), now))
                return pdu
            if function == 0x06:
                value = int.from_bytes(pdu[4:6], "big")
                self.holding[start] = value
                self.writes.append(Write("holding", start, value, now))
                return pdu
            quantity = int.from_bytes(pdu[4:6], "big")
            data = pdu[7:]
            if function == 0x0F:
                for i in range(quantity):
                    bit = bool(data[i // 8] >> (i % 8) & 1)
                    self.coils[start + i] = bit
                    self.writes.append(Write("coil", start + i, int(bit), now))
            else:
                for i in range(quantity):
                    value = int.from_bytes(data[2 * i : 2 * i + 2], "big")
                    self.holding[start + i] = value
                    self.writes.append(Write("holding", start + i, value, now))
            return pdu[:6]
