"""Desired configuration: the retained, versioned :class:`ConfigEnvelope` on ``.../config``.

A version newer than the applied one is handed to the plugins (through ``apply``), and, when
every plugin took it, cached in ``state_dir/desired_config.json`` (atomic write + fsync) and
recorded as applied; ``agent.config_applied`` reports the outcome either way. A refused
version is not cached, so a restart comes back with the last good one; the retained message
is offered again at every reconnect but answered only once per run. At start the cached file
is loaded so plugins get the last known desired settings even with no network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from contract.envelopes import ConfigEnvelope
from contract.payloads.agent import ConfigApplied
from edge_agent import meta

FILE_NAME = "desired_config.json"

ApplyConfig = Callable[[ConfigEnvelope], list[str]]
"""Apply a desired config to the plugins; return error messages (empty when all took it)."""
Emit = Callable[[str, BaseModel], int]


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


class DesiredConfigCache:
    def __init__(self, state_dir: Path, logger: logging.Logger | logging.LoggerAdapter) -> None:
        self.path = state_dir / FILE_NAME
        self._logger = logger

    def load(self) -> ConfigEnvelope | None:
        try:
            return ConfigEnvelope.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            self._logger.error("ignoring unreadable %s: %s", self.path, exc)
            return None

    def save(self, envelope: ConfigEnvelope) -> None:
        atomic_write(self.path, envelope.model_dump_json(indent=2).encode())


class DesiredConfigHandler:
    def __init__(
        self,
        *,
        cache: DesiredConfigCache,
        store: meta.Meta,
        apply: ApplyConfig,
        emit: Emit,
        logger: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        self._cache = cache
        self._meta = store
        self._apply = apply
        self._emit = emit
        self._logger = logger
        self.current = cache.load()
        self._refused: int | None = None
        if self.current is not None:
            store.set(meta.CONFIG_VERSION, self.current.version)

    @property
    def applied_version(self) -> int | None:
        return self.current.version if self.current is not None else None

    def section(self, name: str) -> dict[str, object]:
        """The desired settings of one plugin instance ({} when there are none)."""
        if self.current is None:
            return {}
        value = self.current.config.get(name)
        return dict(value) if isinstance(value, dict) else {}

    def handle(self, raw: bytes) -> None:
        """Handle one message from the config topic; never raises on bad input."""
        if not raw:
            return  # the retained config was cleared: keep what we have
        try:
            envelope = ConfigEnvelope.model_validate_json(raw)
        except ValidationError as exc:
            self._logger.warning("dropping invalid desired config: %s", exc.errors()[0])
            return
        applied = self.applied_version
        if (applied is not None and envelope.version <= applied) or (
            envelope.version == self._refused
        ):
            return
        try:
            errors = self._apply(envelope)
        except Exception as exc:  # a plugin bug must not take the dispatcher down
            self._logger.exception("applying desired config %d failed", envelope.version)
            errors = [str(exc) or type(exc).__name__]
        if errors:
            self._refused = envelope.version
            error = "; ".join(errors)[:2000]
            self._logger.error("desired config %d refused: %s", envelope.version, error)
            self._emit(
                "agent.config_applied",
                ConfigApplied(version=envelope.version, ok=False, error=error),
            )
            return
        self._cache.save(envelope)
        self._meta.set(meta.CONFIG_VERSION, envelope.version)
        self.current = envelope
        self._logger.info("desired config %d applied", envelope.version)
        self._emit("agent.config_applied", ConfigApplied(version=envelope.version, ok=True))
