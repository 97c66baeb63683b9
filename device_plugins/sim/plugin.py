"""``SimPlugin``: a device that emits ``sim.reading`` / ``sim.access`` / ``sim.bulk`` events.

Settings (``[plugins.<name>]`` with ``kind = "sim"``, or the desired config):

* ``rate``: events per second (float; 0 = idle);
* ``count``: stop after this many events in this run (0 = unlimited);
* ``types``: event types to cycle through;
* ``bulk_bytes``: size of the blob in ``sim.bulk`` events;
* ``sensor``: sensor name in ``sim.reading`` events.

Every event carries ``n``, the plugin's running counter in this run (0, 1, 2, ...), so tests
can check that each generated event was stored exactly once. Actions: ``<name>.set_rate``
{rate}, ``<name>.burst`` {count} (a job with progress) and ``<name>.fail`` (always fails).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contract.payloads.sim import SimAccess, SimBulk, SimReading
from edge_agent.plugin_api import BasePlugin, CommandRequest, PluginContext, SteadyRate

SimType = Literal["sim.reading", "sim.access", "sim.bulk"]
ALL_TYPES: tuple[SimType, ...] = ("sim.reading", "sim.access", "sim.bulk")


class SimSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(default=1.0, ge=0, description="Events per second; 0 = idle.")
    count: int = Field(default=0, ge=0, description="Stop after this many; 0 = unlimited.")
    types: list[SimType] = Field(
        default_factory=lambda: list(ALL_TYPES),
        min_length=1,
        description="Event types, used in turn.",
    )
    bulk_bytes: int = Field(default=256, ge=0, le=65536, description="Blob size of sim.bulk.")
    sensor: str = Field(default="temp", max_length=64, description="Sensor of sim.reading.")

    @field_validator("types", mode="before")
    @classmethod
    def _types_from_text(cls, value: Any) -> Any:
        # From the environment the list arrives as text: JSON or comma-separated.
        if isinstance(value, str):
            text = value.strip()
            return (
                json.loads(text) if text.startswith("[") else [t.strip() for t in text.split(",")]
            )
        return value


class RateArgs(BaseModel):
    rate: float = Field(ge=0)


class BurstArgs(BaseModel):
    count: int = Field(ge=1, le=1_000_000)


class SimPlugin(BasePlugin):
    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self.settings = SimSettings.model_validate(dict(ctx.settings))
        self._schedule = SteadyRate(self.settings.rate)
        self._lock = threading.Lock()  # n and its emit stay in the same order
        self._wake = threading.Event()
        self.n = 0
        name = ctx.name
        ctx.register_action(f"{name}.set_rate", self._set_rate, args_model=RateArgs)
        ctx.register_action(f"{name}.burst", self._burst, job=True, args_model=BurstArgs)
        ctx.register_action(f"{name}.fail", self._fail)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._report_health()
        super().start()

    def stop(self) -> None:
        self.ctx.stop_event.set()
        self._wake.set()
        super().stop()

    def apply_config(self, settings: Mapping[str, Any]) -> None:
        new = SimSettings.model_validate(dict(settings))
        with self._lock:
            self.settings = new
            self._schedule.reset(new.rate)
        self._wake.set()
        self._report_health()

    def run(self) -> None:
        stop = self.ctx.stop_event
        while not stop.is_set():
            with self._lock:
                done = bool(self.settings.count) and self.n >= self.settings.count
                delay = None if done else self._schedule.delay()
            if delay is None:
                self._wake.wait(1.0)
                self._wake.clear()
            elif delay > 0:
                self._wake.wait(delay)
                self._wake.clear()
            else:
                self.emit_next()
                with self._lock:
                    self._schedule.tick()

    # -- events ------------------------------------------------------------------------------

    def emit_next(self) -> int:
        """Emit the next event of the cycle; return its outbox seq."""
        with self._lock:
            n = self.n
            event_type = self.settings.types[n % len(self.settings.types)]
            seq = self.ctx.emit(event_type, self._payload(event_type, n))
            self.n = n + 1
            return seq

    def _payload(self, event_type: str, n: int) -> BaseModel:
        if event_type == "sim.access":
            return SimAccess(person=f"person-{n % 50:03d}", granted=n % 7 != 0, n=n)
        if event_type == "sim.bulk":
            pattern = f"{n:08x}"
            blob = (pattern * (self.settings.bulk_bytes // 8 + 1))[: self.settings.bulk_bytes]
            return SimBulk(blob=blob, n=n)
        value = round(20.0 + 5.0 * math.sin(n / 10.0), 3)
        return SimReading(sensor=self.settings.sensor, value=value, unit="C", n=n)

    def _report_health(self) -> None:
        rate = self.settings.rate
        self.ctx.set_health("ok", f"{rate:g} events/s" if rate else "idle")

    # -- actions -----------------------------------------------------------------------------

    def _set_rate(self, request: CommandRequest) -> dict[str, Any]:
        rate = float(request.args["rate"])
        with self._lock:
            self.settings = self.settings.model_copy(update={"rate": rate})
            self._schedule.reset(rate)
        self._wake.set()
        self._report_health()
        return {"rate": rate}

    def _burst(self, request: CommandRequest) -> dict[str, Any]:
        count = int(request.args["count"])
        step = max(1, count // 10)
        first = last = None
        for i in range(count):
            if request.cancelled.is_set() or self.ctx.stop_event.is_set():
                raise RuntimeError(f"cancelled after {i} of {count} events")
            last = self.emit_next()
            first = first or last
            if (i + 1) % step == 0 and i + 1 < count:
                request.progress((i + 1) / count, f"{i + 1}/{count} events")
        return {"emitted": count, "first_seq": first, "last_seq": last}

    def _fail(self, request: CommandRequest) -> None:
        raise RuntimeError("simulated failure")
