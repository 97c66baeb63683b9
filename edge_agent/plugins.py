"""Loading, starting, supervising and reconfiguring device plugin instances.

Instances come from ``[plugins.<name>]`` sections; ``kind`` names an entry point of group
``prtc.device_plugins``. A plugin that fails to load or raises in ``start`` is marked
``failed`` in health and retried with exponential backoff (1 s doubling to 5 min); it never
takes the agent down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contract.envelopes import ConfigEnvelope
from contract.payloads.agent import PluginHealth
from edge_agent.commands import CommandExecutor
from edge_agent.local_bus import LocalBus
from edge_agent.logs import Logger, device_logger
from edge_agent.plugin_api import (
    ActionHandler,
    DevicePlugin,
    HealthState,
    PluginFactory,
)
from edge_agent.settings import PluginSection
from edge_agent.uploader import Uploader

ENTRY_POINT_GROUP = "prtc.device_plugins"
RETRY_MAX_S = 300.0
# Sections of the desired config that are not plugin instances.
NON_PLUGIN_SECTIONS = frozenset({"rules"})

Emit = Callable[[str, BaseModel | Mapping[str, Any]], int]
Loader = Callable[[str], PluginFactory]


class UnknownPluginKind(LookupError):
    pass


def load_entry_point(kind: str) -> PluginFactory:
    """The factory registered under ``kind`` in the ``prtc.device_plugins`` group."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=kind)
    if not found:
        raise UnknownPluginKind(f"no plugin kind {kind!r} in entry-point group {ENTRY_POINT_GROUP}")
    factory: PluginFactory = next(iter(found)).load()
    return factory


class _Context:
    """The :class:`PluginContext` one instance gets; a fresh one for every (re)start."""

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        centre: str,
        device: str,
        settings: Mapping[str, Any],
        emit: Emit,
        executor: CommandExecutor,
        bus: LocalBus,
        on_health: Callable[[_Context, PluginHealth], None],
        uploader: Uploader | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.centre = centre
        self.device = device
        self.settings: Mapping[str, Any] = dict(settings)
        self.logger: Logger = device_logger(f"device_plugins.{kind}", device, name)
        self.stop_event = threading.Event()
        self._emit = emit
        self._executor = executor
        self._bus = bus
        self._on_health = on_health
        self._uploader = uploader

    def __repr__(self) -> str:
        return f"<plugin context {self.name} ({self.kind})>"

    def emit(self, event_type: str, payload: BaseModel | Mapping[str, Any]) -> int:
        return self._emit(event_type, payload)

    def set_health(
        self, state: HealthState, detail: str = "", *, data: Mapping[str, Any] | None = None
    ) -> None:
        health = PluginHealth(state=state, detail=detail[:500], data=dict(data or {}))
        self._on_health(self, health)

    def register_action(
        self,
        action: str,
        handler: ActionHandler,
        *,
        job: bool = False,
        args_model: type[BaseModel] | None = None,
    ) -> None:
        self._executor.register(action, handler, job=job, args_model=args_model, owner=self.name)

    def publish_local(self, topic: str, message: object) -> None:
        self._bus.publish(topic, message)

    def subscribe_local(self, topic: str, handler: Callable[[object], None]) -> None:
        # A stopped context's late subscription would outlive its instance: refuse it.
        if self.stop_event.is_set():
            self.logger.warning("ignoring subscription to %r after stop", topic)
            return
        self._bus.subscribe(self, topic, handler)

    def call_action(self, action: str, args: Mapping[str, Any] | None = None) -> Any:
        return self._executor.call(action, args)

    def upload(
        self,
        path: Path | str,
        *,
        kind: str,
        meta: Mapping[str, Any] | None = None,
        delete_after: bool | None = None,
    ) -> str:
        if self._uploader is None:
            raise RuntimeError("this agent has no uploader")
        return self._uploader.enqueue(
            path, kind=kind, meta=dict(meta or {}), delete_after=delete_after
        )

    def upload_state(self, upload_id: str) -> str | None:
        return None if self._uploader is None else self._uploader.state(upload_id)


@dataclass
class _Instance:
    name: str
    section: PluginSection
    plugin: DevicePlugin | None = None
    ctx: _Context | None = None
    failures: int = 0
    retry_at: float | None = None


