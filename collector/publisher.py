"""The narrow interface services use to send MQTT messages (commands, configs, receipts)."""

from __future__ import annotations

from typing import Protocol


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a message for the broker; never blocks on the network."""
        ...

    @property
    def connected(self) -> bool: ...
