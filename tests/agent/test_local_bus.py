"""The agent's local bus and ``call_action``, through the real PluginManager and executor."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from edge_agent.commands import CommandExecutor
from edge_agent.db import Database
from edge_agent.local_bus import LocalBus
from edge_agent.outbox import Outbox
from edge_agent.plugin_api import BasePlugin, CommandRequest, PluginContext, PluginFactory
from edge_agent.plugins import PluginManager
from edge_agent.settings import PluginSection

pytestmark = pytest.mark.timeout(30)
LOG = logging.getLogger("test.local_bus")


class OpenArgs(BaseModel):
    pulse_ms: int = Field(default=500, ge=1, le=10_000)


class Actuator(BasePlugin):
    """Registers a plain action, a job, and records the thread each call ran in."""

    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self.calls: list[tuple[dict[str, Any], str]] = []
        ctx.register_action(f"{ctx.name}.open", self._open, args_model=OpenArgs)
        ctx.register_action(f"{ctx.name}.boom", self._boom)
        ctx.register_action(f"{ctx.name}.long", self._open, job=True)
        ctx.settings["made"].append(self)

    def _open(self, request: CommandRequest) -> dict[str, Any]:
        self.calls.append((dict(request.args), threading.current_thread().name))
        return {"opened": True, **request.args}

    def _boom(self, request: CommandRequest) -> None:
        raise RuntimeError("relay stuck")


class Listener(BasePlugin):
    """Subscribes to ``topic`` and records what arrives, with the delivering thread."""

    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self.got: list[tuple[object, str]] = []
        ctx.subscribe_local("card", self._on)
        ctx.settings["made"].append(self)

    def _on(self, message: object) -> None:
        if message == "poison":
            raise ValueError("bad subscriber")
        self.got.append((message, threading.current_thread().name))


FACTORIES: dict[str, PluginFactory] = {"actuator": Actuator, "listener": Listener}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[PluginManager, dict[str, list[Any]]]]:
    outbox = Outbox(Database(tmp_path / "outbox.db"))
    executor = CommandExecutor(outbox=outbox, centre="c", device="d", max_in_flight=4, logger=LOG)
    made: dict[str, list[Any]] = {"gate1": [], "l1": [], "l2": []}
    sections = {
        "gate1": PluginSection(kind="actuator", made=made["gate1"]),
        "l1": PluginSection(kind="listener", made=made["l1"]),
        "l2": PluginSection(kind="listener", made=made["l2"]),
    }
    manager = PluginManager(
        centre="c",
        device="d",
        sections=sections,
        emit=lambda *_: 0,
        executor=executor,
        desired=lambda _name: {},
        logger=LOG,
        loader=FACTORIES.__getitem__,
    )
    manager.start_all()
    yield manager, made
    manager.stop_all()
    executor.stop()


def test_publish_fans_out_in_the_callers_thread(site: Any) -> None:
    manager, made = site
    manager.bus.publish("card", "c-1")
    me = threading.current_thread().name
    assert made["l1"][-1].got == [("c-1", me)]
    assert made["l2"][-1].got == [("c-1", me)]
    assert manager.bus.publish("nobody", "x") == 0


def test_a_raising_subscriber_is_logged_and_the_others_still_get_the_message(
    site: Any, caplog: pytest.LogCaptureFixture
) -> None:
    manager, made = site
    listener = made["l1"][-1]
    # A third subscriber that raises, between the two listeners' handlers in order.
    bad_calls: list[object] = []

    def bad(message: object) -> None:
        bad_calls.append(message)
        raise RuntimeError("subscriber bug")

    manager.bus.subscribe("someone", "card", bad)
    manager.bus.publish("card", "c-2")  # must not raise
    assert bad_calls == ["c-2"]
    assert listener.got[-1][0] == "c-2" and made["l2"][-1].got[-1][0] == "c-2"
    assert "subscriber bug" in caplog.text


def test_subscriptions_are_dropped_on_restart(site: Any) -> None:
    manager, made = site
    first = made["l1"][-1]
    manager.restart("l1")
    second = made["l1"][-1]
    assert second is not first
    manager.bus.publish("card", "after")
    assert [m for m, _ in first.got] == []  # the old instance hears nothing
    assert [m for m, _ in second.got] == ["after"]
    assert manager.bus.topics()["card"] == 2  # l1 (new) and l2, not the old l1


def test_subscriptions_are_dropped_on_stop(site: Any) -> None:
    manager, _made = site
    manager.stop_all()
    assert manager.bus.topics() == {}


def test_call_action_runs_the_handler_in_the_callers_thread_with_validated_args(
    site: Any,
) -> None:
    manager, made = site
    ctx = manager._instances["l1"].ctx  # the context a plugin would use
    result = ctx.call_action("gate1.open", {"pulse_ms": 250})
    assert result == {"opened": True, "pulse_ms": 250}
    assert ctx.call_action("gate1.open") == {"opened": True, "pulse_ms": 500}  # model default
    gate = made["gate1"][-1]
    assert {name for _, name in gate.calls} == {threading.current_thread().name}


def test_call_action_refusals(site: Any) -> None:
    manager, _made = site
    ctx = manager._instances["l1"].ctx
    with pytest.raises(LookupError):
        ctx.call_action("gate2.open")
    with pytest.raises(ValidationError):
        ctx.call_action("gate1.open", {"pulse_ms": 0})
    with pytest.raises(ValueError, match="job"):
        ctx.call_action("gate1.long")
    with pytest.raises(RuntimeError, match="relay stuck"):
        ctx.call_action("gate1.boom")


def test_call_action_of_a_stopped_instance_is_unknown(site: Any) -> None:
    manager, _made = site
    ctx = manager._instances["l1"].ctx
    manager._stop(manager._instances["gate1"])
    with pytest.raises(LookupError):
        ctx.call_action("gate1.open")


def test_bus_unit_snapshot_allows_unsubscribing_while_publishing() -> None:
    bus = LocalBus(LOG)
    seen: list[str] = []

    def first(message: object) -> None:
        seen.append(f"first {message}")
        bus.unsubscribe_owner("b")

    bus.subscribe("a", "t", first)
    bus.subscribe("b", "t", lambda m: seen.append(f"second {m}"))
    assert bus.publish("t", 1) == 2  # the snapshot still delivers to b this time
    assert bus.publish("t", 2) == 1
    assert seen == ["first 1", "second 1", "first 2"]
