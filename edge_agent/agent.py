"""The agent: wires outbox, link, sender, commands, desired config, plugins and heartbeat.

Threads per agent: the MQTT network thread (:mod:`edge_agent.mqtt_link`), the sender, the
dispatcher (link events: receipts, commands, config) and one periodic thread (heartbeat,
sweeps, supervision, watchdog); plugins add their own. The outbox is opened and plugins are
started before the first connection attempt, so events are captured and persisted from the
first second even when the broker is unreachable at boot. Nothing is module-level: several
agents can run in one process.
"""

from __future__ import annotations

import dataclasses
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from contract.envelopes import Receipt
from contract.payloads.agent import OutboxEvicted
from contract.topics import TopicKind
from edge_agent import meta, systemd
from edge_agent.commands import CommandExecutor
from edge_agent.db import Database
from edge_agent.desired_config import DesiredConfigCache, DesiredConfigHandler
from edge_agent.events import EventWriter, Payload
from edge_agent.heartbeat import AgentFigures, HostProbe, build_heartbeat
from edge_agent.logs import device_logger
from edge_agent.mqtt_link import Inbound, LinkDown, LinkEvent, LinkUp, MqttLink
from edge_agent.outbox import Outbox, class_name
from edge_agent.periodic import Periodic
from edge_agent.plugin_api import CommandRequest
from edge_agent.plugins import Loader, PluginManager, load_entry_point
from edge_agent.sender import Sender
from edge_agent.settings import AgentSettings
from edge_agent.upload_queue import UploadQueue
from edge_agent.uploader import Uploader

OUTBOX_FILE = "outbox.db"
UPLOADS_FILE = "uploads.db"
SUPERVISE_S = 1.0
EVICTION_REPORT_S = 5.0  # evictions within this window form one burst → one event per class
RECEIPT_PERSIST_S = 5.0
PRUNE_S = 3600.0


class RestartPluginArgs(BaseModel):
    name: str = Field(min_length=1, max_length=64)


