"""In-process hook for business modules: react to newly stored events in the same transaction.

A module subscribes ``handler(session, event)`` to event types. The ingest pipeline calls
the handlers of an event only when that event was newly inserted, inside the transaction that
inserts it, so their side effects happen exactly once. A handler that raises makes the
pipeline roll the batch back and store it again event by event; the offending event goes to
the dead letters (reason ``handler_error``) and the rest are stored normally.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from collector.ingest.models import StoredEvent

EventHandler = Callable[[Session, StoredEvent], None]

ANY = "*"
"""Subscribe to every event type."""


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[EventHandler]] = {}

    def subscribe(self, event_type: str, handler: EventHandler) -> None:
        """Call ``handler`` for each new event of ``event_type`` (or :data:`ANY`)."""
        self._handlers.setdefault(event_type, []).append(handler)

    def unsubscribe(self, event_type: str, handler: EventHandler) -> None:
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

    def handlers_for(self, event_type: str) -> list[EventHandler]:
        specific = self._handlers.get(event_type)
        catch_all = self._handlers.get(ANY)
        if not catch_all:
            return specific or []
        return [*(specific or []), *catch_all]

    def __bool__(self) -> bool:
        return any(self._handlers.values())

    def dispatch(self, session: Session, event: StoredEvent) -> None:
        """Run the handlers of one event; exceptions propagate to the caller."""
        for handler in self.handlers_for(event.type):
            handler(session, event)
