"""The registry of event types: name → payload model, schema version and priority class.

The collector validates every payload against it and the agent's outbox uses the priority
class to order sending and to choose what to evict when the outbox is full. Built-in types are
declared in :mod:`contract.payloads`; a third-party distribution adds its own through the
``prtc.event_types`` entry-point group (each entry point names a module that calls
:meth:`EventRegistry.register` when imported).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel


class Priority(IntEnum):
    """Outbox priority classes, most important first (lower sends first, evicts last)."""

    CRITICAL = 0  # access decisions, command results
    STATUS = 1  # heartbeats, device state
    TELEMETRY = 2  # periodic readings
    BULK = 3  # large or low-value data


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    model: type[BaseModel]
    priority: Priority
    schema_version: int = 1
    description: str = ""


class UnknownEventType(LookupError):
    pass


class EventRegistry:
    def __init__(self) -> None:
        self._specs: dict[tuple[str, int], EventSpec] = {}
        self._plugins_loaded = False

    def register(
        self,
        name: str,
        model: type[BaseModel],
        priority: Priority,
        *,
        schema_version: int = 1,
        description: str = "",
    ) -> EventSpec:
        key = (name, schema_version)
        existing = self._specs.get(key)
        if existing is not None and existing.model is not model:
            raise ValueError(f"event type {name} v{schema_version} registered twice")
        spec = EventSpec(name, model, priority, schema_version, description or model.__doc__ or "")
        self._specs[key] = spec
        return spec

    def get(self, name: str, schema_version: int = 1) -> EventSpec:
        self._load_plugins()
        try:
            return self._specs[(name, schema_version)]
        except KeyError:
            raise UnknownEventType(f"unknown event type {name} v{schema_version}") from None

    def validate(self, name: str, schema_version: int, payload: dict[str, Any]) -> BaseModel:
        """Validate a payload; raise :class:`UnknownEventType` or pydantic's error."""
        return self.get(name, schema_version).model.model_validate(payload)

    def specs(self) -> list[EventSpec]:
        self._load_plugins()
        return sorted(self._specs.values(), key=lambda s: (s.name, s.schema_version))

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group="prtc.event_types"):
            ep.load()


registry = EventRegistry()

# Built-in payloads register themselves on import.
import contract.payloads  # noqa: E402,F401
