"""Expert access: the roster a gate agent is given and the admissions it reports.

The collector pushes a :class:`GateRoster` as desired config (section ``expert_gate``) to the
gate agents of a centre. It never carries ID numbers or card UIDs in clear: people are keyed
hashes (:func:`contract.payloads.entrance.person_hash` for ID numbers, :func:`card_hash` for
card UIDs) with the key alongside, so that a gate decides on the spot, with the collector
unreachable. Every attempt at the gate is one ``access.admission`` event; the collector turns
the first admission of an expert for a session into the sign-in (自动签到).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from contract.payloads._base import Payload
from contract.registry import Priority, registry

Credential = Literal["id_card", "ic_card"]
RefusalReason = Literal[
    "not_on_roster",  # nobody with this ID number / card on any session here
    "too_early",  # on a roster, before start minus lead time
    "too_late",  # after end plus grace time
    "wrong_gate",  # on a roster, but for a room not behind this gate
    "unreadable",
]

HASH_PATTERN = r"^[0-9a-f]{64}$"


def card_hash(key: bytes, uid: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) of a card UID given as hex (case and spaces ignored)."""
    normalised = "".join(uid.split()).upper()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


class RosterSession(BaseModel):
    """开评标场次: a session in one or more rooms."""

    session_id: str = Field(max_length=64)
    project_number: str = Field(default="", max_length=64)
    rooms: list[str] = Field(default_factory=list, description="room ids of the session")
    start: AwareDatetime
    end: AwareDatetime


class RosterPerson(BaseModel):
    person_hash: str = Field(default="", description="person_hash of the ID number, or empty")
    card_hashes: list[str] = Field(default_factory=list, description="card_hash of IC-card UIDs")
    role: Literal["expert", "leader", "supervisor", "staff"] = "expert"
    label: str = Field(
        default="", max_length=60, description="masked name shown on the gate screen (张*)"
    )
    sessions: list[str] = Field(description="session ids this person may enter for")


class GateRoster(BaseModel):
    """Desired config section ``expert_gate`` of a gate agent."""

    version: int = Field(default=0, ge=0)
    hash_key: str = Field(default="", description="hex key of person_hash / card_hash")
    rooms_behind_gate: dict[str, list[str]] = Field(
        default_factory=dict,
        description="gate (device id) → room ids reachable through it",
    )
    lead_minutes: int = Field(default=60, ge=0, le=24 * 60)
    grace_minutes: int = Field(default=30, ge=0, le=24 * 60)
    sessions: list[RosterSession] = Field(default_factory=list)
    people: list[RosterPerson] = Field(default_factory=list)


class Admission(Payload):
    """One attempt at an expert-area gate, with the decision taken on the agent."""

    attempt_id: str = Field(min_length=8, max_length=64, description="unique per attempt")
    gate: str = Field(max_length=64, description="device id of the gate agent")
    at: AwareDatetime
    credential: Credential
    person_hash: str = Field(default="", description="person_hash of the ID number read")
    card_hash: str = Field(default="", description="card_hash of the card UID read")
    label: str = Field(default="", max_length=60, description="masked name")
    decision: Literal["admitted", "refused"]
    reason: RefusalReason | None = None
    session_id: str | None = Field(default=None, max_length=64)
    room: str | None = Field(default=None, max_length=64)
    roster_version: int | None = None
    gate_opened: bool = False
    decision_ms: float | None = Field(default=None, ge=0)


registry.register("access.admission", Admission, Priority.CRITICAL)