class Agent:
    """One agent. Components (``outbox``, ``link``, ``sender``, ``executor``, ``plugins``,
    ``config``, ``events``) exist once :meth:`start` has built them."""

    def __init__(
        self, settings: AgentSettings, *, plugin_loader: Loader = load_entry_point
    ) -> None:
        self.settings = settings
        self.centre = settings.agent.centre
        self.device = settings.agent.device
        self.logger = device_logger("edge_agent", self.device)
        self._loader = plugin_loader
        self._stop = threading.Event()  # stops the agent's own threads
        self._shutdown = threading.Event()  # asks run_forever to stop
        self._threads: dict[str, tuple[threading.Thread, Callable[[], None]]] = {}
        self._events: queue.Queue[LinkEvent] = queue.Queue()
        self._state = "new"
        self._persisted_receipt_at: float | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the outbox, start plugins, then the threads and the MQTT link."""
        if self._state != "new":
            raise RuntimeError(f"agent already {self._state}")
        self._state = "starting"
        self._build()
        recovered = self.executor.recover()
        if recovered:
            self.logger.warning("%d command(s) were interrupted by the last stop", recovered)
        self.uploader.start()
        self.plugins.start_all()  # capture from the first second, network or not
        self._spawn("sender", lambda: self.sender.run(self._stop))
        self._spawn("dispatcher", self._dispatch)
        self._spawn("periodic", lambda: self._periodic().run(self._stop))
        self.link.start()
        self._state = "running"
        self.logger.info(
            "agent started (boot %d, %d plugin(s), outbox depth %d)",
            self.boot,
            len(self.plugins.names()),
            self.outbox.depth(),
        )
        systemd.notify("READY=1")

    def _build(self) -> None:
        s = self.settings
        state_dir = s.agent.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(Database(state_dir / OUTBOX_FILE), s.outbox.limits())
        self.meta = meta.Meta(self.outbox.db)
        self.boot = self.meta.increment_boot()
        self._started_at = time.monotonic()
        self.events = EventWriter(self.outbox, centre=self.centre, device=self.device)
        self.executor = CommandExecutor(
            outbox=self.outbox,
            centre=self.centre,
            device=self.device,
            max_in_flight=s.commands.max_in_flight,
            logger=self.logger,
        )
        self.config = DesiredConfigHandler(
            cache=DesiredConfigCache(state_dir, self.logger),
            store=self.meta,
            apply=lambda envelope: self.plugins.apply_desired(envelope),
            emit=self.emit,
            logger=self.logger,
        )
        self.uploader = Uploader(
            UploadQueue(state_dir / UPLOADS_FILE),
            s.uploads,
            device=self.device,
            emit=self.emit,
            logger=self.logger,
        )
        self.plugins = PluginManager(
            centre=self.centre,
            device=self.device,
            sections=s.plugins,
            emit=self.emit,
            executor=self.executor,
            desired=self.config.section,
            logger=self.logger,
            loader=self._loader,
            uploader=self.uploader,
        )
        self.link = MqttLink(
            s.mqtt,
            centre=self.centre,
            device=self.device,
            boot=self.boot,
            agent_version=s.agent.agent_version,
            events=self._events,
            logger=self.logger,
        )
        self.sender = Sender(
            outbox=self.outbox,
            publish=self.link.publish,
            centre=self.centre,
            device=self.device,
            max_inflight=s.mqtt.max_inflight,
            resend_after_s=s.outbox.resend_after_s,
            logger=self.logger,
        )
        self.outbox.on_append(self.sender.wake)
        self.host = HostProbe(state_dir)
        self._register_agent_actions()
        self._set_link_state("disconnected")

    def stop(self) -> None:
        """Stop plugins and commands, then the sender, then say offline and disconnect."""
        if self._state != "running":
            return
        self._state = "stopping"
        systemd.notify("STOPPING=1")
        self.plugins.stop_all()
        self.executor.stop(timeout=2.0)
        self.uploader.stop()
        self._stop.set()
        self.sender.wake()
        for thread, _ in self._threads.values():
            thread.join(timeout=5.0)
        self.link.close()
        self._persist_receipt()
        self._set_link_state("stopped")
        self.outbox.close()
        self.uploader.queue.close()
        self._state = "stopped"
        self.logger.info("agent stopped")

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to return (safe from signal handlers and other threads)."""
        self._shutdown.set()

    def run_forever(self) -> None:
        """Start, run until SIGTERM/SIGINT (or :meth:`request_stop`), stop cleanly."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self.request_stop())
        self.start()
        try:
            while not self._shutdown.wait(1.0):
                pass
        finally:
            self.stop()

    @property
    def running(self) -> bool:
        return self._state == "running"

    # -- events ----------------------------------------------------------------------------

    def emit(self, event_type: str, payload: Payload) -> int:
        """Validate and store one event durably; return its seq."""
        return self.events.emit(event_type, payload)

    def status(self) -> dict[str, Any]:
        receipt = self.sender.last_receipt
        return {
            "centre": self.centre,
            "device": self.device,
            "boot": self.boot,
            "session": self.link.session,
            "connected": self.link.connected,
            "uptime_s": round(time.monotonic() - self._started_at, 3),
            "outbox": self.outbox.stats().model_dump(),
            "in_flight": self.sender.in_flight(),
            "published": self.sender.published,
            "last_receipt_at": receipt.at if receipt else None,
            "plugins": {n: h.model_dump() for n, h in self.plugins.health().items()},
            "config_version": self.config.applied_version,
            "commands_in_flight": self.executor.in_flight(),
            "uploads": _asdict(self.uploader.stats()),
        }

    # -- threads ---------------------------------------------------------------------------

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"{self.device}/{name}", daemon=True)
        self._threads[name] = (thread, target)
        thread.start()

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._handle(item)
            except Exception:  # one bad message must not stop the dispatcher
                self.logger.exception("handling %r failed", type(item).__name__)

    def _handle(self, item: LinkEvent) -> None:
        if isinstance(item, LinkUp):
            self.sender.on_link_up()
            self._set_link_state("connected")
        elif isinstance(item, LinkDown):
            self.sender.on_link_down()
            self._set_link_state("disconnected")
        elif isinstance(item, Inbound):
            if item.kind is TopicKind.RECEIPT:
                try:
                    receipt = Receipt.model_validate_json(item.payload)
                except ValidationError as exc:
                    self.logger.warning("dropping invalid receipt: %s", exc.errors()[0])
                    return
                self.sender.on_receipt(receipt)
            elif item.kind is TopicKind.CMD:
                self.executor.submit(item.payload)
            elif item.kind is TopicKind.CONFIG:
                self.config.handle(item.payload)

    def _periodic(self) -> Periodic:
        periodic = Periodic(self.logger)
        periodic.every(
            self.settings.agent.heartbeat_interval_s, self._heartbeat, name="heartbeat", now=True
        )
        periodic.every(SUPERVISE_S, self._supervise, name="supervise")
        periodic.every(EVICTION_REPORT_S, self._report_evictions, name="evictions")
        periodic.every(self.settings.outbox.sweep_interval_s, self.outbox.evict_expired, name="age")
        periodic.every(RECEIPT_PERSIST_S, self._persist_receipt, name="receipt")
        periodic.every(
            PRUNE_S,
            lambda: self.executor.prune(self.settings.commands.remember_s),
            name="prune",
            now=True,
        )
        watchdog = systemd.watchdog_period_s()
        if watchdog:
            periodic.every(watchdog, self._watchdog, name="watchdog", now=True)
        return periodic

    def _supervise(self) -> None:
        self.link.ensure_running()
        for name, (thread, target) in list(self._threads.items()):
            if not thread.is_alive() and not self._stop.is_set() and name != "periodic":
                self.logger.error("thread %s died; restarting it", name)
                self._spawn(name, target)
        self.plugins.retry_due()

    def _healthy(self) -> bool:
        return all(t.is_alive() for t, _ in self._threads.values())

    def _watchdog(self) -> None:
        # Only a live agent pets the watchdog; systemd restarts one whose threads are stuck.
        if self._healthy():
            systemd.notify("WATCHDOG=1")

    def _heartbeat(self) -> None:
        figures = AgentFigures(
            agent_version=self.settings.agent.agent_version,
            boot=self.boot,
            uptime_s=time.monotonic() - self._started_at,
            outbox=self.outbox.stats(),
            plugins=self.plugins.health(),
            config_version=self.config.applied_version,
            last_receipt=self.sender.last_receipt,
            commands_in_flight=self.executor.in_flight(),
            uploads=self.uploader.stats(),
            interval_s=self.settings.agent.heartbeat_interval_s,
        )
        self.emit("agent.heartbeat", build_heartbeat(figures, self.host))

    def _report_evictions(self) -> None:
        for ev in self.outbox.take_evictions():
            self.logger.warning(
                "outbox evicted %d %s message(s) (%s); %d since install",
                ev.count,
                class_name(ev.priority),
                ev.reason,
                ev.total,
            )
            self.emit(
                "agent.outbox_evicted",
                OutboxEvicted(
                    priority=class_name(ev.priority),  # type: ignore[arg-type]
                    reason=ev.reason,
                    count=ev.count,
                    total=max(ev.total, ev.count),
                ),
            )

    def _persist_receipt(self) -> None:
        receipt = self.sender.last_receipt
        if receipt is None or receipt.at == self._persisted_receipt_at:
            return
        self.meta.set_many(
            {meta.LAST_RECEIPT_AT: receipt.at, meta.CLOCK_OFFSET: receipt.clock_offset_s}
        )
        self._persisted_receipt_at = receipt.at

    def _set_link_state(self, state: str) -> None:
        self.meta.set_many({meta.LINK_STATE: state, meta.LINK_CHANGED_AT: time.time()})

    # -- built-in actions ------------------------------------------------------------------

    def _register_agent_actions(self) -> None:
        self.executor.register("agent.ping", self._ping)
        self.executor.register("agent.status", lambda _req: self.status())
        self.executor.register(
            "agent.restart_plugin", self._restart_plugin, args_model=RestartPluginArgs
        )

    def _ping(self, _request: CommandRequest) -> Mapping[str, Any]:
        return {"agent_time": datetime.now(UTC).isoformat(), "boot": self.boot}

    def _restart_plugin(self, request: CommandRequest) -> Mapping[str, Any]:
        name = str(request.args["name"])
        if name not in self.plugins.names():
            raise ValueError(f"no plugin instance {name!r}")
        health = self.plugins.restart(name)
        return {"name": name, "health": health.model_dump()}


def _asdict(value: Any) -> dict[str, Any]:
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
