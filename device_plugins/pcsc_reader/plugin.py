"""``PcscReaderPlugin`` (kind ``pcsc_reader``): IC-card readers through pcscd.

It waits on every PC/SC reader pcscd knows (or those whose names contain one of
``readers``), reads the UID of each card presented with ``FF CA 00 00 00`` and publishes on the
agent's local bus (never on the wire; the ``expert_gate`` workflow decides and emits):

* ``CARD_UID`` → :class:`~device_plugins.messages.CardUid` once per presentation: ``reader``
  is this instance's name, ``device`` the PC/SC reader's, ``last_byte_at`` the
  ``perf_counter()`` when the reader's answer was complete.

Readers attached or removed while it runs are picked up at once (PC/SC's PnP notification).
pcscd stopped or restarted marks health degraded, and the plugin reconnects with backoff.
Action ``<name>.status`` answers the readers and counters.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from device_plugins.messages import CARD_UID, CardUid
from device_plugins.pcsc_reader.apdu import UidError
from device_plugins.pcsc_reader.pcsc import Pcsc, PcscError, ReaderState
from device_plugins.pcsc_reader.presence import Presence
from edge_agent.plugin_api import BasePlugin, CommandRequest, HealthState, PluginContext


class PcscSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    readers: list[str] = Field(
        default_factory=list,
        description='Use only readers whose PC/SC name contains one of these ("" = all).',
    )
    wait_ms: int = Field(default=500, ge=20, le=10_000, description="longest blocking wait")
    debounce_s: float = Field(
        default=1.0, ge=0, le=60, description="same card back within this = same presentation"
    )
    read_attempts: int = Field(default=2, ge=1, le=10, description="per presentation")
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=10.0, gt=0)


class PcscReaderPlugin(BasePlugin):
    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self.settings = PcscSettings.model_validate(dict(ctx.settings))
        self.pcsc = Pcsc()
        self.presence = Presence(self.settings.debounce_s)
        self._states: dict[str, ReaderState] = {}
        self._lock = threading.Lock()
        self._health: tuple[HealthState, str] | None = None
        self.counters = {"reads": 0, "failed_reads": 0, "reconnects": 0}
        self.last_error = ""
        ctx.register_action(f"{ctx.name}.status", self._status)

    # -- lifecycle -----------------------------------------------------------------------------

    def stop(self) -> None:
        self.ctx.stop_event.set()
        with contextlib.suppress(Exception):  # best effort: the wait times out anyway
            self.pcsc.cancel()
        super().stop()

    def run(self) -> None:
        stop = self.ctx.stop_event
        backoff = self.settings.reconnect_min_s
        try:
            while not stop.is_set():
                try:
                    if not self.pcsc.connected:
                        self.pcsc.open()
                        self.counters["reconnects"] += 1
                    self._step()
                    backoff = self.settings.reconnect_min_s
                except PcscError as exc:
                    self.last_error = str(exc)
                    self._drop_context()
                    self._set_health("degraded", f"PC/SC unavailable: {exc}")
                    stop.wait(backoff)
                    backoff = min(backoff * 2, self.settings.reconnect_max_s)
        finally:
            self._drop_context()

    # -- the loop ------------------------------------------------------------------------------

    def _step(self) -> None:
        self._sync_readers(self.pcsc.readers())
        with self._lock:
            states = list(self._states.values())
        if not self.pcsc.wait(states, self.settings.wait_ms):
            return
        now = time.monotonic()
        for state in states:
            if self.presence.card_present(state.name, state.present, now):
                self._read(state.name)

    def _wanted(self, reader: str) -> bool:
        wanted = [w for w in self.settings.readers if w]
        return not wanted or any(w in reader for w in wanted)

    def _sync_readers(self, names: list[str]) -> None:
        names = [n for n in names if self._wanted(n)]
        with self._lock:
            for gone in set(self._states) - set(names):
                self.ctx.logger.info("reader removed: %s", gone)
                del self._states[gone]
                self.presence.forget(gone)
            for new in names:
                if new not in self._states:
                    self.ctx.logger.info("reader attached: %s", new)
                    self._states[new] = ReaderState(new)
        if names:
            self._set_health("ok", f"{len(names)} reader(s): " + ", ".join(sorted(names)))
        else:
            self._set_health("degraded", "no PC/SC reader attached")

    def _read(self, reader: str) -> None:
        for attempt in range(1, self.settings.read_attempts + 1):
            try:
                uid, last_byte_at = self.pcsc.read_uid(reader)
            except (PcscError, UidError) as exc:
                if isinstance(exc, PcscError) and exc.context_lost:
                    raise
                self.last_error = f"{reader}: {exc}"
                self.ctx.logger.warning("read %d on %s failed: %s", attempt, reader, exc)
                continue
            self.counters["reads"] += 1
            if self.presence.report(reader, uid, time.monotonic()):
                message = CardUid(self.ctx.name, uid, last_byte_at, device=reader)
                self.ctx.publish_local(CARD_UID, message)
            return
        self.counters["failed_reads"] += 1

    def _drop_context(self) -> None:
        self.pcsc.close()
        with self._lock:
            for name in list(self._states):
                self.presence.forget(name)
            self._states.clear()

    def _set_health(self, state: HealthState, detail: str) -> None:
        if self._health != (state, detail):
            self._health = (state, detail)
            with self._lock:
                count = len(self._states)
            self.ctx.set_health(state, detail[:300], data={"readers": count})

    # -- actions -------------------------------------------------------------------------------

    def _status(self, request: CommandRequest) -> dict[str, Any]:
        with self._lock:
            readers = sorted(self._states)
        return {
            "connected": self.pcsc.connected,
            "readers": readers,
            "cards_present": sorted(self.presence.holding()),
            **self.counters,
            "last_error": self.last_error,
        }
