"""A small fake of the agent's plugin context: records emits and calls, runs a local bus."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from contract.registry import registry
from edge_agent.plugin_api import ActionHandler, HealthState


class FakeContext:
    def __init__(self, settings: Mapping[str, Any], name: str = "entrance") -> None:
        self.name = name
        self.kind = "entrance"
        self.centre = "c"
        self.device = "entrance-pc"
        self.settings: Mapping[str, Any] = dict(settings)
        self.logger = logging.getLogger("test.entrance")
        self.stop_event = threading.Event()
        self.emitted: list[tuple[str, BaseModel]] = []
        self.health: list[tuple[HealthState, str]] = []
        self.actions: dict[str, ActionHandler] = {}
        self.calls: list[tuple[str, Mapping[str, Any] | None]] = []
        self.subscribers: dict[str, list[Callable[[object], None]]] = {}
        self.gate_fails = False
        self.lock = threading.Lock()

    def emit(self, event_type: str, payload: BaseModel | Mapping[str, Any]) -> int:
        assert isinstance(payload, BaseModel)
        # What the real agent does: the payload must pass the event registry as JSON.
        registry.validate(event_type, 1, payload.model_dump(mode="json"))
        with self.lock:
            self.emitted.append((event_type, payload))
            return len(self.emitted)

    def set_health(self, state: HealthState, detail: str = "") -> None:
        self.health.append((state, detail))

    def register_action(
        self,
        action: str,
        handler: ActionHandler,
        *,
        job: bool = False,
        args_model: type[BaseModel] | None = None,
    ) -> None:
        self.actions[action] = handler

    def publish_local(self, topic: str, message: object) -> None:
        for handler in self.subscribers.get(topic, []):
            handler(message)

    def subscribe_local(self, topic: str, handler: Callable[[object], None]) -> None:
        self.subscribers.setdefault(topic, []).append(handler)

    def call_action(self, action: str, args: Mapping[str, Any] | None = None) -> Any:
        self.calls.append((action, args))
        if self.gate_fails:
            raise OSError("relay not answering")
        return {"opened": True}

    def passages(self) -> list[Any]:
        with self.lock:
            return [p for t, p in self.emitted if t == "entrance.passage"]
