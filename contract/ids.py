"""Time-ordered unique ids (UUIDv7, RFC 9562) for events, commands and acks.

Python 3.11 has no ``uuid.uuid7``; this follows RFC 9562 section 5.7 with the optional
monotonic counter (method 1) in ``rand_a`` so that ids made in the same millisecond by one
process still sort in creation order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(now_ns: int | None = None) -> uuid.UUID:
    """Return a new UUIDv7; ids from one process are strictly increasing."""
    global _last_ms, _counter
    ms = (now_ns if now_ns is not None else time.time_ns()) // 1_000_000
    with _lock:
        if ms > _last_ms:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        rand_a = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def uuid7_time_ms(value: uuid.UUID) -> int:
    """The Unix time in milliseconds embedded in a UUIDv7."""
    return value.int >> 80
