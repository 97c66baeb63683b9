"""Generate ``docs/protocol.md`` from the contract, so the document cannot drift from the code.

``python -m contract.docgen > docs/protocol.md`` writes it; ``python -m contract.docgen --check
docs/protocol.md`` exits 1 with a diff when the committed file is stale. Everything that can be
read from the contract (topics, subscriptions, identifier patterns, envelopes, event types,
priority classes, ack states) is read from it; the prose tables below must name every member of
the enums they describe, or rendering fails.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contract import envelopes, topics
from contract.envelopes import (
    AckEnvelope,
    AckStatus,
    CommandEnvelope,
    ConfigEnvelope,
    EventEnvelope,
    Receipt,
    StatusMessage,
)
from contract.registry import EventSpec, Priority, registry
from contract.topics import Topic, TopicKind

REGENERATE = "python -m contract.docgen > docs/protocol.md"


@dataclass(frozen=True, slots=True)
class _Route:
    direction: str
    qos: int
    retain: bool
    envelope: type[BaseModel]
    what: str


ROUTES: dict[TopicKind, _Route] = {
    TopicKind.EVENT: _Route("agent → collector", 1, False, EventEnvelope, "one event"),
    TopicKind.STATUS: _Route(
        "agent → collector", 1, True, StatusMessage, "online / offline; offline is the last will"
    ),
    TopicKind.CMD: _Route("collector → agent", 1, False, CommandEnvelope, "one command"),
    TopicKind.ACK: _Route("agent → collector", 1, False, AckEnvelope, "one command result"),
    TopicKind.CONFIG: _Route(
        "collector → agent", 1, True, ConfigEnvelope, "desired configuration, versioned"
    ),
    TopicKind.RECEIPT: _Route(
        "collector → agent", 1, False, Receipt, "outbox sequence ranges stored by the collector"
    ),
}

ENVELOPES: tuple[type[BaseModel], ...] = (
    EventEnvelope,
    StatusMessage,
    CommandEnvelope,
    AckEnvelope,
    ConfigEnvelope,
    Receipt,
)

PRIORITY_USE: dict[Priority, str] = {
    Priority.CRITICAL: "access decisions, command results (acks), applied configuration",
    Priority.STATUS: "heartbeats, device state, eviction reports",
    Priority.TELEMETRY: "periodic readings",
    Priority.BULK: "large or low-value data",
}

ACK_MEANING: dict[AckStatus, str] = {
    AckStatus.RECEIVED: "the agent has the command and will execute it",
    AckStatus.ACCEPTED: "a job was started; `progress` acks follow",
    AckStatus.PROGRESS: "job progress, `progress` from 0 to 1",
    AckStatus.SUCCEEDED: "done; `result` holds the outcome",
    AckStatus.FAILED: "executed and failed; `message` says why",
    AckStatus.BUSY: "too many commands in flight; not executed",
    AckStatus.EXPIRED: "arrived after `expires_at`; not executed",
    AckStatus.REJECTED: "unknown action or invalid arguments; not executed",
    AckStatus.OFFLINE: "set by the collector, never sent by an agent: a time-critical "
    "(non-durable) command whose device is not online",
}

DEAD_LETTER_REASONS: dict[str, str] = {
    "bad_topic": "the topic is not part of the v1 tree (wrong root, unknown kind, bad id, "
    "missing or extra levels), or is not one the collector consumes",
    "bad_json": "the body is not UTF-8 JSON",
    "bad_envelope": "JSON, but not a valid envelope: missing or unknown fields, wrong types, "
    "naive timestamps",
    "unknown_type": "the event type and schema version are not in the registry",
    "bad_payload": "the payload fails validation against its registered payload model",
    "topic_mismatch": "the centre, device or event type in the topic differs from the envelope's",
    "unenrolled": "the device is not enrolled, or is enrolled in another centre",
    "disabled": "the device is enrolled but disabled",
    "too_large": "the message is larger than the collector's limit (`ingest.max_message_bytes`)",
    "handler_error": "a business-module handler raised on this event",
    "store_error": "the database refused the row (e.g. a NUL character in PostgreSQL text)",
}


def _check_complete(name: str, table: Iterable[Any], members: Iterable[Any]) -> None:
    missing = set(members) - set(table)
    if missing:
        raise RuntimeError(f"docgen: {name} has no entry for {sorted(map(str, missing))}")


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _fenced_json(value: Any) -> list[str]:
    return ["```json", _json(value), "```"]


def _topic_pattern(kind: TopicKind) -> str:
    return str(Topic("{centre}", "{device}", kind, "{type}" if kind is TopicKind.EVENT else None))


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _topic_section() -> list[str]:
    _check_complete("ROUTES", ROUTES, TopicKind)
    lines = [
        "## Topics",
        "",
        f"Every topic starts with `{topics.ROOT}/{{centre}}/{{device}}`: tenant first, so that "
        "broker ACLs and bridges cut by prefix. A device may publish and subscribe only under "
        "its own prefix.",
        "",
        "| topic | direction | QoS | retained | envelope | what |",
        "|---|---|---|---|---|---|",
    ]
    for kind in TopicKind:
        r = ROUTES[kind]
        lines.append(
            f"| `{_topic_pattern(kind)}` | {r.direction} | {r.qos} | {_yes_no(r.retain)} "
            f"| [`{r.envelope.__name__}`](#{r.envelope.__name__.lower()}) | {r.what} |"
        )
    lines += [
        "",
        f"- `{{centre}}` and `{{device}}` match `{topics.IDENTIFIER_PATTERN}`: ASCII letters, "
        "digits, `_ . -`, 1 to 64 characters, so an id can never hold an MQTT wildcard or "
        "separator.",
        f"- `{{type}}` is a dotted lowercase event type matching `{topics.EVENT_TYPE_PATTERN}` "
        "(at most 96 characters), e.g. `agent.heartbeat`.",
        "- A topic with more or fewer levels, a wildcard, or an unknown kind is not part of the "
        "tree and is dead-lettered as `bad_topic`.",
        "",
        "Collector subscriptions:",
        "",
        "| subscription | shared form (several collectors) |",
        "|---|---|",
        f"| `{topics.SUB_EVENTS}` | `{topics.shared(topics.SUB_EVENTS)}` |",
        f"| `{topics.SUB_ACKS}` | `{topics.shared(topics.SUB_ACKS)}` |",
        f"| `{topics.SUB_STATUS}` | never shared: retained messages are not delivered to "
        "shared subscriptions, so every collector subscribes normally |",
        "",
    ]
    return lines


def _delivery_section() -> list[str]:
    _check_complete("PRIORITY_USE", PRIORITY_USE, Priority)
    _check_complete("ACK_MEANING", ACK_MEANING, AckStatus)
    lines = [
        "## Delivery rules",
        "",
        "Delivery is at-least-once end to end and stored exactly once.",
        "",
        "### Outbox",
        "",
        "- The agent writes every event, and every command result, to its outbox (SQLite, WAL, "
        "fsync on commit) before anything else happens, and gives it the next per-device "
        "sequence number `seq` (starting at 1, never reused).",
        "- It publishes with QoS 1 and keeps the row until a receipt covers its `seq`; a broker "
        "PUBACK alone frees nothing, so a broker that restarts without persistence loses "
        "nothing. A message that no receipt covered within `outbox.resend_after_s` is "
        "published again.",
        "- Sending order is (priority class, `seq`).",
        "- When an append would exceed the count or byte bound, rows are evicted from the least "
        "important class first, oldest (lowest `seq`) first. An append never evicts a class "
        "more important than the most important message it adds: if only more important rows "
        "are left, the new message itself is evicted (its `seq` stays allocated, so the "
        "collector sees the gap). Rows older than their class's `outbox.max_age_s` are "
        "evicted too.",
        "- Evictions are counted per class and reason, persisted, reported in "
        "`agent.heartbeat` (`evicted`) and announced with `agent.outbox_evicted`.",
        "",
        "| priority class | value | used for |",
        "|---|---|---|",
    ]
    for p in Priority:
        lines.append(f"| `{p.name.lower()}` | {p.value} | {PRIORITY_USE[p]} |")
    lines += [
        "",
        "### Receipts",
        "",
        "- The collector inserts events idempotently on the event `id` (`ON CONFLICT DO "
        "NOTHING`), in batches, and acknowledges the MQTT message (paho `manual_ack=True`) only "
        "after the database commit.",
        "- After the commit it publishes one `Receipt` per device listing inclusive ranges "
        "`[first, last]` of the outbox sequence numbers it committed, events and acks alike, "
        "duplicates it already had included. The agent deletes exactly those rows.",
        "- The collector sends ranges sorted and without overlap; a receipt with `first < 1` "
        "or `last < first` is invalid. An agent sends mostly in order, so a receipt is "
        "usually one or two ranges.",
        "- `collector_time` lets the agent estimate its clock offset (`clock_offset_s` in the "
        "heartbeat).",
        "- The collector tracks `seq` per device and records gaps, so lost or evicted events "
        "are visible.",
        "",
        "### Acks through the outbox",
        "",
        "- Command results (`AckEnvelope`) are written to the outbox like events (priority "
        "class `critical`), carry an outbox `seq`, are published on `.../ack` and are covered "
        "by receipts. A job that ends while the network is down still reports its result.",
        "- Each ack has its own UUIDv7 `id` and is stored once; the command row keeps the latest "
        "state.",
        "",
        "### Status epochs and stale wills",
        "",
        "- On connect the agent publishes `online` (retained) and registers `offline` as its "
        "last will, both carrying the epoch `(boot, session)`: `boot` counts agent starts "
        "(persisted), `session` counts connections within a boot.",
        "- The collector ignores a status whose epoch is older than the last one it applied, so "
        "the will of an earlier connection, delivered late, cannot mark a live agent offline.",
        "- The agent watches its own retained status and re-publishes `online` when a stale "
        "will has overwritten it.",
        "- Missing heartbeats also mark a device offline after a configured number of heartbeat "
        "intervals: the agent's own interval (`interval_s` of its last heartbeat), or the "
        "collector's default for agents that do not send it. Upgrade the collector before the "
        "agents: a collector that does not know a payload field dead-letters the event.",
        "",
        "### Commands: durability and deadlines",
        "",
        "- Every command has a UUIDv7 `id`, `issued_at` and `expires_at` (after `issued_at`). "
        "The agent executes a command id at most once; a repeated delivery is not executed "
        "again.",
        "- `durable` commands (start a burn, change configuration) are kept by the collector "
        "and re-sent when the device comes back online, until they are answered finally or "
        "expire.",
        "- Non-durable commands are time-critical (open a gate): when the device is not online "
        "the collector answers `offline` at once instead of queueing.",
        "- A command that reaches the agent after `expires_at` is answered `expired` and not "
        "executed.",
        "",
        "| ack status | final | meaning |",
        "|---|---|---|",
    ]
    for status in AckStatus:
        lines.append(f"| `{status.value}` | {_yes_no(status.final)} | {ACK_MEANING[status]} |")
    lines += [
        "",
        "### Desired configuration versions",
        "",
        "- The collector publishes the desired configuration of a device retained on "
        "`.../config`; `version` only grows. `config` maps plugin instance names to their "
        "settings, plus an optional `rules` section.",
        "- The agent applies it, caches it on disk (so it starts with its last configuration "
        "when the collector is unreachable), and reports the result with "
        "`agent.config_applied` (`version`, `ok`, `error`). The heartbeat carries "
        "`config_version`, the version in force, like a device shadow.",
        "",
        "### Dead letters",
        "",
        "The collector never crashes on input. A message that fails any check is stored in the "
        "dead-letter table with its topic, reason, detail and raw bytes.",
        "",
        "- A receipt covers every event or ack whose sender is verified (the topic matches "
        "the envelope, the device is enrolled in that centre and enabled): newly stored, "
        "duplicate, or dead-lettered for its payload (`unknown_type`, `bad_payload`) or a "
        "handler error. Its raw bytes are kept, and a resend would meet the same fate.",
        "- An unverified sender gets no receipt, so its outbox keeps the data until the device "
        "is enrolled (or enabled) and the agent resends.",
        "- A retained status of an unverified sender is not dead-lettered: it would be replayed "
        "on every subscription.",
        "",
        "| reason | meaning |",
        "|---|---|",
    ]
    for reason, meaning in DEAD_LETTER_REASONS.items():
        lines.append(f"| `{reason}` | {meaning} |")
    lines.append("")
    return lines


def _schema_section() -> list[str]:
    lines = [
        "## Envelopes",
        "",
        "Every envelope rejects unknown fields. Times are RFC 3339 strings with a zone (UTC on "
        "the wire); naive times are rejected. Ids are UUIDv7 (time-ordered). The "
        "`schema_version` of an event envelope selects the version of its type's payload "
        f"model (default {envelopes.SCHEMA_VERSION}).",
        "",
    ]
    for model in ENVELOPES:
        lines += [f"### {model.__name__}", "", *_fenced_json(model.model_json_schema()), ""]
    return lines


def _event_section(specs: list[EventSpec]) -> list[str]:
    lines = [
        "## Event types",
        "",
        "Payloads are validated against the registered model for `(type, schema_version)`; "
        "unknown fields are rejected. Third-party distributions add types through the "
        "`prtc.event_types` entry-point group.",
        "",
        "| type | schema version | priority class | description |",
        "|---|---|---|---|",
    ]
    for spec in specs:
        lines.append(
            f"| `{spec.name}` | {spec.schema_version} | `{spec.priority.name.lower()}` "
            f"| {_one_line(spec.description)} |"
        )
    lines.append("")
    for spec in specs:
        lines += [
            f"### {spec.name} v{spec.schema_version}",
            "",
            f"Priority class `{spec.priority.name.lower()}`. {_one_line(spec.description)}",
            "",
            *_fenced_json(spec.model.model_json_schema()),
            "",
        ]
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_protocol() -> str:
    """The full text of ``docs/protocol.md``."""
    lines = [
        f"# Wire protocol ({topics.ROOT})",
        "",
        f"<!-- Generated from contract/ by `{REGENERATE}`. Do not edit by hand. -->",
        "",
        "Agents and collectors talk only through an MQTT broker. This document is generated "
        "from the `contract` package that both sides import; the models there are the "
        "authority.",
        "",
        *_topic_section(),
        *_delivery_section(),
        *_schema_section(),
        *_event_section(registry.specs()),
    ]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def check(path: Path, rendered: str | None = None) -> list[str]:
    """Unified diff lines between ``path`` and the rendered document; empty when current."""
    rendered = render_protocol() if rendered is None else rendered
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    return list(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            rendered.splitlines(keepends=True),
            fromfile=str(path),
            tofile="rendered",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contract.docgen", description="Render docs/protocol.md from the contract."
    )
    parser.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if FILE is stale")
    parser.add_argument("-o", "--output", metavar="FILE", type=Path, help="write to FILE")
    args = parser.parse_args(argv)
    rendered = render_protocol()
    if args.check is not None:
        diff = check(args.check, rendered)
        if diff:
            sys.stderr.writelines(diff[:200])
            if len(diff) > 200:
                sys.stderr.write(f"... {len(diff) - 200} more diff lines\n")
            sys.stderr.write(f"\n{args.check} is stale; regenerate with: {REGENERATE}\n")
            return 1
        return 0
    if args.output is not None:
        args.output.write_text(rendered, encoding="utf-8")
    else:
        sys.stdout.buffer.write(rendered.encode("utf-8"))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
