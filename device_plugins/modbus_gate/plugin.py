"""``ModbusGatePlugin`` (kind ``modbus_gate``): a gate or door relay on a Modbus RTU board.

Action ``<name>.open`` {direction?, pulse_ms?} pulses the relay: the handler returns once the
"on" write is acknowledged; the "off" follows ``pulse_ms`` later from a worker thread. It is a
plain action, so a workflow on the same agent calls it with ``ctx.call_action`` (no round trip)
and the collector can send it as a command. ``directions`` maps a direction ("in", "out") to its
own output address, for a turnstile with one relay per way. Action ``<name>.status`` reads the
output back. Health is degraded while the board does not answer; the client reconnects on the
next request, and a probe every ``probe_interval_s`` notices when the board is back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from device_plugins import modbus_bus
from device_plugins.modbus_gate.actuator import ModbusRelay, Output
from edge_agent.plugin_api import BasePlugin, CommandRequest, HealthState, PluginContext


class GateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: str = Field(description="pyserial URL of the RS-485 adapter, e.g. /dev/rs485-0")
    baudrate: int = 9600
    timeout_s: float = Field(default=0.5, gt=0, le=10)
    slave: int = Field(default=1, ge=1, le=247)
    output: Literal["coil", "register"] = "coil"
    address: int = Field(default=0, ge=0, le=0xFFFF, description="coil or register address")
    on_value: int = Field(default=1, ge=0, le=0xFFFF, description="register mode")
    off_value: int = Field(default=0, ge=0, le=0xFFFF, description="register mode")
    pulse_ms: int = Field(default=500, ge=20, le=60_000)
    directions: dict[str, int] = Field(
        default_factory=dict, description="direction -> address, e.g. {in = 0, out = 1}"
    )
    probe_interval_s: float = Field(default=10.0, gt=0)


class OpenArgs(BaseModel):
    direction: str | None = Field(default=None, max_length=16)
    pulse_ms: int | None = Field(default=None, ge=20, le=60_000)


class ModbusGatePlugin(BasePlugin):
    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        s = self.settings = GateSettings.model_validate(dict(ctx.settings))
        self.bus = modbus_bus.acquire(s.port, baudrate=s.baudrate, timeout_s=s.timeout_s)
        self.relay = ModbusRelay(
            self.bus,
            slave=s.slave,
            output=self._output(s.address),
            pulse_ms=s.pulse_ms,
            on_error=lambda exc: self._set_health("degraded", f"relay off failed: {exc}"),
        )
        self._health: tuple[HealthState, str] | None = None
        self.opened = 0
        ctx.register_action(f"{ctx.name}.open", self._open, args_model=OpenArgs)
        ctx.register_action(f"{ctx.name}.status", self._status)

    def _output(self, address: int) -> Output:
        s = self.settings
        return Output(s.output, address, s.on_value, s.off_value)

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        super().stop()
        self.relay.close()
        modbus_bus.release(self.bus)

    def run(self) -> None:
        stop = self.ctx.stop_event
        while not stop.is_set():
            self._probe()
            stop.wait(self.settings.probe_interval_s)

    def _probe(self) -> bool:
        try:
            self.relay.probe()
        except modbus_bus.ModbusError as exc:
            self._set_health("degraded", f"relay board not answering: {exc}")
            return False
        self._set_health("ok", f"slave {self.settings.slave} on {self.settings.port}")
        return True

    def _set_health(self, state: HealthState, detail: str) -> None:
        if self._health != (state, detail):
            self._health = (state, detail)
            self.ctx.set_health(state, detail[:300])

    # -- actions -----------------------------------------------------------------------------

    def open(self, pulse_ms: int | None = None, direction: str | None = None) -> dict[str, Any]:
        """Pulse the relay for ``direction`` (default output when None or unmapped)."""
        s = self.settings
        if direction is not None and direction in s.directions:
            output = self._output(s.directions[direction])
        elif direction is not None and s.directions:
            raise ValueError(f"unknown direction {direction!r}; known: {sorted(s.directions)}")
        else:
            output = self.relay.output
        pulse = pulse_ms if pulse_ms is not None else s.pulse_ms
        try:
            self.relay.open(pulse, output)
        except modbus_bus.ModbusError as exc:
            self._set_health("degraded", f"open failed: {exc}")
            raise
        self.opened += 1
        self._set_health("ok", f"slave {s.slave} on {s.port}")
        return {"opened": True, "address": output.address, "pulse_ms": pulse}

    def _open(self, request: CommandRequest) -> dict[str, Any]:
        return self.open(request.args.get("pulse_ms"), request.args.get("direction"))

    def _status(self, request: CommandRequest) -> dict[str, Any]:
        alive = self._probe()
        return {
            "port": self.settings.port,
            "slave": self.settings.slave,
            "answering": alive,
            "health": self._health[0] if self._health else "starting",
            "detail": self._health[1] if self._health else "",
            "opened": self.opened,
        }
