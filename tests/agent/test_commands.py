"""The command executor against a real outbox: idempotency, refusals, jobs, deadlines."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel

from contract.envelopes import AckEnvelope, CommandEnvelope
from contract.ids import uuid7
from edge_agent.commands import CommandExecutor
from edge_agent.db import Database
from edge_agent.outbox import Outbox
from edge_agent.plugin_api import CommandRequest

from .conftest import wait_until

LOG = logging.getLogger("test")


def command(
    action: str,
    args: dict[str, Any] | None = None,
    *,
    ttl: float = 30.0,
    age: float = 0.0,
    device: str = "d1",
) -> CommandEnvelope:
    now = datetime.now(UTC) - timedelta(seconds=age)
    return CommandEnvelope(
        id=uuid7(),
        centre="c1",
        device=device,
        action=action,
        args=args or {},
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )


def raw(cmd: CommandEnvelope) -> bytes:
    return cmd.model_dump_json().encode()


class Harness:
    def __init__(self, path: Path, max_in_flight: int = 4) -> None:
        self.outbox = Outbox(Database(path))
        self.executor = CommandExecutor(
            outbox=self.outbox, centre="c1", device="d1", max_in_flight=max_in_flight, logger=LOG
        )

    def acks(self, command_id: UUID | None = None) -> list[AckEnvelope]:
        rows = [r for r in self.outbox.next_batch(10_000) if r.kind == "ack"]
        acks = sorted((AckEnvelope.model_validate_json(r.body) for r in rows), key=lambda a: a.seq)
        return [a for a in acks if command_id is None or a.command_id == command_id]

    def statuses(self, command_id: UUID) -> list[str]:
        return [a.status.value for a in self.acks(command_id)]

    def wait_final(self, command_id: UUID, count: int = 1) -> list[str]:
        def final() -> list[str] | None:
            statuses = self.statuses(command_id)
            done = [s for s in statuses if s in ("succeeded", "failed")]
            return statuses if len(done) >= count else None

        return wait_until(final, 5, "final ack")


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "outbox.db")


def counting(calls: list[CommandRequest]) -> Callable[[CommandRequest], dict[str, Any]]:
    def handler(request: CommandRequest) -> dict[str, Any]:
        calls.append(request)
        return {"n": len(calls)}

    return handler


def test_duplicate_delivery_executes_once_and_re_emits_the_last_ack(harness: Harness) -> None:
    calls: list[CommandRequest] = []
    harness.executor.register("agent.count", counting(calls))
    cmd = command("agent.count")
    harness.executor.submit(raw(cmd))
    assert harness.wait_final(cmd.id) == ["received", "succeeded"]
    harness.executor.submit(raw(cmd))
    assert harness.statuses(cmd.id) == ["received", "succeeded", "succeeded"]
    assert len(calls) == 1
    first, again = harness.acks(cmd.id)[1:]
    assert again.result == first.result == {"n": 1}
    assert again.id != first.id and again.seq > first.seq  # a new ack, never a reused seq


def test_idempotency_survives_a_restart(tmp_path: Path) -> None:
    calls: list[CommandRequest] = []
    first = Harness(tmp_path / "outbox.db")
    first.executor.register("agent.count", counting(calls))
    cmd = command("agent.count")
    first.executor.submit(raw(cmd))
    first.wait_final(cmd.id)
    first.outbox.close()

    second = Harness(tmp_path / "outbox.db")
    second.executor.register("agent.count", counting(calls))
    second.executor.submit(raw(cmd))
    assert second.statuses(cmd.id)[-1] == "succeeded"
    assert len(calls) == 1


def test_expired_on_arrival_is_not_executed(harness: Harness) -> None:
    calls: list[CommandRequest] = []
    harness.executor.register("agent.count", counting(calls))
    cmd = command("agent.count", ttl=10, age=20)
    harness.executor.submit(raw(cmd))
    assert harness.statuses(cmd.id) == ["expired"]
    assert calls == []


def test_unknown_action_and_invalid_arguments_are_rejected(harness: Harness) -> None:
    class Args(BaseModel):
        count: int

    harness.executor.register("agent.need_args", lambda r: None, args_model=Args)
    unknown = command("nothing.here")
    invalid = command("agent.need_args", {"count": "many"})
    harness.executor.submit(raw(unknown))
    harness.executor.submit(raw(invalid))
    assert harness.statuses(unknown.id) == ["rejected"]
    assert harness.acks(unknown.id)[0].message == "unknown action nothing.here"
    assert harness.statuses(invalid.id) == ["rejected"]
    assert "count" in harness.acks(invalid.id)[0].message


def test_beyond_max_in_flight_is_busy(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "outbox.db", max_in_flight=2)
    release = threading.Event()

    def block(request: CommandRequest) -> None:
        release.wait(5)

    harness.executor.register("agent.block", block)
    cmds = [command("agent.block") for _ in range(3)]
    for cmd in cmds:
        harness.executor.submit(raw(cmd))
    assert harness.statuses(cmds[2].id) == ["busy"]
    assert harness.executor.in_flight() == 2
    release.set()
    for cmd in cmds[:2]:
        assert harness.wait_final(cmd.id) == ["received", "succeeded"]
    wait_until(lambda: harness.executor.in_flight() == 0, 5, "slots freed")


def test_job_reports_accepted_progress_and_result(harness: Harness) -> None:
    def job(request: CommandRequest) -> dict[str, Any]:
        for i in (1, 2, 3):
            request.progress(i / 4, f"step {i}")
        return {"done": True}

    harness.executor.register("agent.job", job, job=True)
    cmd = command("agent.job")
    harness.executor.submit(raw(cmd))
    statuses = harness.wait_final(cmd.id)
    assert statuses == ["received", "accepted", "progress", "progress", "progress", "succeeded"]
    progress = [(a.progress, a.message) for a in harness.acks(cmd.id) if a.status == "progress"]
    assert progress == [(0.25, "step 1"), (0.5, "step 2"), (0.75, "step 3")]
    assert harness.acks(cmd.id)[-1].result == {"done": True}


def test_handler_exception_fails_with_its_message(harness: Harness) -> None:
    def boom(request: CommandRequest) -> None:
        raise RuntimeError("relay did not answer")

    harness.executor.register("agent.boom", boom)
    cmd = command("agent.boom")
    harness.executor.submit(raw(cmd))
    assert harness.wait_final(cmd.id) == ["received", "failed"]
    assert harness.acks(cmd.id)[-1].message == "relay did not answer"


def test_deadline_exceeded_fails_and_cancels(harness: Harness) -> None:
    seen: list[bool] = []

    def slow(request: CommandRequest) -> None:
        seen.append(request.cancelled.wait(5))

    harness.executor.register("agent.slow", slow)
    cmd = command("agent.slow", ttl=0.3)
    harness.executor.submit(raw(cmd))
    assert harness.wait_final(cmd.id) == ["received", "failed"]
    assert harness.acks(cmd.id)[-1].message == "deadline exceeded"
    wait_until(lambda: seen == [True], 5, "handler saw the cancellation")


def test_invalid_or_misaddressed_commands_are_dropped(harness: Harness) -> None:
    harness.executor.submit(b"{not json")
    harness.executor.submit(json.dumps({"id": "x"}).encode())
    harness.executor.submit(raw(command("agent.ping", device="someone-else")))
    assert harness.acks() == []


def test_commands_interrupted_by_a_stop_are_answered_failed_at_restart(tmp_path: Path) -> None:
    first = Harness(tmp_path / "outbox.db")

    def hang(request: CommandRequest) -> None:
        request.cancelled.wait(5)

    first.executor.register("agent.hang", hang)
    cmd = command("agent.hang")
    first.executor.submit(raw(cmd))
    first.executor.stop(timeout=0.1)  # agent stops while the handler runs
    first.outbox.close()

    second = Harness(tmp_path / "outbox.db")
    assert second.executor.recover() == 1
    assert second.statuses(cmd.id) == ["received", "failed"]
    assert second.acks(cmd.id)[-1].message == "agent restarted"
    second.executor.submit(raw(cmd))  # and it is still not executed again
    assert second.statuses(cmd.id)[-1] == "failed"
