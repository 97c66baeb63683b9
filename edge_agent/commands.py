"""The command executor: validates commands, runs their handlers, answers with acks.

Rules, in order, for each delivered :class:`~contract.envelopes.CommandEnvelope`:

* invalid JSON or envelope → logged and dropped (there is no command id to answer);
* a command id seen before → its last ack is emitted again, nothing is executed;
* expired on arrival → ``expired``; unknown action → ``rejected``; arguments that fail the
  action's ``args_model`` → ``rejected``; ``max_in_flight`` handlers running → ``busy``;
* otherwise ``received``, then the handler runs in a worker thread until the command's
  deadline: a plain action ends ``succeeded`` (its return value as result) or ``failed``
  (the exception's message; ``deadline exceeded`` when it overran); a job is ``accepted``
  first and may report ``progress`` before its final ack.

Every ack goes into the outbox (kind ``ack``, priority critical) in the same transaction as
the command log entry, so it survives restarts and is covered by receipts like events.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError

from contract.envelopes import AckEnvelope, AckStatus, CommandEnvelope
from contract.ids import uuid7
from contract.registry import Priority
from edge_agent.command_log import AckFields, CommandLog
from edge_agent.outbox import Outbox
from edge_agent.plugin_api import ActionHandler, ActionResult, CommandRequest

MAX_MESSAGE = 2000


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    handler: ActionHandler
    job: bool
    args_model: type[BaseModel] | None
    owner: str  # "agent" or a plugin instance name; unregistered together on restart


class CommandExecutor:
    def __init__(
        self,
        *,
        outbox: Outbox,
        centre: str,
        device: str,
        max_in_flight: int,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._outbox = outbox
        self._db = outbox.db
        self._log = CommandLog(outbox.db)
        self._centre = centre
        self._device = device
        self._max_in_flight = max_in_flight
        self._logger = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._actions: dict[str, Action] = {}
        self._running: dict[UUID, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- registry --------------------------------------------------------------------------

    def register(
        self,
        action: str,
        handler: ActionHandler,
        *,
        job: bool = False,
        args_model: type[BaseModel] | None = None,
        owner: str = "agent",
    ) -> None:
        if not action.startswith(f"{owner}."):
            raise ValueError(f"action {action!r} must start with {owner!r}.")
        with self._lock:
            self._actions[action] = Action(action, handler, job, args_model, owner)

    def unregister_owner(self, owner: str) -> None:
        with self._lock:
            for name in [n for n, a in self._actions.items() if a.owner == owner]:
                del self._actions[name]

    def in_flight(self) -> int:
        with self._lock:
            return len(self._running)

    # -- local calls -----------------------------------------------------------------------

    def call(
        self, action: str, args: Mapping[str, Any] | None = None, *, timeout_s: float = 30.0
    ) -> ActionResult | Any:
        """Run a plain action's handler now, in the caller's thread, and return its result.

        For plugins calling each other on the same agent (a workflow opening a gate): no
        command log, no ack, no MQTT round trip, and no ``max_in_flight`` slot. Raises
        LookupError for an unknown action, ValueError for a job (jobs report progress through
        acks, which a local call has no place for), pydantic's ValidationError (a ValueError)
        for arguments the action's ``args_model`` refuses, and whatever the handler raises.
        """
        with self._lock:
            found = self._actions.get(action)
        if found is None:
            raise LookupError(f"unknown action {action}")
        if found.job:
            raise ValueError(f"{action} is a job; send it as a command")
        values: dict[str, Any] = dict(args or {})
        if found.args_model is not None:
            values = found.args_model.model_validate(values).model_dump()
        request = CommandRequest(
            command_id=uuid7(),
            action=action,
            args=values,
            deadline=self._clock() + timedelta(seconds=timeout_s),
            cancelled=threading.Event(),
            progress=_no_progress,
        )
        return found.handler(request)

    # -- lifecycle -------------------------------------------------------------------------

    def recover(self) -> int:
        """Answer commands that were running when the agent last stopped; return how many."""
        unfinished = self._log.unfinished()
        for record in unfinished:
            self._ack(
                record.id, record.action, AckFields(AckStatus.FAILED, message="agent restarted")
            )
        return len(unfinished)

    def prune(self, remember_s: float) -> int:
        return self._log.prune(self._clock().timestamp() - remember_s)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel running handlers; acks after this point are not written (the log keeps them
        unfinished and :meth:`recover` answers them at the next start)."""
        with self._lock:
            self._closed = True
            for cancelled in self._running.values():
                cancelled.set()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    # -- intake ----------------------------------------------------------------------------

    def submit(self, raw: bytes) -> None:
        """Handle one delivered command message; never raises on bad input."""
        try:
            cmd = CommandEnvelope.model_validate_json(raw)
        except ValidationError as exc:
            self._logger.warning("dropping invalid command: %s", _first_error(exc))
            return
        if (cmd.centre, cmd.device) != (self._centre, self._device):
            self._logger.warning(
                "dropping command %s addressed to %s/%s", cmd.id, cmd.centre, cmd.device
            )
            return
        seen = self._log.get(cmd.id)
        if seen is not None:
            self._logger.info(
                "command %s delivered again: re-emitting %s", cmd.id, seen.last_ack.status
            )
            self._ack(cmd.id, seen.action, seen.last_ack)
            return
        action, args, refusal = self._check(cmd)
        with self._db.transaction():
            self._log.insert(
                cmd.id,
                cmd.action,
                self._clock().timestamp(),
                cmd.expires_at.timestamp(),
                refusal or AckFields(AckStatus.RECEIVED),
            )
            self._ack(cmd.id, cmd.action, refusal or AckFields(AckStatus.RECEIVED))
        if refusal is not None or action is None:
            return
        self._start(cmd, action, args)

    def _check(
        self, cmd: CommandEnvelope
    ) -> tuple[Action | None, dict[str, Any], AckFields | None]:
        if cmd.expires_at <= self._clock():
            return None, {}, AckFields(AckStatus.EXPIRED, message="expired before it arrived")
        with self._lock:
            action = self._actions.get(cmd.action)
            busy = len(self._running) >= self._max_in_flight
        if action is None:
            return None, {}, AckFields(AckStatus.REJECTED, message=f"unknown action {cmd.action}")
        args: dict[str, Any] = dict(cmd.args)
        if action.args_model is not None:
            try:
                args = action.args_model.model_validate(cmd.args).model_dump()
            except ValidationError as exc:
                message = f"invalid arguments: {_first_error(exc)}"
                return None, {}, AckFields(AckStatus.REJECTED, message=message[:MAX_MESSAGE])
        if busy:
            return None, {}, AckFields(AckStatus.BUSY, message=f"{self._max_in_flight} running")
        return action, args, None

    # -- execution -------------------------------------------------------------------------

    def _start(self, cmd: CommandEnvelope, action: Action, args: dict[str, Any]) -> None:
        cancelled = threading.Event()
        with self._lock:
            self._running[cmd.id] = cancelled
            runner = threading.Thread(
                target=self._run,
                args=(cmd, action, args, cancelled),
                name=f"{self._device}/cmd/{cmd.action}",
                daemon=True,
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [runner]
        runner.start()

    def _run(
        self, cmd: CommandEnvelope, action: Action, args: dict[str, Any], cancelled: threading.Event
    ) -> None:
        finished = threading.Event()  # no progress acks after the final one

        def progress(fraction: float, message: str = "") -> None:
            if not finished.is_set():
                fraction = min(1.0, max(0.0, float(fraction)))
                self._ack(
                    cmd.id,
                    cmd.action,
                    AckFields(AckStatus.PROGRESS, fraction, message[:MAX_MESSAGE]),
                )

        request = CommandRequest(
            command_id=cmd.id,
            action=cmd.action,
            args=args,
            deadline=cmd.expires_at,
            cancelled=cancelled,
            progress=progress if action.job else _no_progress,
        )
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["result"] = action.handler(request)
            except Exception as exc:  # the handler's failure is the command's result
                outcome["error"] = str(exc) or type(exc).__name__

        try:
            if action.job:
                self._ack(cmd.id, cmd.action, AckFields(AckStatus.ACCEPTED))
            worker = threading.Thread(
                target=call, name=f"{self._device}/handler/{cmd.action}", daemon=True
            )
            worker.start()
            worker.join(max(0.0, (cmd.expires_at - self._clock()).total_seconds()))
            if worker.is_alive():
                cancelled.set()
                finished.set()
                self._ack(
                    cmd.id, cmd.action, AckFields(AckStatus.FAILED, message="deadline exceeded")
                )
                worker.join()  # the slot stays taken while the handler still runs
            elif "error" in outcome:
                finished.set()
                self._ack(
                    cmd.id,
                    cmd.action,
                    AckFields(AckStatus.FAILED, message=outcome["error"][:MAX_MESSAGE]),
                )
            else:
                finished.set()
                self._ack(
                    cmd.id,
                    cmd.action,
                    AckFields(AckStatus.SUCCEEDED, result=_as_result(outcome.get("result"))),
                )
        except Exception:
            self._logger.exception("command %s (%s) runner failed", cmd.id, cmd.action)
        finally:
            with self._lock:
                self._running.pop(cmd.id, None)

    def _ack(self, command_id: UUID, action: str, fields: AckFields) -> None:
        """Append an ack to the outbox and record it as the command's last answer."""
        if self._closed:
            return

        def build(seq: int) -> bytes:
            return (
                AckEnvelope(
                    id=uuid7(),
                    command_id=command_id,
                    centre=self._centre,
                    device=self._device,
                    seq=seq,
                    status=fields.status,
                    progress=fields.progress,
                    message=fields.message,
                    result=fields.result,
                    ts=self._clock(),
                )
                .model_dump_json()
                .encode()
            )

        with self._db.transaction():
            self._outbox.append("ack", action, Priority.CRITICAL, build)
            self._log.record(command_id, fields)


def _no_progress(fraction: float, message: str = "") -> None:
    """Plain actions report no progress."""


def _as_result(value: ActionResult | Any) -> dict[str, Any]:
    """A JSON object from whatever the handler returned."""
    if value is None:
        return {}
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    value = dict(value) if isinstance(value, Mapping) else {"value": value}
    # Round-trip so that the ack can always be serialised (datetimes, UUIDs become strings).
    return json.loads(json.dumps(value, default=str))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"
