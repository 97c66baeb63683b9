"""One read per presentation, per reader.

A card on the reader is read once; it must leave the field to be read again. A card that
leaves and comes back within ``debounce_s`` with the same UID (a hand wavering at the edge of
the field) is the same presentation and is not reported again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Slot:
    held: bool = False  # a card is on the reader and has been dealt with
    uid: str = ""  # the last UID reported on this reader
    left_at: float | None = None  # when that card left the field


class Presence:
    def __init__(self, debounce_s: float) -> None:
        self.debounce_s = debounce_s
        self._slots: dict[str, _Slot] = {}

    def card_present(self, reader: str, present: bool, now: float) -> bool:
        """Feed the reader's state; True when a card arrived and should be read now."""
        slot = self._slots.setdefault(reader, _Slot())
        if present and not slot.held:
            slot.held = True
            return True
        if not present and slot.held:
            slot.held = False
            slot.left_at = now
        return False

    def report(self, reader: str, uid: str, now: float) -> bool:
        """A UID was read on ``reader``; True when it is a new presentation to publish."""
        slot = self._slots.setdefault(reader, _Slot(held=True))
        bounced = (
            uid == slot.uid and slot.left_at is not None and now - slot.left_at < self.debounce_s
        )
        slot.uid = uid
        return not bounced

    def forget(self, reader: str) -> None:
        """The reader was detached."""
        self._slots.pop(reader, None)

    def holding(self) -> list[str]:
        return [name for name, slot in self._slots.items() if slot.held]
