"""Foreign permanent residence cards (2017 ``I`` and 2023 ``Y``) and HK/Macau/Taiwan permits at
the door: read from the card bytes, decided by the rules, never flagged for being foreign."""

from __future__ import annotations

from datetime import datetime

import pytest

from contract.idnumber import check_character
from contract.payloads.entrance import EntranceRules, Person, WatchedPerson, WatchedRegion
from contract.payloads.entrance import person_hash as hash_of
from device_plugins.entrance.rules import evaluate
from device_plugins.idcard_sam.card import parse_text
from device_plugins.idcard_sam.simulator import foreign_2023_card, foreign_card, hk_mo_tw_card

NOW = datetime(2026, 6, 1, 9, 30).astimezone()
KEY = "00112233445566778899aabbccddeeff"

# Every province code, plus 91 and 93, which the 2023 numbers below start with ("9" + the first
# digit of the accepting province): none may match, the number has no division code.
PROVINCE_CODES = (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55))
PROVINCES = [str(n) for n in (*PROVINCE_CODES, *range(61, 66), 71, 81, 82, 91, 93)]
EVERY_PROVINCE = [WatchedRegion(prefix=p, level=1) for p in PROVINCES]


def card_person(card_text: bytes) -> Person:
    return parse_text(card_text).to_person()


def foreign_2023(province: str = "31", nationality: str = "840") -> str:
    body = f"9{province}{nationality}19800101001"
    return body + check_character(body)


@pytest.mark.parametrize(
    "person",
    [
        card_person(foreign_card().text),
        card_person(foreign_card(number="USA310801010110", nationality="USA").text),
        card_person(foreign_2023_card().text),
        card_person(foreign_2023_card(province="42", nationality_numeric="392").text),
    ],
    ids=["2017-default", "2017-usa", "2023-default", "2023-hubei-accepted"],
)
def test_a_valid_foreign_card_is_admitted_without_flags_even_with_every_region_watched(
    person: Person,
) -> None:
    assert person.document_type == "foreign_permanent"
    rules = EntranceRules(
        watched_regions=EVERY_PROVINCE, region_class1_action="block", region_class2_action="block"
    )
    v = evaluate(person, 36.5, rules, NOW)
    assert v.flags == [] and v.outcome == "admitted"
    assert v.origin is None  # no GB/T 2260 division: nothing to resolve, nothing to match


def test_a_2023_foreign_number_with_a_wrong_check_character_is_flagged_not_refused() -> None:
    good = foreign_2023()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    v = evaluate(card_person(foreign_2023_card(number=bad).text), 36.5, EntranceRules(), NOW)
    assert [f.code for f in v.flags] == ["id_invalid"] and v.outcome == "operator"
    assert v.flags[0].reason == "证件号码有误：校验码错误"


def test_an_expired_foreign_card_still_needs_the_operator() -> None:
    person = card_person(foreign_2023_card(valid_to="20260501").text)
    v = evaluate(person, 36.5, EntranceRules(), NOW)
    assert [f.code for f in v.flags] == ["card_expired"] and v.outcome == "operator"


def test_a_foreign_card_holder_on_the_watch_list_is_found_by_the_card_number() -> None:
    person = card_person(foreign_2023_card().text)
    entry = WatchedPerson(hash=hash_of(bytes.fromhex(KEY), person.id_number), action="block")
    rules = EntranceRules(watchlist_key=KEY, watchlist=[entry])
    v = evaluate(person, 36.5, rules, NOW)
    assert [f.code for f in v.flags] == ["watchlist"] and v.outcome == "refused"


def test_hk_mo_tw_permits_still_resolve_and_match_their_region() -> None:
    person = card_person(hk_mo_tw_card(valid_to="20300301").text)
    assert person.pass_number == "H60123456" and person.issue_count == "01"
    rules = EntranceRules(watched_regions=[WatchedRegion(prefix="81", level=2)])
    v = evaluate(person, 36.5, rules, NOW)
    assert v.origin is not None and v.origin.code == "810000"
    assert [f.code for f in v.flags] == ["region_class2"]
