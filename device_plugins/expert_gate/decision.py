"""The admission decision: pure, fast, and the same with or without the collector.

A person is admitted when a credential's keyed hash (ID number: ``person_hash``; IC card:
``card_hash``) names someone on the :class:`~contract.payloads.access.GateRoster` for a
session that has a room behind this gate, between its start minus ``lead_minutes`` and its
end plus ``grace_minutes``. Otherwise the most telling reason wins: ``too_early`` (a session
here is still to come) before ``too_late`` (it is over) before ``wrong_gate`` (their sessions
are in rooms behind other gates) before ``not_on_roster``. When several sessions admit, the
one whose start is nearest to now is the one the admission is for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contract.payloads.access import (
    Credential,
    GateRoster,
    RefusalReason,
    RosterPerson,
    RosterSession,
    card_hash,
)
from contract.payloads.entrance import person_hash

PRECEDENCE: dict[RefusalReason, int] = {
    "too_early": 0,
    "too_late": 1,
    "wrong_gate": 2,
    "not_on_roster": 3,
    "unreadable": 4,
}


@dataclass(frozen=True)
class Decision:
    decision: Literal["admitted", "refused"]
    reason: RefusalReason | None = None
    person: RosterPerson | None = None
    session: RosterSession | None = None
    room: str | None = None

    @property
    def admitted(self) -> bool:
        return self.decision == "admitted"


class RosterIndex:
    """A roster prepared for one gate: hash lookups and the rooms behind the gate."""

    def __init__(self, roster: GateRoster, gate: str, local_rooms: Iterable[str] = ()) -> None:
        self.roster = roster
        self.gate = gate
        try:
            self.key: bytes | None = bytes.fromhex(roster.hash_key) or None
        except ValueError:
            self.key = None
        rooms = roster.rooms_behind_gate.get(gate)
        self.rooms: frozenset[str] = frozenset(rooms if rooms is not None else local_rooms)
        self.lead = timedelta(minutes=roster.lead_minutes)
        self.grace = timedelta(minutes=roster.grace_minutes)
        self.sessions = {s.session_id: s for s in roster.sessions}
        self._by_id: dict[str, list[RosterPerson]] = defaultdict(list)
        self._by_card: dict[str, list[RosterPerson]] = defaultdict(list)
        for person in roster.people:
            if person.person_hash:
                self._by_id[person.person_hash].append(person)
            for h in person.card_hashes:
                self._by_card[h].append(person)

    @property
    def usable(self) -> bool:
        return self.key is not None

    def hash_id_number(self, id_number: str) -> str:
        return person_hash(self.key, id_number) if self.key else ""

    def hash_card(self, uid_hex: str) -> str:
        return card_hash(self.key, uid_hex) if self.key else ""

    def people(self, credential: Credential, hashed: str) -> list[RosterPerson]:
        if not hashed:
            return []
        table = self._by_id if credential == "id_card" else self._by_card
        return table.get(hashed, [])


def decide(index: RosterIndex, credential: Credential, hashed: str, now: datetime) -> Decision:
    """Decide on one credential (already hashed with the roster's key) at ``now`` (aware)."""
    people = index.people(credential, hashed)
    best_refusal: Decision | None = None
    best_admit: tuple[float, Decision] | None = None
    for person in people:
        for session_id in person.sessions:
            session = index.sessions.get(session_id)
            if session is None:
                continue
            here = [room for room in session.rooms if room in index.rooms]
            reason: RefusalReason | None
            if not here:
                reason = "wrong_gate"
            elif now < session.start - index.lead:
                reason = "too_early"
            elif now > session.end + index.grace:
                reason = "too_late"
            else:
                reason = None
            if reason is None:
                distance = abs((session.start - now).total_seconds())
                if best_admit is None or distance < best_admit[0]:
                    best_admit = (distance, Decision("admitted", None, person, session, here[0]))
                continue
            refusal = Decision("refused", reason, person, session, here[0] if here else None)
            if best_refusal is None or _better(refusal, best_refusal, now):
                best_refusal = refusal
    if best_admit is not None:
        return best_admit[1]
    if best_refusal is not None:
        return best_refusal
    return Decision("refused", "not_on_roster", people[0] if people else None)


def _better(a: Decision, b: Decision, now: datetime) -> bool:
    """Is refusal ``a`` more telling than ``b``? By reason, then by the nearer session."""
    assert a.reason is not None and b.reason is not None
    if PRECEDENCE[a.reason] != PRECEDENCE[b.reason]:
        return PRECEDENCE[a.reason] < PRECEDENCE[b.reason]
    assert a.session is not None and b.session is not None
    return abs((a.session.start - now).total_seconds()) < abs(
        (b.session.start - now).total_seconds()
    )
