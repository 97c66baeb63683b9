"""The wire contract shared by the edge agent and the collector.

Both sides import this package and nothing of each other. It holds the MQTT topic tree
(:mod:`contract.topics`), the envelopes (:mod:`contract.envelopes`), the registry of event
types and their payload models (:mod:`contract.registry`, payloads in :mod:`contract.payloads`)
and time-ordered ids (:mod:`contract.ids`).
"""

from contract.envelopes import (
    AckEnvelope,
    AckStatus,
    CommandEnvelope,
    ConfigEnvelope,
    EventEnvelope,
    Receipt,
    StatusMessage,
)
from contract.ids import uuid7
from contract.registry import EventSpec, Priority, registry
from contract.topics import Topic, TopicKind, parse_topic

__all__ = [
    "AckEnvelope",
    "AckStatus",
    "CommandEnvelope",
    "ConfigEnvelope",
    "EventEnvelope",
    "EventSpec",
    "Priority",
    "Receipt",
    "StatusMessage",
    "Topic",
    "TopicKind",
    "parse_topic",
    "registry",
    "uuid7",
]
