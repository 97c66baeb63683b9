"""PC/SC part 3 GET DATA: the UID of the contactless card on the reader.

``FF CA 00 00 00`` asks the reader (not the card) for the card's UID; the answer is the UID
followed by the status word ``90 00``. ``62 82`` (UID shorter than Le), ``6C xx`` (wrong
length) and ``6A 81`` (not supported) are errors.
"""

from __future__ import annotations

GET_UID: list[int] = [0xFF, 0xCA, 0x00, 0x00, 0x00]
SW_OK = (0x90, 0x00)


class UidError(ValueError):
    """The reader answered GET DATA with an error status (or nothing usable)."""

    def __init__(self, message: str, sw: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.sw = sw


def parse_uid_response(response: bytes | list[int]) -> str:
    """The UID as upper-case hex from a GET DATA response (data + SW1 SW2)."""
    data = bytes(response)
    if len(data) < 2:
        raise UidError(f"short answer {data.hex()!r}")
    sw = (data[-2], data[-1])
    if sw != SW_OK:
        raise UidError(f"reader answered SW {sw[0]:02X} {sw[1]:02X}", sw)
    uid = data[:-2]
    if not 4 <= len(uid) <= 10:  # ISO 14443: 4, 7 or 10 bytes; FeliCa IDm 8
        raise UidError(f"implausible UID length {len(uid)}")
    return uid.hex().upper()
