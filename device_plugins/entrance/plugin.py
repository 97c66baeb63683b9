"""``EntrancePlugin``: the entrance workflow of an entrance PC (kind ``entrance``).

It reads nothing itself: it subscribes to the local bus for the cards the reader plugins read
(``idcard.read``; ``idcard.unreadable`` for cards that gave no visitor, shown to the operator)
and the temperatures the thermometer plugins take (``temperature.reading``),
decides on the agent with the rules of its settings (``rules``, pushed by the collector as
desired config and cached by the agent, so a restart without network decides with the last
rules; the defaults of :class:`~contract.payloads.entrance.EntranceRules` until the first
push), opens the gate through another instance's action (``gate_action``) and emits one
``entrance.passage`` event per swipe. It serves the operator's screen (``kiosk.py``).

Settings: :class:`~device_plugins.entrance.door.EntranceSettings`. Desired config changes
apply live (a changed kiosk address restarts only the screen).

Actions (``<instance>.<verb>``; the instance is usually named ``entrance``): ``confirm``
{passage_id?, operator?}, ``refuse`` {passage_id?, operator?}, ``manual_entry`` {name,
id_number, direction?, temperature_c?}, ``manual_temperature`` {celsius}, ``set_direction``
{direction}, ``status`` {}. Results never carry an ID number in clear.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from contract.idnumber import divisions
from device_plugins.entrance.door import Direction, Door, EntranceSettings
from device_plugins.entrance.kiosk import Kiosk, ManualEntryArgs
from device_plugins.messages import (
    CARD_READ,
    CARD_UNREADABLE,
    TEMPERATURE,
    CardRead,
    CardUnreadable,
    TemperatureReading,
)
from edge_agent.plugin_api import BasePlugin, CommandRequest, PluginContext


class DecideArgs(BaseModel):
    passage_id: str | None = Field(default=None, max_length=64)
    operator: str = Field(default="", max_length=64)


class TemperatureArgs(BaseModel):
    celsius: float = Field(ge=25, le=45)


class DirectionArgs(BaseModel):
    direction: Direction


class EntrancePlugin(BasePlugin):
    thread_name = "entrance"

    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self.settings = EntranceSettings.model_validate(dict(ctx.settings))
        self._gate_problem = ""
        self._lock = threading.Lock()
        self.door = Door(
            self.settings,
            emit=ctx.emit,
            call_action=ctx.call_action,
            logger=ctx.logger,
            on_gate=self._on_gate,
        )
        self.kiosk: Kiosk | None = None
        name = ctx.name
        ctx.register_action(f"{name}.confirm", self._confirm, args_model=DecideArgs)
        ctx.register_action(f"{name}.refuse", self._refuse, args_model=DecideArgs)
        ctx.register_action(f"{name}.manual_entry", self._manual_entry, args_model=ManualEntryArgs)
        ctx.register_action(
            f"{name}.manual_temperature", self._manual_temperature, args_model=TemperatureArgs
        )
        ctx.register_action(f"{name}.set_direction", self._set_direction, args_model=DirectionArgs)
        ctx.register_action(f"{name}.status", self._status)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        divisions()  # load the division table now, not during the first visitor's decision
        self.ctx.subscribe_local(CARD_READ, self._on_card)
        self.ctx.subscribe_local(CARD_UNREADABLE, self._on_unreadable)
        self.ctx.subscribe_local(TEMPERATURE, self._on_temperature)
        self._start_kiosk(self.settings)
        self._report_health()
        super().start()

    def stop(self) -> None:
        self.ctx.stop_event.set()
        if self.kiosk is not None:
            self.kiosk.stop()
            self.kiosk = None
        super().stop()

    def run(self) -> None:
        while not self.ctx.stop_event.wait(1.0):
            for visitor in self.door.expire():
                self.ctx.logger.info(
                    "visitor %s waited %.0f s unanswered: refused",
                    visitor.passage_id,
                    self.settings.pending_timeout_s,
                )

    def apply_config(self, settings: Mapping[str, Any]) -> None:
        new = EntranceSettings.model_validate(dict(settings))
        with self._lock:
            old = self.settings
            kiosk_changed = (
                new.kiosk_enabled,
                new.kiosk_host,
                new.kiosk_port,
                new.kiosk_allowed_hosts,
            ) != (
                old.kiosk_enabled,
                old.kiosk_host,
                old.kiosk_port,
                old.kiosk_allowed_hosts,
            )
            self.settings = new
            self.door.reconfigure(new)
            if kiosk_changed:
                if self.kiosk is not None:
                    self.kiosk.stop()
                    self.kiosk = None
                self._start_kiosk(new)
        self.ctx.logger.info("entrance settings applied (rules version %d)", new.rules.version)
        self._report_health()

    # -- local bus -----------------------------------------------------------------------------

    def _on_card(self, message: object) -> None:
        if isinstance(message, CardRead) and not self.ctx.stop_event.is_set():
            self.door.on_card(message)

    def _on_unreadable(self, message: object) -> None:
        if isinstance(message, CardUnreadable) and not self.ctx.stop_event.is_set():
            self.door.on_unreadable(message)

    def _on_temperature(self, message: object) -> None:
        if isinstance(message, TemperatureReading) and not self.ctx.stop_event.is_set():
            self.door.on_temperature(message)

    # -- actions -------------------------------------------------------------------------------

    def _confirm(self, req: CommandRequest) -> dict[str, Any]:
        return self.door.confirm(req.args.get("passage_id"), req.args.get("operator", "")).view()

    def _refuse(self, req: CommandRequest) -> dict[str, Any]:
        return self.door.refuse(req.args.get("passage_id"), req.args.get("operator", "")).view()

    def _manual_entry(self, req: CommandRequest) -> dict[str, Any]:
        a = req.args
        return self.door.manual_entry(
            a["name"],
            a["id_number"],
            direction=a.get("direction"),
            temperature_c=a.get("temperature_c"),
        ).view()

    def _manual_temperature(self, req: CommandRequest) -> dict[str, Any]:
        visitor = self.door.on_temperature(
            TemperatureReading("manual", float(req.args["celsius"]), "manual")
        )
        return {"visitor": visitor.view() if visitor else None}

    def _set_direction(self, req: CommandRequest) -> dict[str, Any]:
        self.door.set_direction(req.args["direction"])
        return {"direction": self.door.direction}

    def _status(self, req: CommandRequest) -> dict[str, Any]:
        snap = self.door.snapshot()
        return {
            "door": snap["door"],
            "direction": snap["direction"],
            "rules_version": snap["rules_version"],
            "counts": snap["counts"],
            "pending": len(snap["pending"]),
            "kiosk": self.kiosk.url if self.kiosk else None,
        }

    # -- internals -----------------------------------------------------------------------------

    def _start_kiosk(self, settings: EntranceSettings) -> None:
        if not settings.kiosk_enabled:
            return
        kiosk = Kiosk(
            self.door,
            host=settings.kiosk_host,
            port=settings.kiosk_port,
            allowed_hosts=settings.kiosk_allowed_hosts,
            logger=self.ctx.logger,
        )
        kiosk.start()  # a port in use fails the start: the agent retries with backoff
        self.kiosk = kiosk

    def _on_gate(self, ok: bool, detail: str) -> None:
        problem = "" if ok else detail
        if problem != self._gate_problem:
            self._gate_problem = problem
            self._report_health()

    def _report_health(self) -> None:
        s = self.settings
        where = f", screen {self.kiosk.url}" if self.kiosk else ""
        detail = f"door {s.door}, rules v{s.rules.version}{where}"
        if self._gate_problem:
            self.ctx.set_health("degraded", f"gate failed: {self._gate_problem}; {detail}")
        else:
            self.ctx.set_health("ok", detail)
