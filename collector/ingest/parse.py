"""Classify one inbound MQTT message: topic, size, JSON, envelope, topic/envelope agreement.

Pure functions, no database. Enrolment and payload checks follow in :mod:`.checks` once
the batch's devices are known. JSON is parsed and the envelope validated in one pydantic call.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from collector.ingest.models import DeadReason
from collector.mqtt_link import Inbound
from contract.envelopes import AckEnvelope, EventEnvelope, StatusMessage
from contract.topics import Topic, TopicError, TopicKind, parse_topic

DETAIL_MAX = 1000


@dataclass(slots=True)
class EventItem:
    msg: Inbound
    env: EventEnvelope
    id: str = ""
    payload_json: str = ""
    """the payload as stored, set once the payload has been checked"""

    def __post_init__(self) -> None:
        self.id = str(self.env.id)


@dataclass(slots=True)
class AckItem:
    msg: Inbound
    env: AckEnvelope
    id: str = ""

    def __post_init__(self) -> None:
        self.id = str(self.env.id)


@dataclass(slots=True)
class StatusItem:
    msg: Inbound
    topic: Topic
    status: StatusMessage


@dataclass(slots=True)
class Ignored:
    """Nothing to store and nothing wrong (an empty retained status: the topic was cleared)."""

    msg: Inbound


@dataclass(slots=True)
class Rejected:
    msg: Inbound
    reason: DeadReason
    detail: str
    centre: str | None = None
    device: str | None = None
    seq: int | None = None
    """set when the sender's identity was verified: the seq is receipted (it is stored, as a
    dead letter, and resending would not change the verdict)"""


Parsed = EventItem | AckItem | StatusItem | Ignored | Rejected


def clean_text(text: str, limit: int = DETAIL_MAX) -> str:
    """Short, storable text: no NUL (PostgreSQL text refuses it), bounded length."""
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(p) for p in error.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {error.get('msg', '')}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"(+{more} more)")
    return clean_text("; ".join(parts))


def _invalid(msg: Inbound, topic: Topic, exc: ValidationError) -> Rejected:
    first = exc.errors(include_url=False, include_input=False)[0]
    reason = DeadReason.BAD_JSON if first.get("type") == "json_invalid" else DeadReason.BAD_ENVELOPE
    return Rejected(msg, reason, summarise(exc), topic.centre, topic.device)


class TopicCache:
    """Parsed topics by text: a fleet uses few distinct topics, parsing each is not free."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._max = max_entries
        self._topics: dict[str, Topic] = {}

    def parse(self, text: str) -> Topic:
        topic = self._topics.get(text)
        if topic is None:
            topic = parse_topic(text)  # raises TopicError; failures are not cached
            if len(self._topics) >= self._max:
                self._topics.clear()
            self._topics[text] = topic
        return topic


def parse_message(msg: Inbound, max_bytes: int, topics: TopicCache | None = None) -> Parsed:
    try:
        topic = topics.parse(msg.topic) if topics is not None else parse_topic(msg.topic)
    except TopicError as exc:
        return Rejected(msg, DeadReason.BAD_TOPIC, clean_text(str(exc)))
    if len(msg.payload) > max_bytes:
        return Rejected(
            msg,
            DeadReason.TOO_LARGE,
            f"{len(msg.payload)} bytes > {max_bytes}",
            topic.centre,
            topic.device,
        )
    kind = topic.kind
    if kind is TopicKind.EVENT:
        try:
            event = EventEnvelope.model_validate_json(msg.payload)
        except ValidationError as exc:
            return _invalid(msg, topic, exc)
        if event.centre != topic.centre or event.device != topic.device:
            return Rejected(
                msg,
                DeadReason.TOPIC_MISMATCH,
                f"topic {topic.centre}/{topic.device}, envelope {event.centre}/{event.device}",
                topic.centre,
                topic.device,
            )
        if event.type != topic.event_type:
            return Rejected(
                msg,
                DeadReason.TOPIC_MISMATCH,
                clean_text(f"topic type {topic.event_type}, envelope type {event.type}"),
                topic.centre,
                topic.device,
            )
        return EventItem(msg, event)
    if kind is TopicKind.ACK:
        try:
            ack = AckEnvelope.model_validate_json(msg.payload)
        except ValidationError as exc:
            return _invalid(msg, topic, exc)
        if ack.centre != topic.centre or ack.device != topic.device:
            return Rejected(
                msg,
                DeadReason.TOPIC_MISMATCH,
                f"topic {topic.centre}/{topic.device}, envelope {ack.centre}/{ack.device}",
                topic.centre,
                topic.device,
            )
        return AckItem(msg, ack)
    if kind is TopicKind.STATUS:
        if not msg.payload:
            return Ignored(msg)
        try:
            status = StatusMessage.model_validate_json(msg.payload)
        except ValidationError as exc:
            return _invalid(msg, topic, exc)
        return StatusItem(msg, topic, status)
    return Rejected(
        msg,
        DeadReason.BAD_TOPIC,
        f"the collector does not consume {kind.value} topics",
        topic.centre,
        topic.device,
    )
