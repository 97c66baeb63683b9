"""The demo's visitors carry every document the readers know, and now and then one they
don't; each is read by the reader's own parser into the right document type."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from contract.idnumber import parse_id_number
from device_plugins.idcard_sam.card import CardFormatError, parse_text
from device_plugins.sim.entrance import random_card


def test_the_demo_visitors_mix_documents() -> None:
    rng = random.Random(7)
    kinds: Counter[str] = Counter()
    for _ in range(1200):
        card = random_card(rng)
        try:
            person = parse_text(card.text).to_person()
        except CardFormatError as exc:
            assert exc.flag == "Z"
            kinds["unreadable"] += 1
            continue
        kinds[person.document_type] += 1
        number = parse_id_number(person.id_number)  # what the entrance rules check
        assert number.valid and number.document_type == person.document_type, number
    assert set(kinds) == {"resident", "foreign_permanent", "hk_mo_tw", "unreadable"}
    assert kinds["resident"] > 0.8 * 1200
    assert kinds["unreadable"] == pytest.approx(1200 / 60, rel=0.6)
