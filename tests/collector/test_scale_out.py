"""Two collectors share the event stream ($share) over one PostgreSQL: still exactly once."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from collector.devices.models import Device, SequenceGap
from collector.ingest.models import StoredEvent
from tests.collector.conftest import enrol, event_envelope, session
from tests.support.net import wait_until


@pytest.mark.postgres
def test_shared_subscription_collectors_store_each_event_once(
    mosquitto, pg_database, runtime_factory, agent_factory
):
    url = pg_database()
    shared = {"shared_subscription": True}
    a = runtime_factory(url, mosquitto.url, mqtt=shared)
    b = runtime_factory(url, mosquitto.url, mqtt=shared)
    devices = [f"so-{i}" for i in range(4)]
    for device in devices:
        enrol(a, device)
        b.worker.enrolment_cache.invalidate(device)
    count = 150
    agents = [agent_factory(d) for d in devices]
    envelopes = {d: [event_envelope(d, s) for s in range(1, count + 1)] for d in devices}
    for agent in agents:
        for env in envelopes[agent.device]:
            agent.publish_event(env)
        for env in envelopes[agent.device][::3]:  # resends
            agent.publish_event(env)

    def stored() -> int:
        with session(a) as s:
            return int(s.exec(select(func.count()).select_from(StoredEvent)).one())

    wait_until(lambda: stored() == count * len(devices), 30, what="all stored")
    for agent in agents:
        wait_until(lambda ag=agent: ag.receipted_seqs() == set(range(1, count + 1)), 10)
    per_collector = [
        rt.metrics.registry.get_sample_value("prtc_ingest_stored_total", {"kind": "event"}) or 0
        for rt in (a, b)
    ]
    assert sum(per_collector) == count * len(devices)
    assert all(n > 0 for n in per_collector), per_collector  # both did work
    with session(a) as s:
        for device in devices:
            row = s.get(Device, device)
            assert (row.last_seq, row.stored_count) == (count, count)
        open_missing = s.exec(
            select(func.coalesce(func.sum(SequenceGap.missing), 0)).where(
                SequenceGap.closed_at.is_(None)  # type: ignore[union-attr]
            )
        ).one()
    assert open_missing == 0
