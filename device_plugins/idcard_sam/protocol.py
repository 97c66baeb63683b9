"""The SAM frame protocol of second-generation ID-card readers (GA 467 / SAM serial interface).

Every frame, both directions::

    AA AA AA 96 69 | LEN1 LEN2 | body ... | CHK

``LEN`` (big-endian) counts everything after itself, the checksum included; ``CHK`` is the XOR of
``LEN1 LEN2`` and the body. A command's body is ``CMD PARA [data]``; an answer's body is
``SW1 SW2 SW3 [data]`` where SW3 is the status (SW1 = SW2 = 0 in practice).

Commands used here: find card ``20 01`` (answer 0x9F, 4 data bytes; 0x80 when no card), select
card ``20 02`` (0x90 with 8 bytes; 0x81 on failure), read text and photo ``30 01`` (0x90 with
``text_len(2) photo_len(2) text photo``: 256 + 1024 bytes, a 1295-byte frame in all), and the
SAM management commands reset ``10 FF``, status ``11 FF`` and SAM id ``12 FF``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
MAX_LEN = 4096
"""Largest LEN accepted; a read with fingerprint (30 10) is 2321 bytes, so this is generous."""

FIND = (0x20, 0x01)
SELECT = (0x20, 0x02)
READ_TEXT_PHOTO = (0x30, 0x01)
READ_TEXT_PHOTO_FINGERPRINT = (0x30, 0x10)
RESET_SAM = (0x10, 0xFF)
SAM_STATUS = (0x11, 0xFF)
SAM_ID = (0x12, 0xFF)

OK = 0x90
NO_CONTENT = 0x91
CARD_FOUND = 0x9F
FIND_FAILED = 0x80
SELECT_FAILED = 0x81
READ_FAILED = 0x41

STATUS: dict[int, str] = {
    0x90: "操作成功",
    0x91: "居民身份证中此项无内容",
    0x9F: "寻找居民身份证成功",
    0x10: "接收业务终端数据的校验和错",
    0x11: "接收业务终端数据的长度错",
    0x21: "接收业务终端的命令错误(数值或逻辑搭配错误)",
    0x23: "越权操作",
    0x24: "无法识别的错误",
    0x31: "居民身份证认证SAM失败",
    0x32: "SAM认证居民身份证失败",
    0x33: "信息验证错误",
    0x40: "无法识别的卡类型",
    0x41: "读居民身份证操作失败",
    0x47: "取随机数失败",
    0x60: "SAM自检失败,不能接收命令",
    0x66: "SAM没经过授权,无效",
    0x80: "寻找居民身份证失败",
    0x81: "选取居民身份证失败",
}


def describe(status: int) -> str:
    return f"0x{status:02X} {STATUS.get(status, '未定义状态')}"


def checksum(data: bytes) -> int:
    """XOR of every byte: over LEN1 LEN2 and the body."""
    return reduce(lambda a, b: a ^ b, data, 0)


def _frame(body: bytes) -> bytes:
    if len(body) + 1 > MAX_LEN:
        raise ValueError(f"body of {len(body)} bytes is too long")
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes([checksum(length + body)])


def encode_command(cmd: int, param: int, data: bytes = b"") -> bytes:
    return _frame(bytes([cmd, param]) + data)


def encode_response(status: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    return _frame(bytes([sw1, sw2, status]) + data)


@dataclass(frozen=True, slots=True)
class Command:
    cmd: int
    param: int
    data: bytes = b""

    @property
    def code(self) -> tuple[int, int]:
        return (self.cmd, self.param)


@dataclass(frozen=True, slots=True)
class Response:
    sw1: int
    sw2: int
    status: int
    data: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status in (OK, CARD_FOUND)


def decode_command(body: bytes) -> Command:
    if len(body) < 2:
        raise ValueError("command body shorter than CMD PARA")
    return Command(body[0], body[1], bytes(body[2:]))


def decode_response(body: bytes) -> Response:
    if len(body) < 3:
        raise ValueError("answer body shorter than SW1 SW2 SW3")
    return Response(body[0], body[1], body[2], bytes(body[3:]))


@dataclass(frozen=True, slots=True)
class TextAndPhoto:
    text: bytes
    photo: bytes
    fingerprint: bytes = b""


def split_read_data(data: bytes) -> TextAndPhoto:
    """The data of a 30 01 answer (``text_len photo_len text photo``), or of a 30 10 answer,
    which adds a third length and the fingerprint block."""
    if len(data) < 4:
        raise ValueError("read answer without length fields")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    if len(data) == 4 + text_len + photo_len:
        return TextAndPhoto(data[4 : 4 + text_len], data[4 + text_len :])
    if len(data) >= 6:
        fp_len = int.from_bytes(data[4:6], "big")
        if len(data) == 6 + text_len + photo_len + fp_len:
            photo_end = 6 + text_len + photo_len
            return TextAndPhoto(
                data[6 : 6 + text_len], data[6 + text_len : photo_end], data[photo_end:]
            )
    raise ValueError(
        f"read answer of {len(data)} bytes does not match its lengths "
        f"(text {text_len}, photo {photo_len})"
    )


def encode_read_data(text: bytes, photo: bytes) -> bytes:
    return len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo


class FrameParser:
    """Incremental parser: feed it bytes as they arrive, take complete frame bodies out.

    It resynchronises on the preamble, so line noise between frames is skipped (and counted),
    and a frame whose checksum is wrong is dropped (and counted) with the search resuming one
    byte after its preamble, in case a real frame starts inside the damaged one.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.garbage_bytes = 0
        self.checksum_errors = 0
        self.length_errors = 0

    def reset(self) -> None:
        """Forget a partial frame (after a timeout, before a new command)."""
        self._buf.clear()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf.extend(data)
        bodies: list[bytes] = []
        while True:
            body = self._next()
            if body is None:
                return bodies
            bodies.append(body)

    def _next(self) -> bytes | None:
        buf = self._buf
        while True:
            start = buf.find(PREAMBLE)
            if start < 0:
                # Keep a tail that may be the beginning of a preamble split across reads.
                keep = _preamble_prefix_len(buf)
                self.garbage_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                return None
            if start:
                self.garbage_bytes += start
                del buf[:start]
            if len(buf) < 7:
                return None
            length = int.from_bytes(buf[5:7], "big")
            if not 1 <= length <= MAX_LEN:
                self.length_errors += 1
                self.garbage_bytes += 1
                del buf[:1]
                continue
            end = 7 + length
            if len(buf) < end:
                return None
            frame = bytes(buf[5:end])
            if checksum(frame[:-1]) != frame[-1]:
                self.checksum_errors += 1
                self.garbage_bytes += 1
                del buf[:1]
                continue
            del buf[:end]
            return frame[2:-1]


def _preamble_prefix_len(buf: bytearray) -> int:
    for n in range(min(len(PREAMBLE) - 1, len(buf)), 0, -1):
        if buf[-n:] == PREAMBLE[:n]:
            return n
    return 0
