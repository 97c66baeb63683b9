"""One attempt at the gate: credential → hash → decision → gate command → ``access.admission``.

:class:`Gatekeeper` talks to the agent only through the callables it is given (emit an event,
call another instance's action), so tests drive it directly. ``decision_ms`` runs from the last
byte of the reader's answer to the return of the gate command (or to the decision when there is
no gate or the person is refused).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contract.ids import uuid7
from contract.payloads.access import Admission, Credential, GateRoster
from device_plugins.expert_gate.decision import Decision, RosterIndex, decide
from device_plugins.expert_gate.refusals import RefusalWatch
from device_plugins.messages import CardRead, CardUid, CardUnreadable

Emit = Callable[[str, BaseModel], int]
CallAction = Callable[[str, Mapping[str, Any] | None], Any]

REASON_TEXT = {
    "not_on_roster": "不在名单内",
    "too_early": "未到入场时间",
    "too_late": "场次已结束",
    "wrong_gate": "请走其他通道",
    "unreadable": "无法读卡，请人工核验",
}


class ExpertGateSettings(BaseModel):
    """Settings of an ``expert_gate`` instance; ``roster`` comes as desired config."""

    model_config = ConfigDict(extra="forbid")

    gate: str = Field(default="", max_length=64, description='Gate id; "" = the agent device id.')
    rooms: list[str] = Field(
        default_factory=list,
        description="Rooms behind this gate when the roster's rooms_behind_gate does not name it.",
    )
    readers: list[str] = Field(
        default_factory=list, description="Reader instances to listen to; empty = all."
    )
    gate_action: str = Field(default="", description='e.g. "gate1.open"; "" = no gate.')
    gate_args: dict[str, Any] = Field(default_factory=dict)
    refusal_alert_count: int = Field(default=3, ge=2, le=100)
    refusal_alert_window_s: float = Field(default=600.0, gt=0, le=86400)
    screen_enabled: bool = Field(default=False, description="Serve the guard's status screen.")
    screen_host: str = "127.0.0.1"
    screen_port: int = Field(default=8766, ge=0, le=65535, description="0 = any free port.")
    screen_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="More host names the screen may be opened as (besides 127.0.0.1/localhost).",
    )
    roster: GateRoster = Field(default_factory=GateRoster)

    @field_validator("roster", mode="before")
    @classmethod
    def _roster_none(cls, value: Any) -> Any:
        return GateRoster() if value is None else value


class Gatekeeper:
    def __init__(
        self,
        settings: ExpertGateSettings,
        *,
        device: str,
        emit: Emit,
        call_action: CallAction,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._device = device
        self._emit = emit
        self._call_action = call_action
        self._logger = logger
        self._clock = clock
        self._monotonic = monotonic
        self._on_change = on_change
        self._lock = threading.RLock()  # on_change may read alerting() from within
        self.gate_problem = ""
        self.counts = {"admitted": 0, "refused": 0}
        self.last: Admission | None = None
        # (attempt, project, a note for the guard)
        self.recent: deque[tuple[Admission, str, str]] = deque(maxlen=20)
        self.watch = RefusalWatch(settings.refusal_alert_count, settings.refusal_alert_window_s)
        self.reconfigure(settings)

    def reconfigure(self, settings: ExpertGateSettings) -> None:
        gate = settings.gate or self._device
        index = RosterIndex(settings.roster, gate, settings.rooms)
        limits = (settings.refusal_alert_count, settings.refusal_alert_window_s)
        with self._lock:
            self.settings, self.gate, self.index = settings, gate, index
            # A new roster keeps the refusal streaks; new limits start counting afresh.
            if (self.watch.threshold, self.watch.window_s) != limits:
                self.watch = RefusalWatch(*limits)

    # -- inputs --------------------------------------------------------------------------------

    def wants(self, reader: str) -> bool:
        return not self.settings.readers or reader in self.settings.readers

    def on_id_card(self, msg: CardRead) -> Admission | None:
        if not self.wants(msg.reader):
            return None
        started = msg.last_byte_at or time.perf_counter()
        with self._lock:
            hashed = self.index.hash_id_number(msg.person.id_number)
            return self._attempt("id_card", hashed, started)

    def on_card_uid(self, msg: CardUid) -> Admission | None:
        if not self.wants(msg.reader):
            return None
        started = msg.last_byte_at or time.perf_counter()
        with self._lock:
            return self._attempt("ic_card", self.index.hash_card(msg.uid_hex), started)

    def on_unreadable(self, msg: CardUnreadable) -> Admission | None:
        """A card the reader could not read: refused, so the guard checks the person by hand,
        and recorded like any attempt (no hash: the card gave nothing)."""
        if not self.wants(msg.reader):
            return None
        refused = Decision("refused", "unreadable")
        with self._lock:
            return self._attempt("id_card", "", time.perf_counter(), refused, note=msg.reason)

    def alerting(self) -> list[str]:
        with self._lock:
            return self.watch.alerting(self._monotonic())

    def snapshot(self) -> dict[str, Any]:
        """What the guard's screen shows: masked labels and reasons, never a hash or a number."""
        now = self._clock()
        with self._lock:
            return {
                "gate": self.gate,
                "roster_version": self.settings.roster.version,
                "rooms": sorted(self.index.rooms),
                "counts": dict(self.counts),
                "gate_problem": self.gate_problem,
                "recent": [
                    {
                        "at": a.at.astimezone().strftime("%H:%M:%S"),
                        "age_s": round((now - a.at).total_seconds(), 1),
                        "decision": a.decision,
                        "reason": a.reason,
                        "reason_text": "，".join(
                            t for t in (REASON_TEXT.get(a.reason or "", ""), note) if t
                        ),
                        "label": a.label,
                        "credential": a.credential,
                        "project": project,
                        "room": a.room,
                        "gate_opened": a.gate_opened,
                    }
                    for a, project, note in self.recent
                ],
            }

    # -- internals -----------------------------------------------------------------------------

    def _attempt(
        self,
        credential: Credential,
        hashed: str,
        started: float,
        decision: Decision | None = None,
        *,
        note: str = "",
    ) -> Admission:
        now = self._clock()
        decision = decision or decide(self.index, credential, hashed, now)
        opened = decision.admitted and self._open_gate()
        decision_ms = round((time.perf_counter() - started) * 1000, 3)
        admission = Admission(
            attempt_id=str(uuid7()),
            gate=self.gate,
            at=now,
            credential=credential,
            person_hash=hashed if credential == "id_card" else "",
            card_hash=hashed if credential == "ic_card" else "",
            label=decision.person.label if decision.person else "",
            decision=decision.decision,
            reason=decision.reason,
            session_id=decision.session.session_id if decision.session else None,
            room=decision.room,
            roster_version=self.settings.roster.version,
            gate_opened=opened,
            decision_ms=decision_ms,
        )
        self.counts[decision.decision] += 1
        self.last = admission
        project = decision.session.project_number if decision.session else ""
        self.recent.appendleft((admission, project, note))
        try:
            self._emit("access.admission", admission)
        except Exception:  # the gate must keep working; the log shows what was lost
            self._logger.exception("could not record admission %s", admission.attempt_id)
        self._watch(admission, hashed)
        return admission

    def _open_gate(self) -> bool:
        action = self.settings.gate_action
        if not action:
            return False
        try:
            self._call_action(action, dict(self.settings.gate_args) or None)
        except Exception as exc:  # admitted all the same; the guard opens by hand
            self._logger.warning("gate action %s failed: %s", action, exc)
            self._set_gate_problem(f"{action}: {exc}")
            return False
        self._set_gate_problem("")
        return True

    def _set_gate_problem(self, problem: str) -> None:
        if problem != self.gate_problem:
            self.gate_problem = problem
            self._on_change()

    def _watch(self, admission: Admission, hashed: str) -> None:
        key = f"{admission.credential}:{hashed or 'unknown'}"
        if admission.decision == "admitted":
            self.watch.clear(key)
            return
        count = self.watch.record(key, self._monotonic())
        if count == self.settings.refusal_alert_count:
            self._logger.warning(
                "repeated refusals at gate %s: %d in %.0f s (%s, last reason %s)",
                self.gate,
                count,
                self.settings.refusal_alert_window_s,
                admission.credential,
                admission.reason,
            )
            self._on_change()
