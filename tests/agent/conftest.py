"""Fixtures of the agent tests: a real Mosquitto on a free port, agents, an observer client.

No mock of paho anywhere: agents talk to a real broker, and tests watch the wire with a plain
paho client (:class:`Observer`) or answer like a collector (:class:`ReceiptResponder`).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.agent import Agent
from edge_agent.plugins import Loader, load_entry_point
from edge_agent.settings import AgentSettings, settings_from_mapping

from .receipt_responder import ReceiptResponder

__all__ = ["ReceiptResponder"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
CENTRE = "test-centre"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
) -> T:
    """Poll until ``predicate`` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last {value!r})")
        time.sleep(0.02)


class Broker:
    """A Mosquitto process of our own; can be started late, stopped and restarted."""

    def __init__(self, directory: Path, port: int | None = None, extra_conf: str = "") -> None:
        self.port = port or free_port()
        self.tls = "certfile" in extra_conf
        self.conf = directory / f"mosquitto-{self.port}.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "persistence false\n"
            "max_inflight_messages 1000\n"
            "max_queued_messages 0\n" + (extra_conf or "allow_anonymous true\n")
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Observer:
    """A plain paho client that records every message on the given subscription."""

    def __init__(self, port: int, subscription: str = "prtc/#", client_id: str = "") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(subscription, qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(5), "observer not subscribed"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def bodies(self, suffix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith(suffix) and p]

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()  # first: it wakes the network thread that loop_stop joins
        self.client.loop_stop()


def agent_settings(
    state_dir: Path,
    device: str,
    port: int,
    *,
    plugins: dict[str, Any] | None = None,
    **sections: Any,
) -> AgentSettings:
    data: dict[str, Any] = {
        "agent": {
            "centre": CENTRE,
            "device": device,
            "state_dir": state_dir,
            "heartbeat_interval_s": 3600,
        },
        "mqtt": {
            "url": f"mqtt://127.0.0.1:{port}",
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.3,
        },
        "plugins": plugins or {},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return settings_from_mapping(data)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Brokers that the test starts itself (e.g. later, on a port chosen up front)."""
    made: list[Broker] = []

    def make(port: int | None = None) -> Broker:
        b = Broker(tmp_path, port)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """Build and start agents; all are stopped at teardown."""
    agents: list[Agent] = []

    def make(
        device: str,
        port: int,
        *,
        plugins: dict[str, Any] | None = None,
        loader: Loader = load_entry_point,
        start: bool = True,
        **sections: Any,
    ) -> Agent:
        settings = agent_settings(tmp_path / device, device, port, plugins=plugins, **sections)
        agent = Agent(settings, plugin_loader=loader)
        agents.append(agent)
        if start:
            agent.start()
        return agent

    yield make
    for agent in agents:
        agent.stop()


@pytest.fixture
def observer_factory() -> Iterator[Callable[..., Observer]]:
    made: list[Observer] = []

    def make(port: int, subscription: str = "prtc/#") -> Observer:
        o = Observer(port, subscription)
        made.append(o)
        return o

    yield make
    for o in made:
        o.close()
