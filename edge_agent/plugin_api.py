"""The narrow, typed interface between the agent and a device plugin.

A plugin gets a :class:`PluginContext` and nothing else of the agent: it emits events, reports
its health, registers command actions and reads its own settings. Plugins are found through
the ``prtc.device_plugins`` entry-point group; the entry point names a factory (usually the
plugin class) called with the context.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from uuid import UUID

from pydantic import BaseModel

StatusValue = str | int | float | bool | None
HealthState = Literal["starting", "ok", "degraded", "failed", "stopped"]


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """What an action handler receives."""

    command_id: UUID
    action: str
    args: Mapping[str, Any]
    """The command's arguments, validated by the action's ``args_model`` when it has one."""
    deadline: datetime
    """The command's expiry; a handler still running then is reported failed."""
    cancelled: threading.Event
    """Set when the deadline passes or the agent stops; long handlers should watch it."""
    progress: Callable[[float, str], None]
    """``progress(fraction 0..1, message)``: a progress ack for jobs, a no-op otherwise."""

    def remaining_s(self) -> float:
        return max(0.0, (self.deadline - datetime.now(UTC)).total_seconds())

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True early if the command was cancelled."""
        return self.cancelled.wait(min(seconds, self.remaining_s()))


ActionResult = Mapping[str, Any] | BaseModel | None
ActionHandler = Callable[[CommandRequest], ActionResult]


class PluginContext(Protocol):
    """Everything a plugin instance may use of the agent."""

    name: str
    """Instance name from ``[plugins.<name>]``; prefixes its actions."""
    kind: str
    """Entry-point name the instance was loaded by."""
    centre: str
    device: str
    settings: Mapping[str, Any]
    """The instance's settings: the file's section merged with the desired config's."""
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    stop_event: threading.Event
    """Set when this instance is being stopped; plugin threads should exit on it."""

    def emit(self, event_type: str, payload: BaseModel | Mapping[str, Any]) -> int:
        """Validate against the event registry, store durably, return the outbox seq."""
        ...

    def set_health(
        self, state: HealthState, detail: str = "", *, data: Mapping[str, StatusValue] | None = None
    ) -> None:
        """Report health; ``data`` adds machine-readable figures shown in the heartbeat."""
        ...

    def register_action(
        self,
        action: str,
        handler: ActionHandler,
        *,
        job: bool = False,
        args_model: type[BaseModel] | None = None,
    ) -> None:
        """Register ``"<instance name>.<verb>"``.

        A plain action answers ``succeeded`` with the handler's return value as result (or
        ``failed`` with the exception's message). A job (``job=True``) is answered
        ``accepted`` first and may report progress. Invalid arguments (``args_model``) are
        answered ``rejected`` without calling the handler.
        """
        ...

    def publish_local(self, topic: str, message: object) -> None:
        """Hand ``message`` to this agent's subscribers of ``topic`` (``device_plugins.messages``),
        synchronously in the caller's thread. A subscriber that raises is logged, never
        propagated. Nothing goes on the wire."""
        ...

    def subscribe_local(self, topic: str, handler: Callable[[object], None]) -> None:
        """Receive local messages on ``topic``. The handler runs in the publisher's thread, so
        it must be quick (hand slow work to a thread of your own). Dropped when this instance
        is stopped or restarted."""
        ...

    def call_action(self, action: str, args: Mapping[str, Any] | None = None) -> Any:
        """Run another instance's plain action (e.g. ``"gate1.open"``) now, in this thread, and
        return its handler's result. Raises LookupError for an unknown action, ValueError for
        a job or for arguments its ``args_model`` refuses, and whatever the handler raises."""
        ...

    def upload(
        self,
        path: Path | str,
        *,
        kind: str,
        meta: Mapping[str, StatusValue] | None = None,
        delete_after: bool | None = None,
    ) -> str:
        """Queue a finished file for upload to the collector's file store (durably, with its
        SHA-256 computed now) and return the upload id; ``agent.file_uploaded`` follows once the
        collector holds it. ``delete_after``: delete the file once the collector holds it
        (True), keep it (False), or as the agent's ``[uploads] delete_after_upload`` says
        (None). Raises OSError when the file cannot be read, RuntimeError when the agent has
        no uploader."""
        ...

    def upload_state(self, upload_id: str) -> str | None:
        """``"pending"``, ``"done"`` or ``"failed"``; None for an unknown (or long forgotten) id."""
        ...


class DevicePlugin(Protocol):
    """A plugin instance. Constructed with its context; ``start`` must return promptly
    (start threads for long work); ``stop`` must make them exit.

    An instance may also define ``apply_config(settings: Mapping[str, Any]) -> None`` to take
    new desired settings live; without it the agent restarts the instance instead.
    """

    def start(self) -> None: ...

    def stop(self) -> None: ...


PluginFactory = Callable[[PluginContext], DevicePlugin]


class BasePlugin:
    """Convenience base: keeps the context and a worker thread that runs :meth:`run`."""

    thread_name = "plugin"

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run_guarded,
            name=f"{self.ctx.device}/{self.ctx.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self.ctx.stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def run(self) -> None:
        """The plugin's loop; return when ``ctx.stop_event`` is set. Default: idle."""
        self.ctx.stop_event.wait()

    def _run_guarded(self) -> None:
        try:
            self.run()
        except Exception as exc:  # a dead device loop must show in health, not vanish
            self.ctx.logger.exception("plugin loop crashed")
            self.ctx.set_health("failed", f"loop crashed: {exc}"[:500])


class SteadyRate:
    """Due times for a steady rate that does not drift: the n-th tick is due at start + n/rate.

    When the caller falls more than ``max_lag_s`` behind (a slow disk, a suspended VM), the
    schedule restarts from now instead of bursting to catch up.
    """

    def __init__(self, rate: float, *, max_lag_s: float = 1.0) -> None:
        self.max_lag_s = max_lag_s
        self.reset(rate)

    def reset(self, rate: float) -> None:
        self.rate = rate
        self._start = time.monotonic()
        self._n = 0

    def delay(self) -> float | None:
        """Seconds until the next tick (0 when due); None when the rate is 0."""
        if self.rate <= 0:
            return None
        due = self._start + self._n / self.rate
        now = time.monotonic()
        if now - due > self.max_lag_s:
            self._start, self._n = now, 0
            return 0.0
        return max(0.0, due - now)

    def tick(self) -> None:
        self._n += 1
