"""The card text block of every card kind, byte by byte: offsets, the 2023 foreign card (``Y``),
and cards the parser must refuse with a clear error rather than misread."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_plugins.idcard_sam.card import (
    FOREIGN,
    FOREIGN_2023,
    FORMATS,
    HK_MO_TW,
    RESIDENT,
    TEXT_LEN,
    TYPE_OFFSET,
    CardFormatError,
    pack,
    parse_text,
)
from device_plugins.idcard_sam.simulator import (
    SAMPLES,
    foreign_2023_card,
    foreign_card,
    hk_mo_tw_card,
    id_number,
    unknown_type_card,
)

pytestmark = pytest.mark.timeout(60)


def offset_of(layout: tuple[tuple[str, int], ...], field: str) -> int:
    offset = 0
    for name, size in layout:
        if name == field:
            return offset
        offset += size
    raise KeyError(field)


@pytest.mark.parametrize("layout", [RESIDENT, HK_MO_TW, FOREIGN, FOREIGN_2023])
def test_every_layout_fills_the_block(layout: tuple[tuple[str, int], ...]) -> None:
    assert sum(size for _, size in layout) == TEXT_LEN
    assert all(size % 2 == 0 for _, size in layout)  # whole UCS-2 characters
    if layout is not RESIDENT:
        assert offset_of(layout, "card_type") == TYPE_OFFSET


def test_the_2023_card_uses_the_resident_grid() -> None:
    # The published 2023 layout keeps the resident card's offsets for the fields they share.
    for field in ("sex", "birth", "id_number", "valid_from", "valid_to"):
        assert offset_of(FOREIGN_2023, field) == offset_of(RESIDENT, field), field
    assert offset_of(FOREIGN_2023, "chinese_name") == offset_of(RESIDENT, "name") == 0
    assert offset_of(FOREIGN_2023, "english_name") == offset_of(RESIDENT, "address") == 52
    assert offset_of(FOREIGN_2023, "english_name_more") == 220
    assert offset_of(FOREIGN_2023, "nationality") == 242


def test_a_2023_card_at_the_byte_level() -> None:
    number = id_number("931840", "19800101", "001")
    block = foreign_2023_card(
        chinese_name="约翰",
        english_name="SMITH JOHN",
        number=number,
        nationality="USA",
        renewal_count="01",
        previous_number_link="X12",
    ).text
    assert block[TYPE_OFFSET : TYPE_OFFSET + 2] == "Y".encode("utf-16-le")
    assert block[122 : 122 + 36].decode("utf-16-le") == number
    assert block[0:4].decode("utf-16-le") == "约翰"
    text = parse_text(block)
    assert (text.document_type, text.edition) == ("foreign_permanent", "2023")
    assert (text.id_number, text.chinese_name, text.english_name) == (number, "约翰", "SMITH JOHN")
    assert (text.nationality, text.issue_count, text.previous_number_link) == ("USA", "01", "X12")
    assert (text.birth_date, text.valid_from, text.valid_to) == (
        date(1980, 1, 1),
        date(2024, 1, 1),
        date(2034, 1, 1),
    )
    person = text.to_person()
    assert person.name == "SMITH JOHN (约翰)" and person.english_name == "SMITH JOHN"
    assert (person.nationality, person.nation, person.sex) == ("USA", "USA", "男")
    assert (person.issue_count, person.pass_number, person.address) == ("01", "", "")


def test_a_long_english_name_is_joined_across_its_two_fields_keeping_the_space() -> None:
    # A space as the 36th character sits at the start of the second field.
    name = "A" * 35 + " " + "B" * 10
    text = parse_text(foreign_2023_card(english_name=name).text)
    assert text.english_name == name and len(name) == 46
    assert parse_text(foreign_2023_card(english_name="A" * 34 + " B").text).english_name == (
        "A" * 34 + " B"
    )
    with pytest.raises(ValueError):
        foreign_2023_card(english_name="A" * 47)  # does not fit the card


def test_a_2023_card_without_a_chinese_name_is_named_in_english() -> None:
    person = parse_text(foreign_2023_card(chinese_name="").text).to_person()
    assert person.name == "SMITH JOHN"


def test_the_2017_card_keeps_its_layout_and_gains_the_new_person_fields() -> None:
    person = parse_text(foreign_card().text).to_person()
    assert person.name == "SMITH JOHN (史密斯)" and person.english_name == "SMITH JOHN"
    assert (person.nationality, person.nation, person.authority) == ("CAN", "CAN", "1500")
    assert person.birth_date == date(1980, 1, 1) and parse_text(foreign_card().text).edition == (
        "2017"
    )


def test_the_permit_carries_pass_number_and_issue_count() -> None:
    person = parse_text(hk_mo_tw_card(pass_number="M12345678", issue_count="03").text).to_person()
    assert (person.pass_number, person.issue_count) == ("M12345678", "03")
    assert (person.english_name, person.nationality, person.nation) == ("", "", "")


@pytest.mark.parametrize(
    "field",
    ["CAN110090010101", "", "11010519900307123X", "9" * 17, "A" * 18],
    ids=["old-number", "blank", "citizen-number", "17-digits", "letters"],
)
def test_a_2023_card_whose_number_field_does_not_fit_is_refused(field: str) -> None:
    with pytest.raises(CardFormatError) as caught:
        parse_text(foreign_2023_card(number_field=field).text)
    assert caught.value.flag == "Y"
    assert "请手工登记" in caught.value.operator_text
    if field:
        assert field not in str(caught.value)  # no personal data in the message


def test_a_2023_number_with_a_wrong_check_character_is_read_for_the_rules_to_flag() -> None:
    good = id_number("931840", "19800101", "001")
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert parse_text(foreign_2023_card(number=wrong).text).id_number == wrong


@pytest.mark.parametrize("flag", ["Z", "K", "2", "中"])
def test_an_unknown_card_type_is_refused_with_a_message_for_the_operator(flag: str) -> None:
    with pytest.raises(CardFormatError) as caught:
        parse_text(unknown_type_card(flag).text)
    assert caught.value.flag == flag
    assert caught.value.operator_text == f"无法识别的证件类型（类型标识 {flag!r}），请手工登记"


def test_broken_blocks_are_refused_not_crashed_on() -> None:
    with pytest.raises(CardFormatError):
        parse_text(bytes(TEXT_LEN - 2))
    lone_surrogate = bytearray(pack(RESIDENT, {"name": "张三"}))
    lone_surrogate[0:2] = b"\x00\xd8"
    with pytest.raises(CardFormatError):
        parse_text(bytes(lone_surrogate))


@given(st.binary(min_size=TEXT_LEN, max_size=TEXT_LEN))
def test_any_block_parses_or_raises_card_format_error(block: bytes) -> None:
    try:
        text = parse_text(block)
    except CardFormatError:
        return
    assert text.document_type in {kind for kind, _, _ in FORMATS.values()}
    text.to_person()  # never a validation error


@given(st.binary(min_size=TYPE_OFFSET, max_size=TYPE_OFFSET), st.binary(min_size=6, max_size=6))
def test_random_y_blocks_never_crash(head: bytes, tail: bytes) -> None:
    block = head + "Y".encode("utf-16-le") + tail
    assert len(block) == TEXT_LEN
    try:
        parse_text(block).to_person()
    except CardFormatError as exc:
        assert exc.operator_text


def test_every_simulator_sample_is_a_known_card_or_a_clear_refusal() -> None:
    for name, make in SAMPLES.items():
        card = make()
        try:
            parse_text(card.text).to_person()
        except CardFormatError as exc:
            assert name in {"garbled2023", "unknown"}, (name, exc)
        else:
            assert name not in {"garbled2023", "unknown"}, name
