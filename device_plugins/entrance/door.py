"""One entrance door: what was swiped, what was decided, what the operator still has to do.

:class:`Door` holds the door's state and takes every decision; the plugin feeds it from the
local bus and the actions, the kiosk reads its :meth:`snapshot` and calls its operator
methods. It talks to the agent only through the three callables it is given (emit an event,
call another instance's action, read the rules), so tests drive it directly.

Life of a swipe:

* **exit** (a reader dedicated to ``out``, or the operator's direction set to ``out``):
  recorded at once as ``out``, ``admitted`` by the rules, no checks;
* **entry**: :func:`~device_plugins.entrance.rules.evaluate` with the latest temperature (a
  reading at most ``temperature_max_age_s`` old, used once). ``admitted`` opens the gate
  (``gate_action``) and is recorded; ``refused`` is recorded; ``operator`` waits on the screen.
  A temperature arriving while a visitor waits for one is given to that visitor and the rules
  decide again.
* a card the reader could not turn into a visitor (``idcard.unreadable``: unknown card layout,
  or failed reads) is shown to the operator as a notice (:attr:`Door.notice`) until the next
  visitor, so that they register the person by hand;
* a waiting visitor is confirmed (admitted, gate opened) or refused by the operator, or —
  when nobody answers within ``pending_timeout_s`` — recorded as **refused by the rules**, so
  the register shows the swipe and the next visitor is not confirmed by mistake.

``decision_ms`` runs from the last byte of the device answer that completed the decision
(the card, or the temperature a waiting visitor got) to the return of the gate command (or
to the decision when there is no gate). Operator decisions carry none.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contract.idnumber import mask_id_number, parse_id_number, resolve_division
from contract.ids import uuid7
from contract.payloads.entrance import EntranceRules, Origin, Passage, Person
from device_plugins.entrance.rules import Verdict, evaluate
from device_plugins.messages import CardRead, CardUnreadable, TemperatureReading

Direction = Literal["in", "out"]
ReaderMode = Literal["in", "out", "operator"]
Status = Literal["pending", "admitted", "refused"]

Emit = Callable[[str, BaseModel], int]
CallAction = Callable[[str, Mapping[str, Any] | None], Any]

MIN_C, MAX_C = 25.0, 45.0  # what a Passage accepts; anything else is a misreading


class EntranceSettings(BaseModel):
    """Settings of an ``entrance`` instance (``[plugins.entrance]`` and the desired config)."""

    model_config = ConfigDict(extra="forbid")

    door: str = Field(default="main", min_length=1, max_length=64, description="Door or lane name.")
    readers: dict[str, ReaderMode] = Field(
        default_factory=lambda: dict[str, ReaderMode](idcard="operator"),
        description='Reader instance → "in", "out" or "operator" (the screen chooses).',
    )
    thermometer: str = Field(
        default="thermometer", description='Thermometer instance name; "" takes any sensor.'
    )
    temperature_max_age_s: float = Field(default=60.0, gt=0, le=3600)
    gate_action: str = Field(default="", description='e.g. "gate1.open"; "" = no gate.')
    gate_args: dict[str, Any] = Field(default_factory=dict)
    gate_on_exit: bool = False
    operator: str = Field(default="", max_length=64)
    pending_timeout_s: float = Field(default=120.0, ge=5, le=3600)
    kiosk_enabled: bool = True
    kiosk_host: str = "127.0.0.1"
    kiosk_port: int = Field(default=8765, ge=0, le=65535, description="0 = any free port.")
    kiosk_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="More host names the screen may be opened as (besides 127.0.0.1/localhost).",
    )
    rules: EntranceRules = Field(default_factory=EntranceRules)

    @field_validator("rules", mode="before")
    @classmethod
    def _rules_none(cls, value: Any) -> Any:
        return EntranceRules() if value is None else value


@dataclass
class Visitor:
    passage_id: str
    direction: Direction
    person: Person
    reader: str
    at: datetime
    verdict: Verdict
    has_photo: bool = False
    temperature_c: float | None = None
    temperature_source: Literal["sensor", "manual"] | None = None
    status: Status = "pending"
    decided_by: Literal["rules", "operator"] = "rules"
    operator: str = ""
    gate_opened: bool = False
    decision_ms: float | None = None
    timed_out: bool = False
    waiting_since: float = field(default_factory=time.monotonic)

    def passage(self, door: str, rules_version: int) -> Passage:
        assert self.status != "pending"
        return Passage(
            passage_id=self.passage_id,
            direction=self.direction,
            door=door,
            at=self.at,
            person=self.person,
            origin=self.verdict.origin,
            flags=self.verdict.flags,
            temperature_c=self.temperature_c,
            temperature_source=self.temperature_source,
            decision=self.status,
            decided_by=self.decided_by,
            operator=self.operator,
            rules_version=rules_version,
            gate_opened=self.gate_opened,
            decision_ms=self.decision_ms,
        )

    def view(self) -> dict[str, Any]:
        """What the screen shows: the ID number (and a permit's pass number) masked, never in
        clear."""
        info = self.verdict.id_info
        origin: Origin | None = self.verdict.origin
        person = self.person
        return {
            "passage_id": self.passage_id,
            "status": self.status,
            "direction": self.direction,
            "name": self.person.name,
            "id_masked": mask_id_number(self.person.id_number),
            "document_type": self.person.document_type,
            "id_kind": info.kind if info else "",
            "id_converted": bool(info and info.converted),
            "sex": self.person.sex or (info.sex if info else "") or "",
            "nation": self.person.nation,
            "birth_date": self.person.birth_date.isoformat() if self.person.birth_date else "",
            "valid_to": self.person.valid_to.isoformat() if self.person.valid_to else "",
            "english_name": person.english_name,
            "nationality": person.nationality,
            "pass_masked": mask_id_number(person.pass_number) if person.pass_number else "",
            "issue_count": person.issue_count,
            "origin": origin.model_dump() if origin else None,
            "flags": [f.model_dump() for f in self.verdict.flags],
            "temperature_c": self.temperature_c,
            "temperature_source": self.temperature_source,
            "decided_by": self.decided_by,
            "operator": self.operator,
            "gate_opened": self.gate_opened,
            "decision_ms": self.decision_ms,
            "timed_out": self.timed_out,
            "waiting_temperature": self.status == "pending"
            and self.direction == "in"
            and self.temperature_c is None,
            "has_photo": self.has_photo,
            "at": self.at.strftime("%H:%M:%S"),
        }


@dataclass
class Counts:
    day: date
    admitted: int = 0
    refused: int = 0
    exited: int = 0
    flagged: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "admitted": self.admitted,
            "refused": self.refused,
            "exited": self.exited,
            "flagged": self.flagged,
            "inside": max(0, self.admitted - self.exited),
        }


class DoorError(ValueError):
    """An operator request that cannot be done (no such waiting visitor, bad input)."""


class Door:
    def __init__(
        self,
        settings: EntranceSettings,
        *,
        emit: Emit,
        call_action: CallAction,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
        clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        monotonic: Callable[[], float] = time.monotonic,
        on_gate: Callable[[bool, str], None] = lambda ok, detail: None,
    ) -> None:
        self.settings = settings
        self._emit = emit
        self._call_action = call_action
        self._logger = logger
        self._clock = clock
        self._monotonic = monotonic
        self._on_gate = on_gate
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.version = 0
        self.direction: Direction = "in"
        self.pending: OrderedDict[str, Visitor] = OrderedDict()
        self.recent: list[Visitor] = []  # newest first, decided ones
        self.counts = Counts(self._clock().date())
        self._temperature: tuple[TemperatureReading, float] | None = None  # reading, monotonic
        self.last_temperature: TemperatureReading | None = None
        self.notice: dict[str, Any] | None = None
        """The last card that gave no visitor, until the next visitor: {reader, text, at}."""

    # -- configuration -----------------------------------------------------------------------

    def reconfigure(self, settings: EntranceSettings) -> None:
        with self._lock:
            self.settings = settings
            self._touch()

    def set_direction(self, direction: Direction) -> None:
        with self._lock:
            self.direction = direction
            self._touch()

    # -- inputs --------------------------------------------------------------------------------

    def on_card(self, msg: CardRead) -> Visitor | None:
        """A card was read. Returns the visitor, or None when the reader is not this door's."""
        modes = self.settings.readers
        if modes and msg.reader not in modes:
            return None
        mode = modes.get(msg.reader, "operator")
        started = msg.last_byte_at or time.perf_counter()
        with self._lock:
            direction: Direction = self.direction if mode == "operator" else mode
            return self._arrive(msg.person, direction, msg.reader, started, bool(msg.photo))

    def on_unreadable(self, msg: CardUnreadable) -> bool:
        """A card was presented but gave no visitor; tell the operator. False when the reader
        is not this door's."""
        modes = self.settings.readers
        if modes and msg.reader not in modes:
            return False
        self._logger.info("card on %s gave no visitor: %s", msg.reader, msg.detail or msg.reason)
        with self._lock:
            self.notice = {
                "reader": msg.reader,
                "text": msg.reason[:200],
                "at": self._clock().strftime("%H:%M:%S"),
            }
            self._touch()
        return True

    def on_temperature(self, msg: TemperatureReading) -> Visitor | None:
        """A temperature was taken; returns the waiting visitor it completed, if any."""
        wanted = self.settings.thermometer
        if msg.source != "manual" and wanted and msg.sensor != wanted:
            return None
        if not MIN_C <= msg.celsius <= MAX_C:
            self._logger.warning(
                "ignoring implausible temperature %.1f from %s", msg.celsius, msg.sensor
            )
            return None
        started = msg.measured_at or time.perf_counter()
        with self._lock:
            self.last_temperature = msg
            waiting = next(
                (
                    v
                    for v in self.pending.values()
                    if v.direction == "in" and v.temperature_c is None
                ),
                None,
            )
            if waiting is None:
                self._temperature = (msg, self._monotonic())
                self._touch()
                return None
            waiting.temperature_c = round(msg.celsius, 1)
            waiting.temperature_source = "manual" if msg.source == "manual" else "sensor"
            waiting.verdict = evaluate(
                waiting.person, waiting.temperature_c, self.settings.rules, self._clock()
            )
            self._settle_by_rules(waiting, started)
            self._touch()
            return waiting

    def manual_entry(
        self,
        name: str,
        id_number: str,
        *,
        direction: Direction | None = None,
        temperature_c: float | None = None,
    ) -> Visitor:
        """The operator typed the visitor in (card unreadable or forgotten)."""
        name = name.strip()
        if not name:
            raise DoorError("姓名不能为空")
        info = parse_id_number(id_number)
        if info.kind == "unknown":
            raise DoorError("证件号码格式无法识别")
        person = Person(
            document_type="manual",
            name=name[:120],
            id_number=info.number,
            sex=info.sex or "",
            birth_date=info.birth_date,
        )
        started = time.perf_counter()
        with self._lock:
            if temperature_c is not None:
                if not MIN_C <= temperature_c <= MAX_C:
                    raise DoorError(f"体温 {temperature_c} 不在 {MIN_C}–{MAX_C} ℃ 之间")
                self._temperature = (
                    TemperatureReading("manual", temperature_c, "manual", started),
                    self._monotonic(),
                )
            return self._arrive(person, direction or self.direction, "manual", started, False)

    # -- the operator --------------------------------------------------------------------------

    def confirm(self, passage_id: str | None = None, operator: str = "") -> Visitor:
        with self._lock:
            visitor = self._waiting(passage_id)
            visitor.decided_by = "operator"
            visitor.operator = operator or self.settings.operator
            self._admit(visitor, None)
            self._finish(visitor)
            return visitor

    def refuse(self, passage_id: str | None = None, operator: str = "") -> Visitor:
        with self._lock:
            visitor = self._waiting(passage_id)
            visitor.decided_by = "operator"
            visitor.operator = operator or self.settings.operator
            visitor.status = "refused"
            self._finish(visitor)
            return visitor

    def expire(self) -> list[Visitor]:
        """Refuse the visitors that waited longer than ``pending_timeout_s``."""
        now = self._monotonic()
        done: list[Visitor] = []
        with self._lock:
            self._roll_day()
            for visitor in list(self.pending.values()):
                if now - visitor.waiting_since >= self.settings.pending_timeout_s:
                    visitor.status = "refused"
                    visitor.decided_by = "rules"
                    visitor.timed_out = True
                    self._finish(visitor)
                    done.append(visitor)
        return done

    # -- the screen ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._roll_day()
            pending = [v.view() for v in self.pending.values()]
            current = pending[0] if pending else (self.recent[0].view() if self.recent else None)
            temp = self.last_temperature
            return {
                "version": self.version,
                "door": self.settings.door,
                "direction": self.direction,
                "direction_choosable": "operator" in self.settings.readers.values()
                or not self.settings.readers,
                "operator": self.settings.operator,
                "rules_version": self.settings.rules.version,
                "threshold_c": self.settings.rules.temperature_threshold_c,
                "gate": bool(self.settings.gate_action),
                "counts": self.counts.view(),
                "current": current,
                "pending": pending,
                "recent": [v.view() for v in self.recent[:10]],
                "notice": self.notice,
                "last_temperature": (
                    {"celsius": round(temp.celsius, 1), "source": temp.source} if temp else None
                ),
            }

    def wait_change(self, version: int, timeout: float) -> int:
        """Block until the state differs from ``version`` (or timeout); return the version."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version, timeout)
            return self.version

    # -- internals -----------------------------------------------------------------------------

    def _touch(self) -> None:
        self.version += 1
        self._changed.notify_all()

    def _roll_day(self) -> None:
        today = self._clock().date()
        if today != self.counts.day:
            self.counts = Counts(today)
            self._touch()

    def _take_temperature(self) -> TemperatureReading | None:
        if self._temperature is None:
            return None
        reading, at = self._temperature
        self._temperature = None
        if self._monotonic() - at > self.settings.temperature_max_age_s:
            return None
        return reading

    def _arrive(
        self, person: Person, direction: Direction, reader: str, started: float, photo: bool
    ) -> Visitor:
        now = self._clock()
        self.notice = None  # the operator has moved on to a visitor
        if direction == "out":
            info = parse_id_number(person.id_number, today=now.date())
            origin = None
            if info.division_code is not None:
                origin = resolve_division(info.division_code).origin()
            verdict = Verdict("admitted", [], origin, info)
            visitor = Visitor(str(uuid7()), "out", person, reader, now, verdict, photo)
            visitor.status = "admitted"
            if self.settings.gate_on_exit:
                self._open_gate(visitor)
            visitor.decision_ms = round((time.perf_counter() - started) * 1000, 3)
            self._finish(visitor)
            return visitor
        # The same card again while it waits: forget the older swipe, decide on the new one.
        for old in list(self.pending.values()):
            if old.person.id_number == person.id_number and old.direction == "in":
                del self.pending[old.passage_id]
        reading = self._take_temperature()
        celsius = round(reading.celsius, 1) if reading else None
        verdict = evaluate(person, celsius, self.settings.rules, now)
        visitor = Visitor(
            str(uuid7()),
            "in",
            person,
            reader,
            now,
            verdict,
            photo,
            temperature_c=celsius,
            temperature_source=(
                None if reading is None else ("manual" if reading.source == "manual" else "sensor")
            ),
            waiting_since=self._monotonic(),
        )
        self.pending[visitor.passage_id] = visitor
        self._settle_by_rules(visitor, started)
        self._touch()
        return visitor

    def _settle_by_rules(self, visitor: Visitor, started: float) -> None:
        outcome = visitor.verdict.outcome
        if outcome == "operator":
            return
        visitor.decided_by = "rules"
        if outcome == "admitted":
            self._admit(visitor, started)
        else:
            visitor.status = "refused"
            visitor.decision_ms = round((time.perf_counter() - started) * 1000, 3)
        self._finish(visitor)

    def _admit(self, visitor: Visitor, started: float | None) -> None:
        visitor.status = "admitted"
        self._open_gate(visitor)
        if started is not None:
            visitor.decision_ms = round((time.perf_counter() - started) * 1000, 3)

    def _open_gate(self, visitor: Visitor) -> None:
        action = self.settings.gate_action
        if not action:
            return
        try:
            self._call_action(action, dict(self.settings.gate_args) or None)
        except Exception as exc:  # the visitor is still admitted; the operator opens by hand
            self._logger.warning("gate action %s failed: %s", action, exc)
            self._on_gate(False, f"{action}: {exc}")
            return
        visitor.gate_opened = True
        self._on_gate(True, action)

    def _waiting(self, passage_id: str | None) -> Visitor:
        if passage_id:
            visitor = self.pending.get(passage_id)
        else:
            visitor = next(iter(self.pending.values()), None)
        if visitor is None:
            raise DoorError("没有等待确认的访客" if not passage_id else "该访客不在等待确认中")
        return visitor

    def _finish(self, visitor: Visitor) -> None:
        self.pending.pop(visitor.passage_id, None)
        self._roll_day()
        if visitor.direction == "out":
            self.counts.exited += 1
        elif visitor.status == "admitted":
            self.counts.admitted += 1
        else:
            self.counts.refused += 1
        if visitor.direction == "in" and any(f.level != "info" for f in visitor.verdict.flags):
            self.counts.flagged += 1
        self.recent.insert(0, visitor)
        del self.recent[50:]
        passage = visitor.passage(self.settings.door, self.settings.rules.version)
        try:
            self._emit("entrance.passage", passage)
        except Exception:  # the door must keep working; the log shows what was lost
            self._logger.exception("could not record passage %s", visitor.passage_id)
        self._touch()
