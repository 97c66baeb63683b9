"""Envelopes of every message on the v1 topic tree.

Every model forbids unknown fields: a sender that adds or misspells a field is rejected, not
guessed at. Times are timezone-aware (UTC on the wire). Payloads of events are validated in a
second step against :data:`contract.registry.registry`, so the envelope can be checked (and
dead-lettered with a precise reason) before the payload model is known.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contract.topics import EventTypeName, Identifier

SCHEMA_VERSION = 1

ActionName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=96)]
"""``target.verb``: the target is ``agent`` or a plugin instance name, e.g. ``sim.set_rate``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventEnvelope(_Strict):
    """One event, agent → collector on ``.../event/{type}`` (QoS 1)."""

    id: UUID = Field(description="UUIDv7, globally unique; the collector stores each id once")
    centre: Identifier
    device: Identifier
    type: EventTypeName
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    ts: AwareDatetime = Field(description="device time when the event was written to the outbox")
    seq: int = Field(ge=1, description="per-device monotonic sequence number of the outbox")
    payload: dict[str, Any]


class AckStatus(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"  # a job was started; progress acks follow
    PROGRESS = "progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BUSY = "busy"  # too many commands in flight; not executed
    EXPIRED = "expired"  # arrived after its deadline; not executed
    REJECTED = "rejected"  # unknown action or invalid arguments; not executed
    OFFLINE = "offline"  # set by the collector: time-critical command, device offline

    @property
    def final(self) -> bool:
        return self not in (AckStatus.RECEIVED, AckStatus.ACCEPTED, AckStatus.PROGRESS)


class CommandEnvelope(_Strict):
    """A command, collector → agent on ``.../cmd`` (QoS 1).

    ``durable`` commands (start a burn, change config) are re-sent when the device comes back
    online until they are answered or expire; time-critical ones (open a gate) are answered
    ``offline`` at once when the device is not online.
    """

    id: UUID
    centre: Identifier
    device: Identifier
    action: ActionName
    args: dict[str, Any] = Field(default_factory=dict)
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    durable: bool = False

    @model_validator(mode="after")
    def _deadline_after_issue(self) -> CommandEnvelope:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        return self


class AckEnvelope(_Strict):
    """A command result, agent → collector on ``.../ack`` (QoS 1).

    Acks travel through the agent's outbox like events, so they carry an outbox ``seq`` and
    are covered by receipts; a job that finishes while the network is down still reports.
    """

    id: UUID = Field(description="UUIDv7 of this ack; stored once")
    command_id: UUID
    centre: Identifier
    device: Identifier
    seq: int = Field(ge=1)
    status: AckStatus
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
    message: str = Field(default="", max_length=2000)
    result: dict[str, Any] = Field(default_factory=dict)
    ts: AwareDatetime


class StatusMessage(_Strict):
    """Online / offline, agent → collector on ``.../status`` (QoS 1, retained).

    The offline form is the MQTT last will. ``boot`` counts agent starts and ``session``
    counts connections within a boot, so (boot, session) increases with every connection and a
    stale will from an earlier connection can be recognised and ignored.
    """

    state: Literal["online", "offline"]
    boot: int = Field(ge=0)
    session: int = Field(ge=0)
    ts: AwareDatetime
    agent_version: str = Field(default="", max_length=64)

    @property
    def epoch(self) -> tuple[int, int]:
        return (self.boot, self.session)


class ConfigEnvelope(_Strict):
    """Desired configuration, collector → agent on ``.../config`` (QoS 1, retained).

    ``config`` maps plugin instance names to their settings plus an optional ``rules``
    section; the agent applies it, caches it on disk and reports the applied version.
    """

    version: int = Field(ge=0)
    issued_at: AwareDatetime
    config: dict[str, Any] = Field(default_factory=dict)


class Receipt(_Strict):
    """ "Stored up to here", collector → agent on ``.../receipt`` (QoS 1).

    ``ranges`` are inclusive ranges of outbox sequence numbers the collector has committed
    (events and acks); the agent deletes exactly those from its outbox.
    """

    ranges: list[tuple[int, int]]
    collector_time: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Receipt:
        for first, last in self.ranges:
            if first < 1 or last < first:
                raise ValueError(f"invalid range {first}..{last}")
        return self


def seq_ranges(seqs: list[int] | set[int]) -> list[tuple[int, int]]:
    """Compress sequence numbers into sorted inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], s)
        else:
            ranges.append((s, s))
    return ranges
