"""Envelopes reject what they do not know; receipts and sequence ranges are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from contract import (
    AckEnvelope,
    AckStatus,
    CommandEnvelope,
    ConfigEnvelope,
    EventEnvelope,
    Receipt,
    StatusMessage,
    registry,
    uuid7,
)
from contract.envelopes import seq_ranges
from contract.registry import UnknownEventType

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _samples() -> dict[type[BaseModel], dict[str, Any]]:
    return {
        EventEnvelope: {
            "id": str(uuid7()),
            "centre": "c1",
            "device": "d1",
            "type": "sim.reading",
            "ts": NOW.isoformat(),
            "seq": 1,
            "payload": {"sensor": "t", "value": 1.5, "n": 0},
        },
        CommandEnvelope: {
            "id": str(uuid7()),
            "centre": "c1",
            "device": "d1",
            "action": "sim.set_rate",
            "args": {"rate": 2},
            "issued_at": NOW.isoformat(),
            "expires_at": (NOW + timedelta(seconds=30)).isoformat(),
        },
        AckEnvelope: {
            "id": str(uuid7()),
            "command_id": str(uuid7()),
            "centre": "c1",
            "device": "d1",
            "seq": 7,
            "status": "succeeded",
            "ts": NOW.isoformat(),
        },
        StatusMessage: {"state": "online", "boot": 3, "session": 1, "ts": NOW.isoformat()},
        ConfigEnvelope: {"version": 4, "issued_at": NOW.isoformat(), "config": {"sim1": {}}},
        Receipt: {"ranges": [[1, 5], [7, 7]], "collector_time": NOW.isoformat()},
    }


SAMPLES = _samples()
TIME_FIELDS = {
    EventEnvelope: ["ts"],
    CommandEnvelope: ["issued_at", "expires_at"],
    AckEnvelope: ["ts"],
    StatusMessage: ["ts"],
    ConfigEnvelope: ["issued_at"],
    Receipt: ["collector_time"],
}


@pytest.mark.parametrize("model", list(SAMPLES), ids=lambda m: m.__name__)
def test_sample_round_trips_through_json(model: type[BaseModel]):
    obj = model.model_validate(SAMPLES[model])
    assert model.model_validate_json(obj.model_dump_json()) == obj


@pytest.mark.parametrize("model", list(SAMPLES), ids=lambda m: m.__name__)
def test_unknown_fields_are_rejected(model: type[BaseModel]):
    data = {**SAMPLES[model], "surprise": 1}
    with pytest.raises(ValidationError, match="surprise"):
        model.model_validate(data)


@pytest.mark.parametrize(
    ("model", "field"),
    [(m, f) for m, fields in TIME_FIELDS.items() for f in fields],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_naive_datetimes_are_rejected(model: type[BaseModel], field: str):
    data = dict(SAMPLES[model])
    data[field] = datetime.fromisoformat(data[field]).replace(tzinfo=None).isoformat()
    with pytest.raises(ValidationError):
        model.model_validate(data)
    data[field] = datetime.fromisoformat(SAMPLES[model][field]).replace(tzinfo=None)
    with pytest.raises(ValidationError):
        model.model_validate(data)


def test_time_fields_cover_every_envelope():
    assert set(TIME_FIELDS) == set(SAMPLES)


@pytest.mark.parametrize("model", list(SAMPLES), ids=lambda m: m.__name__)
def test_envelopes_are_frozen(model: type[BaseModel]):
    obj = model.model_validate(SAMPLES[model])
    field = next(iter(model.model_fields))
    with pytest.raises(ValidationError):
        setattr(obj, field, getattr(obj, field))


@pytest.mark.parametrize(
    ("field", "value"),
    [("centre", "a/b"), ("device", "+"), ("device", ""), ("type", "Sim.Reading"), ("seq", 0)],
)
def test_event_envelope_rejects_bad_values(field: str, value: Any):
    with pytest.raises(ValidationError):
        EventEnvelope.model_validate({**SAMPLES[EventEnvelope], field: value})


def test_command_expiry_must_follow_issue():
    data = {**SAMPLES[CommandEnvelope], "expires_at": NOW.isoformat()}
    with pytest.raises(ValidationError, match="expires_at"):
        CommandEnvelope.model_validate(data)


def test_command_action_needs_a_target():
    with pytest.raises(ValidationError):
        CommandEnvelope.model_validate({**SAMPLES[CommandEnvelope], "action": "reboot"})


def test_ack_progress_bounds():
    with pytest.raises(ValidationError):
        AckEnvelope.model_validate({**SAMPLES[AckEnvelope], "progress": 1.5})
    ack = AckEnvelope.model_validate(
        {**SAMPLES[AckEnvelope], "status": "progress", "progress": 0.5}
    )
    assert not ack.status.final


def test_final_ack_states():
    assert {s for s in AckStatus if not s.final} == {
        AckStatus.RECEIVED,
        AckStatus.ACCEPTED,
        AckStatus.PROGRESS,
    }


def test_status_epoch_orders_connections():
    old = StatusMessage.model_validate({**SAMPLES[StatusMessage], "boot": 3, "session": 9})
    new = StatusMessage.model_validate({**SAMPLES[StatusMessage], "boot": 4, "session": 0})
    assert old.epoch < new.epoch


@pytest.mark.parametrize("ranges", [[[0, 3]], [[5, 4]], [[-1, -1]], [[1, 2], [4, 3]]])
def test_receipt_rejects_invalid_ranges(ranges: list[list[int]]):
    with pytest.raises(ValidationError, match="invalid range"):
        Receipt.model_validate({**SAMPLES[Receipt], "ranges": ranges})


@pytest.mark.parametrize("ranges", [[[1]], [[1, 2, 3]], [["a", 2]]])
def test_receipt_rejects_malformed_ranges(ranges: list[list[Any]]):
    with pytest.raises(ValidationError):
        Receipt.model_validate({**SAMPLES[Receipt], "ranges": ranges})


def test_receipt_accepts_single_and_empty():
    assert Receipt.model_validate({**SAMPLES[Receipt], "ranges": [[3, 3]]}).ranges == [(3, 3)]
    assert Receipt.model_validate({**SAMPLES[Receipt], "ranges": []}).ranges == []


def test_seq_ranges_examples():
    assert seq_ranges([]) == []
    assert seq_ranges([5]) == [(5, 5)]
    assert seq_ranges([3, 1, 2, 2, 7, 9, 8, 11]) == [(1, 3), (7, 9), (11, 11)]
    assert seq_ranges({4, 5, 6}) == [(4, 6)]


@given(st.sets(st.integers(min_value=1, max_value=10_000), max_size=300))
def test_seq_ranges_cover_exactly_the_input(seqs: set[int]):
    ranges = seq_ranges(list(seqs))
    covered = {s for first, last in ranges for s in range(first, last + 1)}
    assert covered == seqs
    for (_, last), (first, _) in pairwise(ranges):
        assert first > last + 1, "ranges are sorted, disjoint and not adjacent"
    Receipt(ranges=ranges, collector_time=NOW)  # always a valid receipt


def test_registry_validates_payloads():
    payload = registry.validate("sim.reading", 1, {"sensor": "t", "value": 1.0, "n": 1})
    assert payload.model_dump()["sensor"] == "t"
    with pytest.raises(ValidationError):
        registry.validate("sim.reading", 1, {"sensor": "t", "value": 1.0, "n": 1, "x": 0})
    with pytest.raises(ValidationError):
        registry.validate("sim.reading", 1, {"sensor": "t", "value": "warm", "n": 1})
    with pytest.raises(UnknownEventType):
        registry.validate("sim.reading", 2, {})
    with pytest.raises(UnknownEventType):
        registry.validate("nobody.knows", 1, {})


def test_registered_names_are_valid_event_types():
    for spec in registry.specs():
        EventEnvelope.model_validate({**SAMPLES[EventEnvelope], "type": spec.name})
