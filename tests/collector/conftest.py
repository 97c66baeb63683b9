"""Fixtures of the collector tests: a real Mosquitto per test, a fresh database per test
(SQLite file, or a PostgreSQL database created and dropped), collector runtimes, and a
plain paho client that speaks the wire contract the way an agent does.

Reusable pieces (free ports, the Mosquitto process, the PostgreSQL database factory) live in
``tests/support`` so other test packages can share them.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlmodel import Session

from collector.devices import service as devices_service
from collector.runtime import Runtime
from collector.settings import CollectorSettings, load_settings
from contract import topics
from contract.ids import uuid7
from tests.support import postgres
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until

CENTRE = "t-city"


# -- infrastructure ---------------------------------------------------------------------


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    broker = Mosquitto().start()
    yield broker
    broker.close()


@pytest.fixture
def pg_database() -> Iterator[Callable[[], str]]:
    """Factory of fresh PostgreSQL databases (dropped after the test); skips if no server."""
    if not postgres.available():
        pytest.skip("PostgreSQL not reachable")
    created: list[postgres.TempDatabase] = []

    def make() -> str:
        db = postgres.TempDatabase()
        created.append(db)
        return db.url

    yield make
    for db in created:
        db.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'collector.db'}"
        return
    if not postgres.available():
        pytest.skip("PostgreSQL not reachable")
    db = postgres.TempDatabase(migrated=True)
    yield db.url
    db.drop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'collector.db'}"


def make_settings(
    tmp_path: Path, db_url: str, broker_url: str, **overrides: Any
) -> CollectorSettings:
    data: dict[str, Any] = {
        "development": True,
        # one secret for every collector of a test: they share the database's personal data
        "secret_key": "collector-tests-secret-0123456789abcdef",
        "database": {"url": db_url},
        "mqtt": {"url": broker_url, "client_id": f"collector-{uuid7().hex[-8:]}"},
        "ingest": {"batch_wait_ms": 5},
        "files": {"root": str(tmp_path / "files")},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    return load_settings(**data)


@pytest.fixture
def runtime_factory(tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    started: list[Runtime] = []

    def make(db_url: str, broker_url: str, **overrides: Any) -> Runtime:
        runtime = Runtime(make_settings(tmp_path, db_url, broker_url, **overrides)).start()
        started.append(runtime)
        assert runtime.wait_ready(15), "collector not ready"
        return runtime

    yield make
    for runtime in reversed(started):
        runtime.stop()


@pytest.fixture
def collector(
    mosquitto: Mosquitto, db_url: str, runtime_factory: Callable[..., Runtime]
) -> Runtime:
    return runtime_factory(db_url, mosquitto.url)


def enrol(runtime: Runtime, device: str, *, centre: str = CENTRE, kind: str = "sim") -> None:
    with Session(runtime.engine) as session:
        devices_service.ensure_centre(session, centre, centre)
        devices_service.enrol_device(session, centre_id=centre, device_id=device, kind=kind)
    runtime.worker.enrolment_cache.invalidate(device)


def session(runtime: Runtime) -> Session:
    return Session(runtime.engine, expire_on_commit=False)


# -- an agent as seen on the wire -------------------------------------------------------


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def event_envelope(
    device: str, seq: int, *, centre: str = CENTRE, type_: str = "sim.reading", **payload: Any
) -> dict[str, Any]:
    if not payload and type_ == "sim.reading":
        payload = {"sensor": "t1", "value": 21.5, "unit": "C", "n": seq}
    return {
        "id": str(uuid7()),
        "centre": centre,
        "device": device,
        "type": type_,
        "schema_version": 1,
        "ts": now_iso(),
        "seq": seq,
        "payload": payload,
    }


def heartbeat_payload(boot: int = 1, uptime_s: float = 10.0, **extra: Any) -> dict[str, Any]:
    return {
        "agent_version": "1.2.3",
        "boot": boot,
        "uptime_s": uptime_s,
        "host_uptime_s": 1000.0,
        "cpu_percent": 5.0,
        "memory_percent": 40.0,
        "disk_percent": 50.0,
        "outbox_depth": 0,
        "outbox_bytes": 0,
        "oldest_unsent_age_s": 0.0,
        **extra,
    }


class WireAgent:
    """A plain paho client publishing like an agent and collecting what the collector sends."""

    def __init__(self, broker: Mosquitto, device: str, centre: str = CENTRE, *, will: bool = False):
        self.device = device
        self.centre = centre
        self.received: dict[str, list[Any]] = {"receipt": [], "cmd": [], "config": []}
        self._lock = threading.Lock()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"agent-{device}-{uuid7().hex[-6:]}"
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        for kind in ("receipt", "cmd", "config"):
            topic = f"{topics.device_prefix(centre, device)}/{kind}"
            self.client.subscribe(topic, 1)[1]
        wait_until(lambda: self.client.is_connected(), 5, what="agent connected")
        # Let the SUBACKs come back before anything is sent our way.
        self.client.publish(f"test/sync/{device}", b"", qos=1).wait_for_publish(5)

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        kind = msg.topic.rsplit("/", 1)[-1]
        with self._lock:
            self.received.setdefault(kind, []).append(
                json.loads(msg.payload) if msg.payload else None
            )

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def publish_event(self, envelope: dict[str, Any]) -> None:
        topic = topics.event_topic(self.centre, self.device, envelope["type"])
        self.publish_raw(topic, json.dumps(envelope).encode())

    def publish_ack(self, envelope: dict[str, Any]) -> None:
        self.publish_raw(topics.ack_topic(self.centre, self.device), json.dumps(envelope).encode())

    def publish_status(self, state: str, boot: int, session_: int) -> None:
        body = {"state": state, "boot": boot, "session": session_, "ts": now_iso()}
        self.publish_raw(
            topics.status_topic(self.centre, self.device), json.dumps(body).encode(), retain=True
        )

    def receipted_seqs(self) -> set[int]:
        with self._lock:
            return {
                s
                for receipt in self.received["receipt"]
                for first, last in receipt["ranges"]
                for s in range(first, last + 1)
            }

    def of(self, kind: str) -> list[Any]:
        with self._lock:
            return list(self.received.get(kind, []))

    def close(self) -> None:
        self.client.disconnect()  # wakes the network loop, so loop_stop returns at once
        self.client.loop_stop()


@pytest.fixture
def agent_factory(mosquitto: Mosquitto) -> Iterator[Callable[..., WireAgent]]:
    agents: list[WireAgent] = []

    def make(device: str, centre: str = CENTRE) -> WireAgent:
        agent = WireAgent(mosquitto, device, centre)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()
