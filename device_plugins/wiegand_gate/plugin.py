"""``WiegandGatePlugin`` (kind ``wiegand_gate``): a door of a Wiegand access controller on UDP.

Action ``<name>.open`` {door?, direction?, pulse_ms?} sends the controller's remote-open
(function 0x40) and returns once the controller confirmed it. It is a plain action, so a
workflow on the same agent calls it with ``ctx.call_action`` (no round trip), and the collector
can send it as a command. ``door`` defaults to the configured one; ``directions`` maps "in" /
"out" to doors. ``pulse_ms`` is accepted for the same interface as ``modbus_gate`` but the
controller holds the door for its own open delay (set on the controller). Action
``<name>.status`` queries the controller. Health is degraded while it does not answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from device_plugins.wiegand_gate import protocol as p
from device_plugins.wiegand_gate.controller import ControllerError, WiegandController
from edge_agent.plugin_api import BasePlugin, CommandRequest, HealthState, PluginContext


class WiegandGateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="controller IP address")
    port: int = Field(default=p.PORT, ge=1, le=65535)
    serial: int = Field(ge=0, le=0xFFFFFFFF, description="serial number printed on the board")
    door: int = Field(default=1, ge=1, le=4)
    directions: dict[str, int] = Field(
        default_factory=dict, description="direction -> door, e.g. {in = 1, out = 2}"
    )
    timeout_s: float = Field(default=0.3, gt=0, le=5, description="per attempt")
    retries: int = Field(default=2, ge=0, le=10)
    probe_interval_s: float = Field(default=30.0, gt=0)


class OpenArgs(BaseModel):
    door: int | None = Field(default=None, ge=1, le=4)
    direction: str | None = Field(default=None, max_length=16)
    pulse_ms: int | None = Field(default=None, ge=20, le=60_000)


class WiegandGatePlugin(BasePlugin):
    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        s = self.settings = WiegandGateSettings.model_validate(dict(ctx.settings))
        self.controller = WiegandController(
            s.host, serial=s.serial, port=s.port, timeout_s=s.timeout_s, retries=s.retries
        )
        self._health: tuple[HealthState, str] | None = None
        self.opened = 0
        ctx.register_action(f"{ctx.name}.open", self._open, args_model=OpenArgs)
        ctx.register_action(f"{ctx.name}.status", self._status)

    def stop(self) -> None:
        super().stop()
        self.controller.close()

    def run(self) -> None:
        stop = self.ctx.stop_event
        while not stop.is_set():
            self._probe()
            stop.wait(self.settings.probe_interval_s)

    def _where(self) -> str:
        s = self.settings
        return f"controller {s.serial} at {s.host}:{s.port}"

    def _probe(self) -> bool:
        try:
            self.controller.probe()
        except ControllerError as exc:
            self._set_health("degraded", str(exc))
            return False
        self._set_health("ok", self._where())
        return True

    def _set_health(self, state: HealthState, detail: str) -> None:
        if self._health != (state, detail):
            self._health = (state, detail)
            self.ctx.set_health(state, detail[:300])

    def open(
        self, pulse_ms: int | None = None, direction: str | None = None, door: int | None = None
    ) -> dict[str, Any]:
        s = self.settings
        if door is None and direction is not None:
            if direction in s.directions:
                door = s.directions[direction]
            elif s.directions:
                raise ValueError(f"unknown direction {direction!r}; known: {sorted(s.directions)}")
        door = door or s.door
        try:
            self.controller.open_door(door)
        except ControllerError as exc:
            self._set_health("degraded", f"open failed: {exc}")
            raise
        self.opened += 1
        self._set_health("ok", self._where())
        return {"opened": True, "door": door, "pulse_ms": None}

    def _open(self, request: CommandRequest) -> dict[str, Any]:
        a = request.args
        return self.open(a.get("pulse_ms"), a.get("direction"), a.get("door"))

    def _status(self, request: CommandRequest) -> dict[str, Any]:
        alive = self._probe()
        return {
            "controller": self.settings.serial,
            "address": f"{self.settings.host}:{self.settings.port}",
            "answering": alive,
            "opened": self.opened,
        }
