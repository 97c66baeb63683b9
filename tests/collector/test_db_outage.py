"""A database outage: the batch is retried, nothing is receipted meanwhile, nothing is lost."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from collector.ingest.models import StoredEvent
from tests.collector.conftest import enrol, event_envelope
from tests.support import postgres
from tests.support.net import wait_until


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_batch_retried_until_database_returns(collector, agent_factory, db_url):
    name = make_url(db_url).database
    admin = create_engine(postgres.admin_url(), isolation_level="AUTOCOMMIT")

    def set_allowed(allowed: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )

    def stored() -> int:
        with collector.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(StoredEvent)).scalar())

    enrol(collector, "dev-db")
    agent = agent_factory("dev-db")
    envs = [event_envelope("dev-db", seq) for seq in range(1, 6)]
    agent.publish_event(envs[0])
    wait_until(lambda: agent.receipted_seqs() == {1}, 10, what="first receipt")
    try:
        set_allowed(False)
        for env in envs[1:]:
            agent.publish_event(env)
        wait_until(
            lambda: collector.metrics.registry.get_sample_value("prtc_ingest_db_retries_total"),
            10,
            what="retries",
        )
        time.sleep(0.5)
        assert agent.receipted_seqs() == {1}  # nothing receipted while not stored
        assert collector.worker.running
    finally:
        set_allowed(True)
        admin.dispose()
    wait_until(lambda: agent.receipted_seqs() == {1, 2, 3, 4, 5}, 30, what="receipts after outage")
    assert stored() == 5
