"""A small agent for device-plugin tests: the real PluginManager, command executor, outbox and
local bus, with plugins loaded by their entry points, and no broker (nothing here goes on the
wire). Devices are the byte-level simulators on pseudo-terminals."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from contract.payloads.agent import PluginHealth
from edge_agent.commands import CommandExecutor
from edge_agent.db import Database
from edge_agent.outbox import Outbox
from edge_agent.plugins import PluginManager
from edge_agent.settings import PluginSection

LOG = logging.getLogger("test.device_plugins")
T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last {value!r})")
        time.sleep(0.01)


class Site:
    def __init__(self, path: Path, plugins: Mapping[str, Mapping[str, Any]]) -> None:
        self.outbox = Outbox(Database(path / "outbox.db"))
        self.executor = CommandExecutor(
            outbox=self.outbox, centre="c", device="d", max_in_flight=4, logger=LOG
        )
        sections = {name: PluginSection(**values) for name, values in plugins.items()}
        self.manager = PluginManager(
            centre="c",
            device="d",
            sections=sections,
            emit=lambda *_: 0,
            executor=self.executor,
            desired=lambda _name: {},
            logger=LOG,
        )
        self._lock = threading.Lock()
        self.received: dict[str, list[Any]] = {}

    def listen(self, *topics: str) -> Site:
        for topic in topics:
            self.received.setdefault(topic, [])
            self.manager.bus.subscribe("test", topic, self._recorder(topic))
        return self

    def _recorder(self, topic: str) -> Callable[[object], None]:
        def record(message: object) -> None:
            with self._lock:
                self.received[topic].append(message)

        return record

    def got(self, topic: str) -> list[Any]:
        with self._lock:
            return list(self.received[topic])

    def start(self) -> Site:
        self.manager.start_all()
        return self

    def stop(self) -> None:
        self.manager.stop_all()
        self.executor.stop()

    def call(self, action: str, args: Mapping[str, Any] | None = None) -> Any:
        return self.executor.call(action, args)

    def health(self, name: str) -> PluginHealth:
        return self.manager.health()[name]

    def wait_health(self, name: str, state: str, timeout: float = 10.0) -> PluginHealth:
        def reached() -> PluginHealth | None:
            health = self.health(name)
            return health if health.state == state else None

        return wait_until(reached, timeout, f"{name} health {state}")


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Callable[..., Site]]:
    sites: list[Site] = []

    def make(plugins: Mapping[str, Mapping[str, Any]], *topics: str) -> Site:
        site = Site(tmp_path, plugins).listen(*topics)
        sites.append(site)
        return site.start()

    yield make
    for site in sites:
        site.stop()
