"""Fixtures for end-to-end and fault tests: real Mosquitto, collector and agent processes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support import postgres
from tests.support.mosquitto import Mosquitto
from tests.support.processes import AgentProcess, CollectorProcess, tmpdir

CENTRE = "e2e-city"


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = tmpdir("prtc-e2e-")
    yield path
    if not os.environ.get("PRTC_KEEP_WORKDIR"):  # keep logs and databases for a post-mortem
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    mosq = Mosquitto().start()
    yield mosq
    mosq.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, workdir: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{workdir / 'collector.db'}"
        return
    if not postgres.available():
        pytest.skip("PostgreSQL not reachable")
    db = postgres.TempDatabase(migrated=True)
    yield db.url
    db.drop()


class Site:
    """A collector, its broker and any number of agents, all real processes."""

    def __init__(self, workdir: Path, broker: Mosquitto, db_url: str):
        self.workdir = workdir
        self.broker = broker
        self.collector = CollectorProcess(workdir, broker.url, db_url)
        self.agents: list[AgentProcess] = []
        self._engine = create_engine(db_url)

    def start_collector(self) -> None:
        self.collector.start()
        self.collector.wait_ready()

    def add_agent(self, device: str, **kwargs) -> AgentProcess:
        self.collector.enrol(CENTRE, device)
        agent = AgentProcess(self.workdir, CENTRE, device, self.broker.url, **kwargs)
        self.agents.append(agent)
        return agent

    def scalar(self, sql: str, **params) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)

    def rows(self, sql: str, **params) -> list:
        with self._engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def sim_counts(self) -> dict[str, tuple[int, int]]:
        """Per device: (rows stored, distinct generator counters) of sim events."""
        rows = self.rows(
            "SELECT device_id, count(*), count(DISTINCT seq) FROM events "
            "WHERE type LIKE 'sim.%' GROUP BY device_id"
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def close(self) -> None:
        for agent in self.agents:
            agent.stop()
        self.collector.stop()
        self._engine.dispose()


@pytest.fixture
def site(workdir: Path, broker: Mosquitto, db_url: str) -> Iterator[Site]:
    s = Site(workdir, broker, db_url)
    s.collector.cli("db", "upgrade")
    yield s
    s.close()