class PluginManager:
    def __init__(
        self,
        *,
        centre: str,
        device: str,
        sections: Mapping[str, PluginSection],
        emit: Emit,
        executor: CommandExecutor,
        desired: Callable[[str], Mapping[str, Any]],
        logger: Logger,
        loader: Loader = load_entry_point,
        clock: Callable[[], float] = time.monotonic,
        bus: LocalBus | None = None,
        uploader: Uploader | None = None,
    ) -> None:
        self._centre = centre
        self._device = device
        self._emit = emit
        self._executor = executor
        self._desired = desired
        self._logger = logger
        self._loader = loader
        self._clock = clock
        self.bus = bus or LocalBus(logger)
        self._uploader = uploader
        # Lifecycle changes hold _lock (and may join plugin threads); health has its own lock
        # so that a plugin thread reporting health while being stopped cannot deadlock.
        self._lock = threading.RLock()
        self._health_lock = threading.Lock()
        self._instances = {
            name: _Instance(name, section) for name, section in sections.items() if section.enabled
        }
        self._health = {name: PluginHealth(state="stopped") for name in self._instances}

    def names(self) -> list[str]:
        return list(self._instances)

    def health(self) -> dict[str, PluginHealth]:
        with self._health_lock:
            return dict(self._health)

    def start_all(self) -> None:
        for name in self._instances:
            self.restart(name)

    def stop_all(self) -> None:
        with self._lock:
            for inst in self._instances.values():
                self._stop(inst)
                inst.retry_at = None

    def restart(self, name: str, settings: Mapping[str, Any] | None = None) -> PluginHealth:
        """(Re)start one instance now; raise KeyError for an unknown name."""
        with self._lock:
            inst = self._instances[name]
            self._stop(inst)
            inst.failures = 0
            self._start(inst, settings)
            return self._health_of(inst)

    def retry_due(self) -> None:
        """Retry failed starts whose backoff has elapsed (called periodically)."""
        now = self._clock()
        with self._lock:
            for inst in self._instances.values():
                if inst.retry_at is not None and now >= inst.retry_at:
                    self._stop(inst)
                    self._start(inst, None)

    def apply_desired(self, envelope: ConfigEnvelope) -> list[str]:
        """Give each instance its new desired settings; return the errors."""
        errors: list[str] = []
        for name in envelope.config:
            if name not in self._instances and name not in NON_PLUGIN_SECTIONS:
                self._logger.warning("desired config names unknown plugin instance %r", name)
        with self._lock:
            for name, inst in self._instances.items():
                section = envelope.config.get(name, {})
                if not isinstance(section, dict):
                    errors.append(f"{name}: section must be a table")
                    continue
                wanted = {**inst.section.plugin_settings, **section}
                try:
                    self._reconfigure(inst, wanted)
                except Exception as exc:  # report, keep the other instances going
                    self._logger.exception("plugin %s refused its desired config", name)
                    errors.append(f"{name}: {exc or type(exc).__name__}")
        return errors

    # -- internals -------------------------------------------------------------------------

    def _reconfigure(self, inst: _Instance, wanted: dict[str, Any]) -> None:
        running = inst.plugin is not None and inst.ctx is not None and inst.retry_at is None
        if running and inst.ctx is not None and dict(inst.ctx.settings) == wanted:
            return
        apply = getattr(inst.plugin, "apply_config", None)
        if running and inst.ctx is not None and callable(apply):
            apply(wanted)
            inst.ctx.settings = wanted
            return
        # No live reconfiguration (or not running): restart with the new settings.
        self._stop(inst)
        inst.failures = 0
        self._start(inst, wanted)
        if inst.retry_at is not None:
            raise RuntimeError(self._health_of(inst).detail or "failed to start")

    def _health_of(self, inst: _Instance) -> PluginHealth:
        with self._health_lock:
            return self._health[inst.name]

    def _put_health(self, inst: _Instance, health: PluginHealth, *, unless: str = "") -> None:
        with self._health_lock:
            if self._health[inst.name].state != unless:
                self._health[inst.name] = health

    def _on_health(self, ctx: _Context, health: PluginHealth) -> None:
        inst = self._instances.get(ctx.name)
        # A context of an instance that has since been restarted no longer speaks for it.
        if inst is not None and inst.ctx is ctx:
            self._put_health(inst, health)

    def _start(self, inst: _Instance, settings: Mapping[str, Any] | None) -> None:
        if settings is None:
            settings = {**inst.section.plugin_settings, **self._desired(inst.name)}
        ctx = _Context(
            name=inst.name,
            kind=inst.section.kind,
            centre=self._centre,
            device=self._device,
            settings=settings,
            emit=self._emit,
            executor=self._executor,
            bus=self.bus,
            on_health=self._on_health,
            uploader=self._uploader,
        )
        inst.ctx, inst.plugin, inst.retry_at = ctx, None, None
        self._put_health(inst, PluginHealth(state="starting"))
        try:
            factory = self._loader(inst.section.kind)
            inst.plugin = factory(ctx)
            inst.plugin.start()
        except Exception as exc:
            inst.failures += 1
            delay = min(RETRY_MAX_S, 2.0 ** (inst.failures - 1))
            self._logger.exception(
                "plugin %s (%s) failed to start; retry in %.0f s",
                inst.name,
                inst.section.kind,
                delay,
            )
            self._stop(inst)
            self._put_health(
                inst, PluginHealth(state="failed", detail=f"start failed: {exc}"[:500])
            )
            inst.retry_at = self._clock() + delay
            return
        with self._health_lock:
            if self._health[inst.name].state == "starting":
                self._health[inst.name] = PluginHealth(state="ok")
        self._logger.info("plugin %s (%s) started", inst.name, inst.section.kind)

    def _stop(self, inst: _Instance) -> None:
        if inst.ctx is not None:
            inst.ctx.stop_event.set()
        if inst.plugin is not None:
            try:
                inst.plugin.stop()
            except Exception:  # a plugin that cannot stop cleanly is still stopped for us
                self._logger.exception("plugin %s raised in stop", inst.name)
        self._executor.unregister_owner(inst.name)
        if inst.ctx is not None:
            self.bus.unsubscribe_owner(inst.ctx)
        inst.plugin = None
        inst.ctx = None
        self._put_health(inst, PluginHealth(state="stopped"), unless="failed")
