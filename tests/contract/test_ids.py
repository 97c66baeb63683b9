"""UUIDv7: version and variant bits, embedded time, strict order within one process."""

from __future__ import annotations

import time
import uuid

from contract.ids import uuid7, uuid7_time_ms


def test_version_and_variant_bits():
    for _ in range(1000):
        value = uuid7()
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert (value.int >> 76) & 0xF == 0x7
        assert (value.int >> 62) & 0b11 == 0b10


def test_embedded_time_is_now():
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    # A burst before this test may have borrowed a few milliseconds ahead.
    assert before <= uuid7_time_ms(value) <= after + 50


def test_monotonic_in_a_tight_loop():
    ids = [uuid7() for _ in range(20000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    as_text = [str(i) for i in ids]
    assert as_text == sorted(as_text), "the text form must sort like the ids"


def test_monotonic_when_the_clock_goes_back_or_stands_still():
    first = uuid7()
    # A clock in the past, and the same millisecond for longer than the 12-bit counter lasts.
    ids = [uuid7(now_ns=0) for _ in range(5000)]
    assert first < ids[0]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert uuid7() > ids[-1]
    for value in ids:
        assert value.version == 7
