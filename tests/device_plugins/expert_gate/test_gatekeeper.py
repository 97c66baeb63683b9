"""One attempt from the card to the gate and the event, with a recording gate and outbox."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from contract.payloads.access import Admission
from contract.payloads.entrance import Person
from device_plugins.expert_gate.gatekeeper import ExpertGateSettings, Gatekeeper
from device_plugins.messages import CardRead, CardUid, CardUnreadable
from tests.device_plugins.expert_gate.roster import (
    EXPERT_ID,
    EXPERT_UID,
    START,
    STRANGER_ID,
    roster,
)

LOG = logging.getLogger("test.expert_gate")


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, BaseModel]] = []
        self.calls: list[tuple[str, Mapping[str, Any] | None]] = []
        self.gate_fails = False
        self.changes = 0

    def emit(self, event_type: str, payload: BaseModel) -> int:
        self.events.append((event_type, payload))
        return len(self.events)

    def call(self, action: str, args: Mapping[str, Any] | None) -> Any:
        self.calls.append((action, args))
        if self.gate_fails:
            raise TimeoutError("relay board not answering")
        return {"opened": True}

    def admissions(self) -> list[Admission]:
        return [p for t, p in self.events if t == "access.admission"]  # type: ignore[misc]


def keeper(rec: Recorder, now: datetime = START, clock_s: list[float] | None = None) -> Gatekeeper:
    settings = ExpertGateSettings.model_validate(
        {
            "gate_action": "gate1.open",
            "gate_args": {"pulse_ms": 300},
            "roster": roster(),
            "readers": ["idcard", "ic"],
        }
    )
    ticks = clock_s if clock_s is not None else [0.0]
    return Gatekeeper(
        settings,
        device="gate-east",
        emit=rec.emit,
        call_action=rec.call,
        logger=LOG,
        clock=lambda: now,
        monotonic=lambda: ticks[0],
        on_change=lambda: setattr(rec, "changes", rec.changes + 1),
    )


def card(number: str, reader: str = "idcard") -> CardRead:
    person = Person(document_type="resident", name="张三", id_number=number)
    return CardRead(reader, person, last_byte_at=time.perf_counter())


def test_admitted_expert_opens_the_gate_and_is_recorded() -> None:
    rec = Recorder()
    a = keeper(rec).on_id_card(card(EXPERT_ID))
    assert a is not None and a.decision == "admitted" and a.gate_opened
    assert rec.calls == [("gate1.open", {"pulse_ms": 300})]
    [event] = rec.admissions()
    assert event is a
    assert (a.gate, a.session_id, a.room, a.label, a.roster_version) == (
        "gate-east",
        "S1",
        "301",
        "张*",
        5,
    )
    assert a.credential == "id_card" and len(a.person_hash) == 64 and a.card_hash == ""
    assert EXPERT_ID not in a.model_dump_json()  # never in clear
    assert a.decision_ms is not None and a.decision_ms >= 0  # figures: benchmarks/gate_decision.py


def test_ic_card_admitted_and_foreign_readers_ignored() -> None:
    rec = Recorder()
    k = keeper(rec)
    a = k.on_card_uid(CardUid("ic", EXPERT_UID, time.perf_counter()))
    assert a and a.decision == "admitted" and a.credential == "ic_card" and a.card_hash
    assert k.on_card_uid(CardUid("visitor-desk", EXPERT_UID)) is None
    assert len(rec.admissions()) == 1


def test_refused_does_not_open_and_gives_the_reason() -> None:
    rec = Recorder()
    a = keeper(rec, now=START - timedelta(hours=2)).on_id_card(card(EXPERT_ID))
    assert a and (a.decision, a.reason, a.gate_opened) == ("refused", "too_early", False)
    assert rec.calls == []


def test_an_unreadable_card_is_refused_for_a_check_by_hand() -> None:
    rec = Recorder()
    k = keeper(rec)
    a = k.on_unreadable(CardUnreadable("idcard", "证件类型不支持", card_type_flag="Q"))
    assert a and (a.decision, a.reason, a.gate_opened) == ("refused", "unreadable", False)
    assert (a.person_hash, a.card_hash, a.label) == ("", "", "") and rec.calls == []
    assert rec.admissions() == [a] and k.counts["refused"] == 1
    shown = k.snapshot()["recent"][0]
    assert shown["reason_text"] == "无法读卡，请人工核验，证件类型不支持"
    assert k.on_unreadable(CardUnreadable("visitor-desk", "读卡失败")) is None


def test_gate_failure_still_admits_and_reports() -> None:
    rec = Recorder()
    rec.gate_fails = True
    k = keeper(rec)
    a = k.on_id_card(card(EXPERT_ID))
    assert a and a.decision == "admitted" and not a.gate_opened
    assert "relay board" in k.gate_problem and rec.changes == 1
    rec.gate_fails = False
    k.on_id_card(card(EXPERT_ID))
    assert k.gate_problem == ""


def test_repeated_refusals_alert_within_the_window() -> None:
    rec = Recorder()
    clock = [0.0]
    k = keeper(rec, clock_s=clock)
    for t in (0.0, 100.0):
        clock[0] = t
        k.on_id_card(card(STRANGER_ID))
    assert k.alerting() == [] and rec.changes == 0
    clock[0] = 200.0
    k.on_id_card(card(STRANGER_ID))
    assert len(k.alerting()) == 1 and rec.changes == 1
    clock[0] = 700.0  # the first two left the 600 s window
    assert k.alerting() == []
    for t in (701.0, 702.0):
        clock[0] = t
        k.on_id_card(card(EXPERT_ID, "idcard"))  # admissions do not count
    assert k.alerting() == []


@pytest.mark.parametrize("now", [START - timedelta(hours=3), START + timedelta(hours=9)])
def test_every_attempt_is_one_event(now: datetime) -> None:
    rec = Recorder()
    k = keeper(rec, now=now)
    for number in (EXPERT_ID, STRANGER_ID, EXPERT_ID):
        k.on_id_card(card(number))
    assert [a.decision for a in rec.admissions()] == ["refused"] * 3
    assert len({a.attempt_id for a in rec.admissions()}) == 3


def test_a_new_roster_keeps_refusal_streaks() -> None:
    rec = Recorder()
    k = keeper(rec)
    for _ in range(2):
        k.on_id_card(card(STRANGER_ID))
    k.reconfigure(k.settings.model_copy(update={"roster": k.settings.roster}))
    k.on_id_card(card(STRANGER_ID))
    assert len(k.alerting()) == 1
