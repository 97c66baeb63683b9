"""The MQTT topic tree, version 1.

``prtc/v1/{centre}/{device}/...``: tenant first so that broker ACLs and bridges cut by prefix.
Identifiers are restricted so that they can never contain MQTT wildcards or separators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

ROOT = "prtc/v1"
SHARED_GROUP = "collectors"

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
"""A centre or device id: ASCII letters, digits, ``_ . -``; 1-64 characters."""

EventTypeName = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN, max_length=96)]
"""A dotted lowercase event type such as ``agent.heartbeat`` or ``visitor.card_read``."""

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)


class TopicKind(StrEnum):
    EVENT = "event"
    STATUS = "status"
    CMD = "cmd"
    ACK = "ack"
    CONFIG = "config"
    RECEIPT = "receipt"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic of the v1 tree."""

    centre: str
    device: str
    kind: TopicKind
    event_type: str | None = None

    def __str__(self) -> str:
        base = f"{ROOT}/{self.centre}/{self.device}/{self.kind.value}"
        return f"{base}/{self.event_type}" if self.kind is TopicKind.EVENT else base


class TopicError(ValueError):
    """A topic that is not part of the v1 tree."""


def _check_id(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise TopicError(f"invalid {what} id {value!r}")
    return value


def device_prefix(centre: str, device: str) -> str:
    """The prefix a device owns; broker ACLs allow it nothing outside this."""
    return f"{ROOT}/{_check_id(centre, 'centre')}/{_check_id(device, 'device')}"


def event_topic(centre: str, device: str, event_type: str) -> str:
    if not _EVENT_TYPE.fullmatch(event_type):
        raise TopicError(f"invalid event type {event_type!r}")
    return f"{device_prefix(centre, device)}/event/{event_type}"


def status_topic(centre: str, device: str) -> str:
    return f"{device_prefix(centre, device)}/status"


def cmd_topic(centre: str, device: str) -> str:
    return f"{device_prefix(centre, device)}/cmd"


def ack_topic(centre: str, device: str) -> str:
    return f"{device_prefix(centre, device)}/ack"


def config_topic(centre: str, device: str) -> str:
    return f"{device_prefix(centre, device)}/config"


def receipt_topic(centre: str, device: str) -> str:
    return f"{device_prefix(centre, device)}/receipt"


def parse_topic(topic: str) -> Topic:
    """Parse a v1 topic; raise :class:`TopicError` for anything else."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:2]) != ROOT:
        raise TopicError(f"not a {ROOT} topic: {topic!r}")
    centre, device, kind_text = parts[2], parts[3], parts[4]
    _check_id(centre, "centre")
    _check_id(device, "device")
    try:
        kind = TopicKind(kind_text)
    except ValueError as exc:
        raise TopicError(f"unknown topic kind {kind_text!r}") from exc
    if kind is TopicKind.EVENT:
        if len(parts) != 6 or not _EVENT_TYPE.fullmatch(parts[5]):
            raise TopicError(f"event topic needs one valid event type: {topic!r}")
        return Topic(centre, device, kind, parts[5])
    if len(parts) != 5:
        raise TopicError(f"unexpected levels after {kind_text!r}: {topic!r}")
    return Topic(centre, device, kind)


# Subscriptions of the collector. Events and acks may be shared between collectors;
# status must stay a normal subscription because retained messages are not delivered to
# shared subscriptions.
SUB_EVENTS = f"{ROOT}/+/+/event/#"
SUB_ACKS = f"{ROOT}/+/+/ack"
SUB_STATUS = f"{ROOT}/+/+/status"


def shared(subscription: str, group: str = SHARED_GROUP) -> str:
    """The shared-subscription form of a subscription (``$share/{group}/...``)."""
    return f"$share/{group}/{subscription}"
