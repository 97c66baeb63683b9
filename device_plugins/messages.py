"""Messages device plugins exchange on the agent's local bus (never on the wire).

A reader plugin publishes what it read; a workflow plugin (``entrance``, the expert gate)
subscribes, decides and calls an actuator's action. Timestamps are ``time.perf_counter()``
values so that the decision time can be measured from the last byte of the device's answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from contract.payloads.entrance import Person

CARD_READ = "idcard.read"
"""Topic of :class:`CardRead`."""
CARD_REMOVED = "idcard.removed"
"""Topic of :class:`CardRemoved`."""
TEMPERATURE = "temperature.reading"
"""Topic of :class:`TemperatureReading`."""
CARD_UID = "iccard.uid"
"""Topic of :class:`CardUid`."""
CARD_UNREADABLE = "idcard.unreadable"
"""Topic of :class:`CardUnreadable`."""


@dataclass(frozen=True)
class CardRead:
    reader: str
    """Instance name of the reader plugin."""
    person: Person
    photo: bytes = b""
    """The card's 1024-byte photo as read (WLT, vendor-encoded), b"" when absent."""
    last_byte_at: float = 0.0
    """perf_counter() when the reader's answer was complete."""
    read_at: datetime | None = None


@dataclass(frozen=True)
class CardUnreadable:
    """A card was on the reader but gave no visitor: its data is of a layout the reader does
    not know (given up at once), or the SAM failed to read it ``read_attempts`` times. Sent
    once per presentation so the entrance screen can ask for registration by hand; it carries
    no personal data."""

    reader: str
    """Instance name of the reader plugin."""
    reason: str
    """For the operator, in Chinese (no personal data)."""
    detail: str = ""
    """For the log, in English."""
    card_type_flag: str | None = None
    """The card type flag read, when the text block was read at all."""


@dataclass(frozen=True)
class CardRemoved:
    reader: str


@dataclass(frozen=True)
class CardUid:
    """An IC card's UID, read once per presentation (``pcsc_reader``)."""

    reader: str
    """Instance name of the reader plugin."""
    uid_hex: str
    """The UID as upper-case hex without spaces, e.g. "04A1B2C3"."""
    last_byte_at: float = 0.0
    """perf_counter() when the reader's answer was complete."""
    device: str = ""
    """The PC/SC name of the reader it was read on (one instance may serve several)."""


@dataclass(frozen=True)
class TemperatureReading:
    sensor: str
    celsius: float
    source: str = "sensor"
    """"sensor" or "manual"."""
    measured_at: float = field(default=0.0)
    """perf_counter() of the measurement."""
