"""The entrance plugin with every card kind the reader produces: the new person fields on the
wire and on the screen (masked where they identify), and cards that gave no visitor shown to
the operator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from device_plugins.entrance.plugin import EntrancePlugin
from device_plugins.idcard_sam.card import parse_text
from device_plugins.idcard_sam.simulator import (
    SimCard,
    foreign_2023_card,
    foreign_card,
    hk_mo_tw_card,
)
from device_plugins.messages import (
    CARD_READ,
    CARD_UNREADABLE,
    TEMPERATURE,
    CardRead,
    CardUnreadable,
    TemperatureReading,
)

from .fakes import FakeContext


def read(card: SimCard, reader: str = "idcard") -> CardRead:
    person = parse_text(card.text).to_person()
    return CardRead(
        reader=reader, person=person, photo=card.photo, last_byte_at=time.perf_counter()
    )


def settings(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "door": "east",
        "readers": {"idcard": "in"},
        "kiosk_enabled": False,
    }
    base.update(extra)
    return base


@pytest.fixture
def started() -> Iterator[tuple[EntrancePlugin, FakeContext]]:
    ctx = FakeContext(settings())
    plugin = EntrancePlugin(ctx)
    plugin.start()
    yield plugin, ctx
    plugin.stop()


def admit(plugin: EntrancePlugin, ctx: FakeContext, card: SimCard) -> dict[str, Any]:
    ctx.publish_local(TEMPERATURE, TemperatureReading("thermometer", 36.5, "sensor", 0.0))
    ctx.publish_local(CARD_READ, read(card))
    current = plugin.door.snapshot()["current"]
    assert current is not None
    return current


def test_a_2023_foreign_card_is_admitted_and_its_fields_travel(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    plugin, ctx = started
    view = admit(plugin, ctx, foreign_2023_card(valid_to="20990101", renewal_count="01"))
    assert view["status"] == "admitted" and view["flags"] == []
    assert view["origin"] is None and view["id_kind"] == "foreign_permanent"
    assert (view["nationality"], view["english_name"], view["issue_count"]) == (
        "CAN",
        "SMITH JOHN",
        "01",
    )
    assert view["pass_masked"] == ""
    (passage,) = ctx.passages()
    assert passage.person.english_name == "SMITH JOHN" and passage.person.nationality == "CAN"
    wire = passage.model_dump(mode="json")["person"]
    assert (wire["nationality"], wire["issue_count"]) == ("CAN", "01")


def test_a_2017_foreign_card_is_not_flagged_for_its_number(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    plugin, ctx = started
    view = admit(plugin, ctx, foreign_card(valid_to="20990101"))
    assert view["status"] == "admitted" and view["flags"] == []
    assert view["id_kind"] == "foreign_permanent_old"
    assert view["birth_date"] == "1980-01-01"  # from the card, not from the number


def test_the_permit_pass_number_is_masked_on_the_screen(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    plugin, ctx = started
    view = admit(plugin, ctx, hk_mo_tw_card(valid_to="20990101", pass_number="H60123456"))
    assert view["pass_masked"] == "H60**3456" and view["issue_count"] == "01"
    assert "H60123456" not in str(plugin.door.snapshot())
    (passage,) = ctx.passages()
    assert passage.person.pass_number == "H60123456"  # in clear on the (TLS) wire only


def test_an_unreadable_card_is_shown_until_the_next_visitor(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    plugin, ctx = started
    ctx.publish_local(
        CARD_UNREADABLE,
        CardUnreadable("idcard", "无法识别的证件类型（类型标识 'Z'），请手工登记", "flag 'Z'", "Z"),
    )
    notice = plugin.door.snapshot()["notice"]
    assert notice is not None and notice["reader"] == "idcard"
    assert notice["text"] == "无法识别的证件类型（类型标识 'Z'），请手工登记"
    assert ctx.passages() == []  # nothing is recorded for it
    admit(plugin, ctx, foreign_2023_card(valid_to="20990101"))
    assert plugin.door.snapshot()["notice"] is None


def test_an_unreadable_card_on_another_doors_reader_is_ignored(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    plugin, ctx = started
    ctx.publish_local(CARD_UNREADABLE, CardUnreadable("other_reader", "读卡失败"))
    assert plugin.door.snapshot()["notice"] is None
