"""Checks that need the batch's context: enrolment (cached briefly) and payload models."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.db_types import table_of
from collector.devices.models import Device
from collector.ingest.models import DeadReason
from collector.ingest.parse import EventItem, clean_text, summarise
from contract.registry import EventRegistry, UnknownEventType

_ENCODER = json.JSONEncoder(allow_nan=False)  # stateless; json.dumps(allow_nan=...) builds one


@dataclass(frozen=True, slots=True)
class Enrolment:
    centre_id: str
    enabled: bool


class EnrolmentCache:
    """Device id → enrolment (or None), reused for ``ttl_s`` seconds, misses included."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[Enrolment | None, float]] = {}

    def lookup(self, engine: Engine, device_ids: Iterable[str]) -> dict[str, Enrolment | None]:
        now = time.monotonic()
        found: dict[str, Enrolment | None] = {}
        missing: list[str] = []
        for device_id in set(device_ids):
            entry = self._entries.get(device_id)
            if entry is not None and entry[1] > now:
                found[device_id] = entry[0]
            else:
                missing.append(device_id)
        if missing:
            table = table_of(Device)
            loaded: dict[str, Enrolment | None] = dict.fromkeys(missing)
            with engine.connect() as conn:
                for chunk_start in range(0, len(missing), 500):
                    chunk = missing[chunk_start : chunk_start + 500]
                    rows = conn.execute(
                        select(table.c.id, table.c.centre_id, table.c.enabled).where(
                            table.c.id.in_(chunk)
                        )
                    )
                    for device_id, centre_id, enabled in rows:
                        loaded[device_id] = Enrolment(centre_id, bool(enabled))
            expires = now + self.ttl_s
            for device_id, enrolment in loaded.items():
                self._entries[device_id] = (enrolment, expires)
                found[device_id] = enrolment
            if len(self._entries) > 100_000:  # junk device ids must not grow it forever
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
        return found

    def invalidate(self, device_id: str | None = None) -> None:
        if device_id is None:
            self._entries.clear()
        else:
            self._entries.pop(device_id, None)


def enrolment_problem(
    centre: str, device: str, enrolment: Enrolment | None
) -> tuple[DeadReason, str] | None:
    if enrolment is None:
        return DeadReason.UNENROLLED, f"device {device!r} is not enrolled"
    if enrolment.centre_id != centre:
        return (
            DeadReason.UNENROLLED,
            f"device {device!r} is enrolled in centre {enrolment.centre_id!r}, not {centre!r}",
        )
    if not enrolment.enabled:
        return DeadReason.DISABLED, f"device {device!r} is disabled"
    return None


def payload_problem(registry: EventRegistry, item: EventItem) -> tuple[DeadReason, str] | None:
    """Validate the payload against its model and serialise it for storage (once)."""
    event = item.env
    try:
        registry.validate(event.type, event.schema_version, event.payload)
    except UnknownEventType as exc:
        return DeadReason.UNKNOWN_TYPE, clean_text(str(exc))
    except ValidationError as exc:
        return DeadReason.BAD_PAYLOAD, summarise(exc)
    text = _fast_json(event.payload)
    if text is None:
        try:
            text = _ENCODER.encode(event.payload)
        except ValueError:
            return DeadReason.BAD_PAYLOAD, "NaN or Infinity is not JSON"
    if "\\u0000" in text:  # PostgreSQL's jsonb refuses NUL; refuse it on SQLite alike
        return DeadReason.BAD_PAYLOAD, "NUL character in a string"
    item.payload_json = text
    return None


def _fast_json(payload: dict[str, Any]) -> str | None:
    """The payload as JSON text by pydantic-core (several times faster than the json module),
    or None where the json module must decide: a possible NaN or Infinity, which pydantic's
    parser accepts but JSON (and PostgreSQL) does not, or text UTF-8 cannot encode."""
    try:
        data = to_json(payload, inf_nan_mode="constants")
    except Exception:  # a lone surrogate, say
        return None
    if b"NaN" in data or b"Infinity" in data:  # perhaps only inside a string: let json tell
        return None
    return data.decode()
