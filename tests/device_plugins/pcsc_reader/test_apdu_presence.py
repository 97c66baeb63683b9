"""GET DATA answers and one read per presentation, without a reader."""

from __future__ import annotations

import pytest

from device_plugins.pcsc_reader.apdu import GET_UID, UidError, parse_uid_response
from device_plugins.pcsc_reader.presence import Presence
from device_plugins.pcsc_reader.simulator import VirtualCard


def test_get_uid_is_pcsc_part3_get_data() -> None:
    assert bytes(GET_UID) == bytes.fromhex("FFCA000000")


def test_uid_answer_parsed() -> None:
    assert parse_uid_response(bytes.fromhex("04a1b2c3d4e5f69000")) == "04A1B2C3D4E5F6"
    assert parse_uid_response([0xDE, 0xAD, 0xBE, 0xEF, 0x90, 0x00]) == "DEADBEEF"


@pytest.mark.parametrize("answer", ["6a81", "6282", "9000", "01029000", "90"])
def test_error_answers_refused(answer: str) -> None:
    with pytest.raises(UidError):
        parse_uid_response(bytes.fromhex(answer))


def test_virtual_card_answers_like_a_reader() -> None:
    card = VirtualCard("04A1B2C3")
    assert card.answer(bytes.fromhex("FFCA000000")) == bytes.fromhex("04A1B2C39000")
    assert card.answer(bytes.fromhex("FFCA000002")) == bytes.fromhex("04A19000")
    assert card.answer(bytes.fromhex("00A4040000")) == bytes.fromhex("6D00")
    assert VirtualCard(None).answer(bytes.fromhex("FFCA000000")) == bytes.fromhex("6A81")


def test_one_read_per_presentation_and_debounce() -> None:
    p = Presence(debounce_s=1.0)
    assert p.card_present("r", True, 0.0)
    assert p.report("r", "AA", 0.0)
    assert not p.card_present("r", True, 0.1)  # still on the reader
    assert not p.card_present("r", False, 0.5)  # lifted
    assert p.card_present("r", True, 0.8)  # back: read again ...
    assert not p.report("r", "AA", 0.8)  # ... but the same card within 1 s: same presentation
    p.card_present("r", False, 1.0)
    assert p.card_present("r", True, 1.2)
    assert p.report("r", "BB", 1.2)  # another card at once is new
    p.card_present("r", False, 2.0)
    p.card_present("r", True, 3.5)
    assert p.report("r", "BB", 3.5)  # the same card after the debounce is new
    assert p.holding() == ["r"]
    p.forget("r")
    assert p.holding() == []
