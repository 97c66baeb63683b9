"""The serial protocol of the GY-MCU90614 / GY-MCU90615 infrared temperature modules.

These widespread modules put an MLX90614 (or MLX90615) behind a small MCU with a UART
(9600 8N1 by default, 115200 selectable). The host sends three-byte commands:

* ``A5 15 BA``: query, the module answers one frame;
* ``A5 45 EA``: continuous output (about every 100 ms), until power-off.

Every answer is a 9-byte frame ``5A 5A 45 04 TO_H TO_L TA_H TA_L SUM``: TO is the object
(forehead) temperature and TA the ambient one, big-endian signed, in 0.01 °C; SUM is the low
byte of the sum of the 8 bytes before it.
"""

from __future__ import annotations

from dataclasses import dataclass

QUERY = b"\xa5\x15\xba"
CONTINUOUS = b"\xa5\x45\xea"
HEADER = b"\x5a\x5a\x45\x04"
FRAME_LEN = 9


@dataclass(frozen=True, slots=True)
class Reading:
    object_c: float
    ambient_c: float


def encode_frame(object_c: float, ambient_c: float) -> bytes:
    body = (
        HEADER
        + round(object_c * 100).to_bytes(2, "big", signed=True)
        + round(ambient_c * 100).to_bytes(2, "big", signed=True)
    )
    return body + bytes([sum(body) & 0xFF])


class FrameParser:
    """Finds frames in the byte stream; skips noise and frames with a wrong sum."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_frames = 0

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Reading]:
        self._buf += data
        found: list[Reading] = []
        while True:
            start = self._buf.find(HEADER)
            if start < 0:
                del self._buf[: max(0, len(self._buf) - (len(HEADER) - 1))]
                return found
            del self._buf[:start]
            if len(self._buf) < FRAME_LEN:
                return found
            frame = bytes(self._buf[:FRAME_LEN])
            if sum(frame[:-1]) & 0xFF != frame[-1]:
                self.bad_frames += 1
                del self._buf[:1]
                continue
            del self._buf[:FRAME_LEN]
            found.append(
                Reading(
                    int.from_bytes(frame[4:6], "big", signed=True) / 100,
                    int.from_bytes(frame[6:8], "big", signed=True) / 100,
                )
            )
