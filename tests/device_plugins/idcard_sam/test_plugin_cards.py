"""The SAM reader plugin with the 2023 foreign card and with cards that give no visitor, against
the byte-level simulator through the real plugin code (entry point, pty, local bus)."""

from __future__ import annotations

from datetime import date

import pytest

from device_plugins.idcard_sam.simulator import (
    SamSimulator,
    SimCard,
    foreign_2023_card,
    hk_mo_tw_card,
    resident_card,
    unknown_type_card,
)
from device_plugins.messages import (
    CARD_READ,
    CARD_UNREADABLE,
    CardUnreadable,
)

from ..conftest import Site, wait_until
from .conftest import polls, read_one

pytestmark = pytest.mark.timeout(60)


def unreadable(site: Site, sim: SamSimulator, card: SimCard) -> CardUnreadable:
    before = len(site.got(CARD_UNREADABLE))
    sim.present(card)
    got = wait_until(lambda: site.got(CARD_UNREADABLE)[before:], 10, "an unreadable card")
    return got[0]


def test_a_2023_foreign_card_is_read(reader: Site, sim: SamSimulator) -> None:
    person = read_one(reader, sim, foreign_2023_card(renewal_count="02")).person
    assert person.document_type == "foreign_permanent"
    assert person.id_number.startswith("911124") and len(person.id_number) == 18
    assert (person.name, person.english_name) == ("SMITH JOHN (史密斯)", "SMITH JOHN")
    assert (person.nationality, person.issue_count, person.sex) == ("CAN", "02", "男")
    assert person.birth_date == date(1980, 1, 1)
    assert reader.got(CARD_UNREADABLE) == []


def test_the_permit_pass_number_reaches_the_bus(reader: Site, sim: SamSimulator) -> None:
    person = read_one(reader, sim, hk_mo_tw_card()).person
    assert (person.pass_number, person.issue_count) == ("H60123456", "01")


@pytest.mark.parametrize(
    ("card", "flag", "text"),
    [
        (unknown_type_card("Z"), "Z", "无法识别的证件类型（类型标识 'Z'），请手工登记"),
        (
            foreign_2023_card(number_field="CAN110090010101"),
            "Y",
            "新版外国人永久居留身份证数据无法解析，请手工登记",
        ),
    ],
    ids=["unknown-flag", "garbled-2023"],
)
def test_a_card_of_an_unknown_layout_is_read_once_and_reported_once(
    reader: Site, sim: SamSimulator, card: SimCard, flag: str, text: str
) -> None:
    got = unreadable(reader, sim, card)
    assert (got.reader, got.reason, got.card_type_flag) == ("reader1", text, flag)
    polls(sim, 10)  # the card stays on the reader: the same bytes are not read again
    assert sim.reads_answered == 1
    assert len(reader.got(CARD_UNREADABLE)) == 1 and reader.got(CARD_READ) == []
    status = reader.call("reader1.status")
    assert status["failed_reads"] == 1 and "unreadable card data" in status["last_error"]
    assert reader.health("reader1").state == "ok"
    # Lifted, and a good card after it reads as usual.
    sim.remove()
    polls(sim, 3)
    assert read_one(reader, sim, resident_card()).person.name == "张三"


def test_a_card_the_sam_cannot_read_is_reported_after_the_last_attempt(
    reader: Site, sim: SamSimulator
) -> None:
    got = unreadable(reader, sim, foreign_2023_card(broken=True))
    assert got.reason == "读卡失败，请重新放卡或手工登记" and got.card_type_flag is None
    assert reader.call("reader1.status")["failed_reads"] == 3
    polls(sim, 5)
    assert len(reader.got(CARD_UNREADABLE)) == 1
