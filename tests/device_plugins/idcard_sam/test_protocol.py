"""SAM frames and the card text block, byte by byte: known frames, property tests."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_plugins.idcard_sam import protocol as p
from device_plugins.idcard_sam.card import (
    FOREIGN,
    TEXT_LEN,
    CardFormatError,
    pack,
    parse_text,
)
from device_plugins.idcard_sam.simulator import hk_mo_tw_card, id_number, resident_card

pytestmark = pytest.mark.timeout(60)


def test_known_frames() -> None:
    # The find command and its two answers as reader manuals print them.
    assert p.encode_command(*p.FIND).hex(" ") == "aa aa aa 96 69 00 03 20 01 22"
    assert p.encode_response(p.FIND_FAILED).hex(" ") == "aa aa aa 96 69 00 04 00 00 80 84"
    found = p.encode_response(p.CARD_FOUND, bytes(4))
    assert found.hex(" ") == "aa aa aa 96 69 00 08 00 00 9f 00 00 00 00 97"
    read = p.encode_response(p.OK, p.encode_read_data(bytes(256), bytes(1024)))
    assert len(read) == 1295 and read[5:7] == b"\x05\x08"


def test_read_data_split() -> None:
    block = p.split_read_data(p.encode_read_data(b"t" * 256, b"p" * 1024))
    assert (block.text, block.photo, block.fingerprint) == (b"t" * 256, b"p" * 1024, b"")
    with_fp = (256).to_bytes(2, "big") + (1024).to_bytes(2, "big") + (1024).to_bytes(2, "big")
    block = p.split_read_data(with_fp + b"t" * 256 + b"p" * 1024 + b"f" * 1024)
    assert block.fingerprint == b"f" * 1024
    with pytest.raises(ValueError):
        p.split_read_data(b"\x01\x00\x04\x00" + bytes(10))


commands = st.builds(
    p.Command,
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=300),
)
no_preamble = st.binary(max_size=40).filter(lambda b: p.PREAMBLE not in b)


@given(commands)
def test_command_round_trip(command: p.Command) -> None:
    frames = p.FrameParser().feed(p.encode_command(command.cmd, command.param, command.data))
    assert [p.decode_command(body) for body in frames] == [command]


@given(st.integers(0, 255), st.binary(max_size=2000), st.integers(0, 255), st.integers(0, 255))
def test_response_round_trip(status: int, data: bytes, sw1: int, sw2: int) -> None:
    frames = p.FrameParser().feed(p.encode_response(status, data, sw1, sw2))
    assert [p.decode_response(body) for body in frames] == [p.Response(sw1, sw2, status, data)]


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            no_preamble,
            st.binary(max_size=200).filter(lambda b: p.PREAMBLE not in b),
            st.booleans(),
        ),
        max_size=6,
    ),
    no_preamble,
    st.lists(st.integers(1, 64), min_size=1, max_size=20),
)
def test_parser_resynchronises_on_garbage_and_drops_bad_checksums(
    items: list[tuple[bytes, bytes, bool]], tail: bytes, chunk_sizes: list[int]
) -> None:
    stream = bytearray()
    expected: list[bytes] = []
    for garbage, data, corrupt in items:
        frame = p.encode_response(p.OK, data)
        if corrupt:
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        else:
            expected.append(bytes([0, 0, p.OK]) + data)
        stream += garbage + frame
    stream += tail
    parser = p.FrameParser()
    got: list[bytes] = []
    pos, i = 0, 0
    while pos < len(stream):  # arbitrary read boundaries, as a serial port delivers
        size = chunk_sizes[i % len(chunk_sizes)]
        got += parser.feed(bytes(stream[pos : pos + size]))
        pos, i = pos + size, i + 1
    assert got == expected
    assert parser.checksum_errors == sum(1 for *_, corrupt in items if corrupt)


@given(
    st.text(
        alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs", "Zs", "Cc")),
        min_size=1,
        max_size=15,
    )
)
def test_resident_text_round_trip(name: str) -> None:
    name = name.strip()
    card = resident_card(name=name or "无")
    assert parse_text(card.text).name == (name or "无")


def test_card_text_fields() -> None:
    text = parse_text(hk_mo_tw_card().text)
    assert (text.pass_number, text.issue_count) == ("H60123456", "01")
    assert text.birth_date == date(1985, 5, 12)
    with pytest.raises(CardFormatError):
        parse_text(bytes(100))
    y_card = bytearray(pack(FOREIGN, {"english_name": "X", "card_type": "Y"}))
    with pytest.raises(CardFormatError, match="'Y'"):
        parse_text(bytes(y_card))
    assert len(y_card) == TEXT_LEN
    with pytest.raises(ValueError):
        pack(FOREIGN, {"english_name": "X" * 61})


def test_id_number_check_character() -> None:
    # GB 11643's worked example.
    assert id_number("110105", "19491231", "002") == "11010519491231002X"
