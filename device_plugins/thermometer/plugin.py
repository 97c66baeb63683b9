"""``ThermometerPlugin`` (kind ``thermometer``): body temperature on the local bus.

Publishes :class:`~device_plugins.messages.TemperatureReading` on ``TEMPERATURE``. Protocols:

* ``gy_mcu90614``: a GY-MCU90614/90615 infrared module on a serial port (``gy_mcu90614.py``);
* ``modbus``: one register of a Modbus RTU thermometer (``slave``, ``register``, ``function``
  holding/input, ``scale``, ``offset``, ``signed``);
* ``manual``: no device; the operator types the handheld thermometer's value.

Every protocol accepts ``<name>.manual_entry`` {celsius}, published with source "manual", so
the operator can always fall back to the handheld thermometer. ``mode = "trigger"`` measures
when a card is read (``CARD_READ``) and publishes the first plausible value within
``trigger_window_s``; ``mode = "stream"`` publishes plausible values every ``interval_s``.
A value outside ``min_c``..``max_c`` is nobody in front of the sensor and is not published.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from device_plugins.messages import CARD_READ, TEMPERATURE, TemperatureReading
from device_plugins.thermometer.sensors import GySensor, ModbusSensor, Sensor, SensorError
from edge_agent.plugin_api import BasePlugin, CommandRequest, HealthState, PluginContext


class ThermometerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    protocol: Literal["gy_mcu90614", "modbus", "manual"] = "manual"
    port: str = Field(default="", description="pyserial URL; required unless manual")
    baudrate: int = 9600
    timeout_s: float = Field(default=0.5, gt=0, le=10)
    mode: Literal["trigger", "stream"] = "trigger"
    interval_s: float = Field(default=1.0, gt=0, description="stream mode")
    trigger_window_s: float = Field(default=2.0, gt=0, le=30, description="trigger mode")
    sample_interval_s: float = Field(default=0.1, gt=0, le=5, description="trigger mode")
    min_c: float = Field(default=32.0, description="below: nobody in front of the sensor")
    max_c: float = Field(default=43.0)
    offset_c: float = Field(default=0.0, ge=-5, le=5, description="calibration, added")
    slave: int = Field(default=1, ge=1, le=247)
    # "register" would shadow a BaseModel attribute; the setting keeps its natural name.
    register_address: int = Field(default=0, ge=0, le=0xFFFF, alias="register")
    function: Literal["holding", "input"] = "input"
    scale: float = 0.1
    signed: bool = True

    @model_validator(mode="after")
    def _port_needed(self) -> ThermometerSettings:
        if self.protocol != "manual" and not self.port:
            raise ValueError(f"protocol {self.protocol} needs a port")
        return self


class ManualArgs(BaseModel):
    celsius: float = Field(ge=30, le=45)


def make_sensor(s: ThermometerSettings) -> Sensor | None:
    if s.protocol == "gy_mcu90614":
        return GySensor(s.port, baudrate=s.baudrate, timeout_s=s.timeout_s)
    if s.protocol == "modbus":
        return ModbusSensor(
            s.port,
            baudrate=s.baudrate,
            timeout_s=s.timeout_s,
            slave=s.slave,
            register=s.register_address,
            function=s.function,
            scale=s.scale,
            signed=s.signed,
        )
    return None


class ThermometerPlugin(BasePlugin):
    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self.settings = ThermometerSettings.model_validate(dict(ctx.settings))
        self.sensor = make_sensor(self.settings)
        self._trigger = threading.Event()
        self._health: tuple[HealthState, str] | None = None
        self.counters = {"readings": 0, "manual": 0, "errors": 0, "implausible": 0}
        self.last: TemperatureReading | None = None
        name = ctx.name
        ctx.register_action(f"{name}.manual_entry", self._manual_entry, args_model=ManualArgs)
        ctx.register_action(f"{name}.status", self._status)
        if self.sensor is not None:
            ctx.register_action(f"{name}.measure", self._measure)
            if self.settings.mode == "trigger":
                # The reader's thread must not wait for the sensor: only wake our own.
                ctx.subscribe_local(CARD_READ, lambda _msg: self._trigger.set())

    def start(self) -> None:
        if self.sensor is None:
            self._set_health("ok", "manual entry")
        super().start()

    def stop(self) -> None:
        self.ctx.stop_event.set()
        self._trigger.set()
        super().stop()
        if self.sensor is not None:
            self.sensor.close()

    def run(self) -> None:
        stop, s = self.ctx.stop_event, self.settings
        if self.sensor is None:
            stop.wait()
            return
        self._probe()
        while not stop.is_set():
            if s.mode == "stream":
                self._sample()
                stop.wait(s.interval_s)
                continue
            self._trigger.wait()
            self._trigger.clear()
            deadline = time.monotonic() + s.trigger_window_s
            while not stop.is_set() and self._sample() is None and time.monotonic() < deadline:
                stop.wait(s.sample_interval_s)

    # -- measuring ---------------------------------------------------------------------------

    def _probe(self) -> None:
        """One reading at start so that health shows a dead sensor before the first visitor."""
        try:
            self._read()
            self._set_health("ok", f"{self.settings.protocol} on {self.settings.port}")
        except SensorError as exc:
            self._failed(exc)

    def _read(self) -> float:
        assert self.sensor is not None
        return round(self.sensor.read_celsius() + self.settings.offset_c, 2)

    def _sample(self) -> TemperatureReading | None:
        """Measure once; publish and return a plausible reading."""
        try:
            celsius = self._read()
        except SensorError as exc:
            self._failed(exc)
            return None
        self._set_health("ok", f"{self.settings.protocol} on {self.settings.port}")
        if not self.settings.min_c <= celsius <= self.settings.max_c:
            self.counters["implausible"] += 1
            return None
        return self._publish(celsius, "sensor")

    def _publish(self, celsius: float, source: str) -> TemperatureReading:
        reading = TemperatureReading(
            sensor=self.ctx.name, celsius=celsius, source=source, measured_at=time.perf_counter()
        )
        self.last = reading
        self.counters["manual" if source == "manual" else "readings"] += 1
        self.ctx.publish_local(TEMPERATURE, reading)
        return reading

    def _failed(self, exc: Exception) -> None:
        self.counters["errors"] += 1
        self._set_health("degraded", str(exc)[:300])

    def _set_health(self, state: HealthState, detail: str) -> None:
        if self._health != (state, detail):
            self._health = (state, detail)
            self.ctx.set_health(state, detail)

    # -- actions -----------------------------------------------------------------------------

    def _manual_entry(self, request: CommandRequest) -> dict[str, Any]:
        reading = self._publish(round(float(request.args["celsius"]), 2), "manual")
        return {"celsius": reading.celsius, "source": reading.source}

    def _measure(self, request: CommandRequest) -> dict[str, Any]:
        try:
            celsius = self._read()
        except SensorError as exc:
            self._failed(exc)
            raise
        plausible = self.settings.min_c <= celsius <= self.settings.max_c
        if plausible:
            self._publish(celsius, "sensor")
        return {"celsius": celsius, "published": plausible}

    def _status(self, request: CommandRequest) -> dict[str, Any]:
        last = self.last
        return {
            "protocol": self.settings.protocol,
            "mode": self.settings.mode,
            "health": self._health[0] if self._health else "starting",
            "detail": self._health[1] if self._health else "",
            **self.counters,
            "last_celsius": last.celsius if last else None,
            "last_source": last.source if last else None,
        }
