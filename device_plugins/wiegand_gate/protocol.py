"""The 64-byte UDP packets of the common Wiegand access controllers (微耕 WG short packets).

Every request and reply is 64 bytes, sent to UDP port 60000 of the controller::

    offset  size  field
    0       1     type, 0x17
    1       1     function: 0x40 remote open door, 0x20 query status, ...
    2       2     reserved, 0
    4       4     controller serial number, little-endian
    8       32    data (function specific)
    40      4     sequence number, little-endian (echoed in the reply)
    44      20    extension, 0

Remote open (0x40): data[0] is the door (1..4); the reply's data[0] is 1 when the door was
released. The door stays released for the controller's own "open delay" (set on the
controller), not for a time given in the request. A controller ignores packets carrying
another serial number.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PORT = 60000
TYPE = 0x17
LENGTH = 64
DATA_LENGTH = 32
FN_QUERY_STATUS = 0x20
FN_REMOTE_OPEN = 0x40


class PacketError(ValueError):
    pass


@dataclass(frozen=True)
class Packet:
    function: int
    serial: int
    data: bytes = b""
    sequence: int = 0

    def encode(self) -> bytes:
        if len(self.data) > DATA_LENGTH:
            raise PacketError(f"data longer than {DATA_LENGTH} bytes")
        if not 0 <= self.serial <= 0xFFFFFFFF or not 0 <= self.sequence <= 0xFFFFFFFF:
            raise PacketError("serial and sequence are 32-bit")
        return (
            struct.pack("<BBHI", TYPE, self.function, 0, self.serial)
            + self.data.ljust(DATA_LENGTH, b"\0")
            + struct.pack("<I", self.sequence)
        ).ljust(LENGTH, b"\0")


def decode(raw: bytes) -> Packet:
    if len(raw) != LENGTH:
        raise PacketError(f"packet of {len(raw)} bytes, not {LENGTH}")
    kind, function, _reserved, serial = struct.unpack_from("<BBHI", raw)
    if kind != TYPE:
        raise PacketError(f"type 0x{kind:02X}, not 0x{TYPE:02X}")
    (sequence,) = struct.unpack_from("<I", raw, 40)
    return Packet(function, serial, raw[8:40], sequence)


def open_door(serial: int, door: int, sequence: int = 0) -> bytes:
    """The remote-open request for ``door`` (1..4)."""
    if not 1 <= door <= 4:
        raise PacketError(f"door {door} is not 1..4")
    return Packet(FN_REMOTE_OPEN, serial, bytes([door]), sequence).encode()


def query_status(serial: int, sequence: int = 0) -> bytes:
    return Packet(FN_QUERY_STATUS, serial, b"", sequence).encode()
