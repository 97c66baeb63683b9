"""``ExpertGatePlugin`` (kind ``expert_gate``): the gate in front of an evaluation area.

It reads nothing itself: it subscribes to the local bus for ID cards (``idcard.read``, from
``idcard_sam``; ``idcard.unreadable`` for a card the reader could not read, refused as
``unreadable`` so the guard checks the person by hand) and IC-card UIDs (``iccard.uid``, from
``pcsc_reader``), decides on the agent
against the roster of its settings (``roster``: a
:class:`~contract.payloads.access.GateRoster`, pushed by the collector as desired config
section ``expert_gate`` and cached by the agent, so it decides with the collector unreachable),
opens the gate through another instance's action (``gate_action``) on admission, and emits one
``access.admission`` event per attempt. Repeated refusals of one credential within the window
degrade its health (the collector raises its own alert from the events).

Settings: :class:`~device_plugins.expert_gate.gatekeeper.ExpertGateSettings`; desired config
applies live. Action ``<name>.status`` {} answers the counts, the roster version and the rooms.
With ``screen_enabled`` it serves the guard's status screen (``screen.py``): the last attempt
large (请通行 / 禁止通行 with the reason), the recent ones below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from device_plugins.expert_gate.gatekeeper import ExpertGateSettings, Gatekeeper
from device_plugins.expert_gate.screen import Screen
from device_plugins.messages import (
    CARD_READ,
    CARD_UID,
    CARD_UNREADABLE,
    CardRead,
    CardUid,
    CardUnreadable,
)
from edge_agent.plugin_api import BasePlugin, CommandRequest, HealthState, PluginContext


class ExpertGatePlugin(BasePlugin):
    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self._health: tuple[HealthState, str] | None = None
        self.screen: Screen | None = None
        self.keeper = Gatekeeper(
            ExpertGateSettings.model_validate(dict(ctx.settings)),
            device=ctx.device,
            emit=ctx.emit,
            call_action=ctx.call_action,
            logger=ctx.logger,
            on_change=self._report_health,
        )
        ctx.register_action(f"{ctx.name}.status", self._status)

    def start(self) -> None:
        self.ctx.subscribe_local(CARD_READ, self._on_id_card)
        self.ctx.subscribe_local(CARD_UID, self._on_card_uid)
        self.ctx.subscribe_local(CARD_UNREADABLE, self._on_unreadable)
        self._start_screen(self.keeper.settings)
        self._report_health()
        super().start()

    def stop(self) -> None:
        self.ctx.stop_event.set()
        if self.screen is not None:
            self.screen.stop()
            self.screen = None
        super().stop()

    def run(self) -> None:
        while not self.ctx.stop_event.wait(1.0):
            self._report_health()  # refusal streaks age out of their window

    def apply_config(self, settings: Mapping[str, Any]) -> None:
        new = ExpertGateSettings.model_validate(dict(settings))
        old = self.keeper.settings
        self.keeper.reconfigure(new)
        if _screen_key(new) != _screen_key(old):
            if self.screen is not None:
                self.screen.stop()
                self.screen = None
            self._start_screen(new)
        self.ctx.logger.info("roster version %d applied", self.keeper.settings.roster.version)
        self._report_health()

    def _start_screen(self, s: ExpertGateSettings) -> None:
        if not s.screen_enabled:
            return
        screen = Screen(
            self.keeper.snapshot,
            host=s.screen_host,
            port=s.screen_port,
            allowed_hosts=s.screen_allowed_hosts,
            logger=self.ctx.logger,
        )
        screen.start()  # a port in use fails the start: the agent retries with backoff
        self.screen = screen

    def _on_id_card(self, message: object) -> None:
        if isinstance(message, CardRead) and not self.ctx.stop_event.is_set():
            self.keeper.on_id_card(message)

    def _on_card_uid(self, message: object) -> None:
        if isinstance(message, CardUid) and not self.ctx.stop_event.is_set():
            self.keeper.on_card_uid(message)

    def _on_unreadable(self, message: object) -> None:
        if isinstance(message, CardUnreadable) and not self.ctx.stop_event.is_set():
            self.keeper.on_unreadable(message)

    def _report_health(self) -> None:
        k = self.keeper
        roster = k.settings.roster
        detail = f"gate {k.gate}, roster v{roster.version}, rooms {sorted(k.index.rooms)}"
        problems = []
        if not k.index.usable:
            problems.append("no roster key yet: everyone is refused")
        if not k.index.rooms:
            problems.append("no rooms behind this gate")
        if k.gate_problem:
            problems.append(f"gate failed: {k.gate_problem}")
        alerting = k.alerting()
        if alerting:
            problems.append(f"repeated refusals of {len(alerting)} credential(s)")
        state: HealthState = "degraded" if problems else "ok"
        text = "; ".join([*problems, detail])
        if self._health != (state, text):
            self._health = (state, text)
            self.ctx.set_health(
                state,
                text[:500],
                data={
                    "roster_version": roster.version,
                    "admitted": k.counts["admitted"],
                    "refused": k.counts["refused"],
                    "refusal_alerts": len(alerting),
                },
            )

    def _status(self, request: CommandRequest) -> dict[str, Any]:
        k = self.keeper
        last = k.last
        return {
            "gate": k.gate,
            "roster_version": k.settings.roster.version,
            "rooms": sorted(k.index.rooms),
            "sessions": len(k.index.sessions),
            "counts": dict(k.counts),
            "refusal_alerts": len(k.alerting()),
            "screen": self.screen.url if self.screen else None,
            "last": None
            if last is None
            else {
                "decision": last.decision,
                "reason": last.reason,
                "label": last.label,
                "decision_ms": last.decision_ms,
            },
        }


def _screen_key(s: ExpertGateSettings) -> tuple[object, ...]:
    return (s.screen_enabled, s.screen_host, s.screen_port, tuple(s.screen_allowed_hosts))
