"""The agent's in-process message bus between plugin instances.

A reader plugin publishes what it saw (``device_plugins.messages``); a workflow plugin
subscribes and reacts in the publisher's thread. Nothing here touches the outbox or MQTT: a
message that must reach the collector is emitted as an event by whoever decides on it.

Delivery is synchronous so that a decision can be taken within milliseconds of the device's
last byte, with no queue hop. A subscriber that raises is logged and skipped: one broken
workflow must not stop the reader loop or the other subscribers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

Handler = Callable[[object], None]


@dataclass(frozen=True, slots=True)
class _Subscription:
    owner: Hashable
    topic: str
    handler: Handler


class LocalBus:
    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        self._subs: dict[str, tuple[_Subscription, ...]] = {}

    def subscribe(self, owner: Hashable, topic: str, handler: Handler) -> None:
        """Call ``handler(message)`` for every message on ``topic`` until ``owner`` is dropped."""
        with self._lock:
            self._subs[topic] = (*self._subs.get(topic, ()), _Subscription(owner, topic, handler))

    def unsubscribe_owner(self, owner: Hashable) -> int:
        """Drop every subscription of ``owner``; return how many there were."""
        dropped = 0
        with self._lock:
            for topic, subs in list(self._subs.items()):
                kept = tuple(s for s in subs if s.owner != owner)
                dropped += len(subs) - len(kept)
                if kept:
                    self._subs[topic] = kept
                else:
                    del self._subs[topic]
        return dropped

    def publish(self, topic: str, message: object) -> int:
        """Deliver ``message`` to the subscribers of ``topic`` in this thread, in subscription
        order; return how many handlers ran without raising."""
        with self._lock:
            # A snapshot: handlers may subscribe or unsubscribe while we iterate.
            subs = self._subs.get(topic, ())
        delivered = 0
        for sub in subs:
            try:
                sub.handler(message)
                delivered += 1
            except Exception:  # one subscriber's bug must not reach the publisher
                self._logger.exception("local bus subscriber of %r (%s) raised", topic, sub.owner)
        return delivered

    def topics(self) -> dict[str, int]:
        """Subscriber count per topic (for status and tests)."""
        with self._lock:
            return {topic: len(subs) for topic, subs in self._subs.items()}
