"""Turning a typed payload into a stored event envelope."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from contract.envelopes import EventEnvelope
from contract.ids import uuid7
from contract.registry import EventRegistry, registry
from edge_agent.outbox import NewMessage, Outbox

Payload = BaseModel | Mapping[str, Any]


class EventWriter:
    """Validates payloads against the event registry and appends envelopes to the outbox."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        centre: str,
        device: str,
        events: EventRegistry = registry,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._outbox = outbox
        self._centre = centre
        self._device = device
        self._registry = events
        self._clock = clock

    def emit(self, event_type: str, payload: Payload) -> int:
        """Store one event durably; return its seq. Raises on unknown types or bad payloads."""
        return self._outbox.append_many([self._message(event_type, payload)])[0]

    def emit_many(self, events: Sequence[tuple[str, Payload]]) -> list[int]:
        """Store several events in one transaction (one fsync)."""
        return self._outbox.append_many([self._message(t, p) for t, p in events])

    def _message(self, event_type: str, payload: Payload) -> NewMessage:
        spec = self._registry.get(event_type)
        if isinstance(payload, spec.model):
            model = payload
        else:
            data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
            model = spec.model.model_validate(dict(data))
        body: dict[str, Any] = model.model_dump(mode="json")
        ts = self._clock()

        def build(seq: int) -> bytes:
            return (
                EventEnvelope(
                    id=uuid7(),
                    centre=self._centre,
                    device=self._device,
                    type=event_type,
                    schema_version=spec.schema_version,
                    ts=ts,
                    seq=seq,
                    payload=body,
                )
                .model_dump_json()
                .encode()
            )

        return NewMessage("event", event_type, spec.priority, build)
