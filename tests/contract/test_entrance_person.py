"""``Person`` of ``entrance.passage``: the fields added for foreign cards and HK/Macau/Taiwan
permits are optional both ways (older agents, older collectors)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contract.payloads.entrance import Passage, Person
from contract.registry import registry

NEW_FIELDS = ("english_name", "nationality", "pass_number", "issue_count")


def passage(**person: Any) -> dict[str, Any]:
    return {
        "passage_id": "0190b1c2-0000-7000-8000-000000000001",
        "direction": "in",
        "door": "east",
        "at": "2026-06-01T09:30:00+08:00",
        "person": {
            "document_type": "foreign_permanent",
            "name": "X",
            "id_number": "CAN1",
            **person,
        },
        "decision": "admitted",
        "decided_by": "rules",
    }


def test_a_passage_from_an_older_agent_validates_with_the_new_fields_empty() -> None:
    registry.validate("entrance.passage", 1, passage())
    person = Passage.model_validate(passage()).person
    assert all(getattr(person, f) == "" for f in NEW_FIELDS)


def test_the_new_fields_travel_and_are_bounded() -> None:
    values = {
        "english_name": "SMITH JOHN",
        "nationality": "CAN",
        "pass_number": "H60123456",
        "issue_count": "01",
    }
    registry.validate("entrance.passage", 1, passage(**values))
    person = Passage.model_validate(passage(**values)).person
    assert {f: getattr(person, f) for f in NEW_FIELDS} == values
    with pytest.raises(ValidationError):
        Person(document_type="hk_mo_tw", name="X", id_number="1", pass_number="H" * 21)
    with pytest.raises(ValidationError):
        Person(document_type="foreign_permanent", name="X", id_number="1", issue_count="12345")


def test_fields_a_receiver_does_not_know_are_ignored_not_refused() -> None:
    # What an older collector does with a newer agent's person: Person ignores unknown fields.
    person = Passage.model_validate(passage(some_future_field="x")).person
    assert not hasattr(person, "some_future_field")
