"""Online state from status messages (epoch rule), staleness, commands and their acks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from collector.commands import service as commands_service
from collector.commands.models import Command, CommandState
from collector.devices import service as devices_service
from collector.devices.models import Device
from collector.housekeeping import Housekeeping, LeaderLock
from collector.runtime import Runtime
from contract.ids import uuid7
from tests.collector.conftest import enrol, now_iso, session
from tests.support.net import wait_until


def device(runtime: Runtime, device_id: str) -> Device:
    with session(runtime) as s:
        return s.get(Device, device_id)


def command(runtime: Runtime, command_id: str) -> Command:
    with session(runtime) as s:
        return s.get(Command, command_id)


def ack(agent, command_id: str, seq: int, status: str, ts: datetime | None = None, **kw) -> dict:
    body = {
        "id": str(uuid7()),
        "command_id": command_id,
        "centre": agent.centre,
        "device": agent.device,
        "seq": seq,
        "status": status,
        "ts": (ts or datetime.now(UTC)).isoformat(),
        **kw,
    }
    agent.publish_ack(body)
    return body


def test_stale_last_will_is_ignored(collector, agent_factory):
    enrol(collector, "dev-s")
    agent = agent_factory("dev-s")
    agent.publish_status("online", boot=3, session_=1)
    wait_until(lambda: device(collector, "dev-s").online, 10, what="online")
    # The will of an earlier connection arrives late: ignored.
    agent.publish_status("offline", boot=3, session_=0)
    agent.publish_status("offline", boot=2, session_=9)
    # The current connection's will is applied.
    agent.publish_status("offline", boot=3, session_=1)
    wait_until(lambda: not device(collector, "dev-s").online, 10, what="offline by will")
    d = device(collector, "dev-s")
    assert (d.status_boot, d.status_session) == (3, 1)
    # The same (now stale) online again does not resurrect it; a new session does.
    agent.publish_status("online", boot=3, session_=1)
    agent.publish_status("online", boot=3, session_=2)
    wait_until(lambda: device(collector, "dev-s").online, 10, what="online again")
    assert device(collector, "dev-s").status_session == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_apply_status_epoch_rule_units(collector):
    enrol(collector, "dev-e")

    def status(state: str, boot: int, sess: int):
        from contract.envelopes import StatusMessage

        return StatusMessage(state=state, boot=boot, session=sess, ts=datetime.now(UTC))

    with session(collector) as s:
        apply = devices_service.apply_status
        assert apply(s, "t-city", "dev-e", status("online", 1, 0)).came_online
        assert not apply(s, "t-city", "dev-e", status("online", 1, 0)).applied
        assert not apply(s, "t-city", "dev-e", status("offline", 0, 5)).applied
        assert apply(s, "t-city", "dev-e", status("offline", 1, 0)).went_offline
        assert not apply(s, "t-city", "dev-e", status("online", 1, 0)).applied
        assert apply(s, "t-city", "dev-e", status("online", 2, 0)).came_online
        assert not apply(s, "other", "dev-e", status("offline", 9, 9)).applied  # wrong centre


def test_time_critical_command_to_offline_device_is_answered_offline(collector, agent_factory):
    enrol(collector, "dev-c")
    agent = agent_factory("dev-c")
    with session(collector) as s:
        cmd = commands_service.send_command(
            s, collector.publisher, device_id="dev-c", action="gate.open", ttl_s=10
        )
    assert cmd.state is CommandState.OFFLINE
    assert command(collector, cmd.id).state is CommandState.OFFLINE
    agent.publish_status("online", boot=1, session_=1)
    wait_until(lambda: device(collector, "dev-c").online, 10, what="online")
    assert agent.of("cmd") == []


def test_durable_command_is_delivered_when_device_comes_online(collector, agent_factory):
    enrol(collector, "dev-d")
    agent = agent_factory("dev-d")
    with session(collector) as s:
        cmd = commands_service.send_command(
            s,
            collector.publisher,
            device_id="dev-d",
            action="burner.start",
            args={"project": "P-1"},
            ttl_s=60,
            durable=True,
            created_by="tester",
        )
        expired = commands_service.send_command(
            s,
            collector.publisher,
            device_id="dev-d",
            action="burner.start",
            ttl_s=0.01,
            durable=True,
        )
    time.sleep(0.05)  # the short-lived one has surely expired before the device comes back
    assert cmd.state is CommandState.QUEUED
    agent.publish_status("online", boot=1, session_=1)
    wait_until(lambda: agent.of("cmd"), 10, what="command delivered")
    sent = agent.of("cmd")
    assert [c["id"] for c in sent] == [cmd.id]  # the expired one is not sent
    assert sent[0]["args"] == {"project": "P-1"} and sent[0]["durable"] is True
    stored = command(collector, cmd.id)
    assert stored.state is CommandState.SENT and stored.send_count == 1
    with session(collector) as s:
        assert commands_service.expire_commands(s) == 1
    assert command(collector, expired.id).state is CommandState.EXPIRED

    # Acks: received → progress → succeeded; a late older ack and acks after final change nothing.
    t0 = datetime.now(UTC)
    ack(agent, cmd.id, 1, "received", t0)
    wait_until(
        lambda: command(collector, cmd.id).state is CommandState.RECEIVED, 10, what="received"
    )
    ack(agent, cmd.id, 2, "progress", t0 + timedelta(seconds=2), progress=0.5, message="burning")
    wait_until(lambda: command(collector, cmd.id).progress == 0.5, 10, what="progress")
    ack(agent, cmd.id, 3, "progress", t0 + timedelta(seconds=1), progress=0.25)  # older
    ack(agent, cmd.id, 4, "succeeded", t0 + timedelta(seconds=3), result={"disc": "D1"})
    wait_until(lambda: command(collector, cmd.id).state is CommandState.SUCCEEDED, 10, what="done")
    ack(agent, cmd.id, 5, "failed", t0 + timedelta(seconds=4), message="late")
    wait_until(lambda: agent.receipted_seqs() >= {1, 2, 3, 4, 5}, 10, what="acks receipted")
    final = command(collector, cmd.id)
    assert final.state is CommandState.SUCCEEDED
    assert final.result == {"disc": "D1"} and final.progress == 1.0
    rows, total = commands_service.list_commands(
        session(collector), device_id="dev-d", state="succeeded"
    )
    assert total == 1 and rows[0].id == cmd.id
    # Re-sent again on a later reconnect? No: it is answered.
    agent.publish_status("online", boot=1, session_=2)
    wait_until(lambda: device(collector, "dev-d").status_session == 2, 10, what="reconnect")
    assert len(agent.of("cmd")) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_online_device_gets_command_at_once_and_ack_from_other_device_is_ignored(
    collector, agent_factory
):
    enrol(collector, "dev-o")
    enrol(collector, "dev-x")
    agent = agent_factory("dev-o")
    intruder = agent_factory("dev-x")
    agent.publish_status("online", boot=1, session_=1)
    wait_until(lambda: device(collector, "dev-o").online, 10, what="online")
    with session(collector) as s:
        cmd = commands_service.send_command(
            s, collector.publisher, device_id="dev-o", action="gate.open", ttl_s=5
        )
    assert cmd.state is CommandState.SENT
    wait_until(lambda: agent.of("cmd"), 10, what="command")
    ack(intruder, cmd.id, 1, "succeeded")
    wait_until(lambda: intruder.receipted_seqs() == {1}, 10, what="intruder ack stored")
    assert command(collector, cmd.id).state is CommandState.SENT


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_mark_stale_and_heartbeat_revival(collector, agent_factory):
    from tests.collector.conftest import event_envelope, heartbeat_payload

    enrol(collector, "dev-st")
    agent = agent_factory("dev-st")
    agent.publish_status("online", boot=1, session_=1)
    wait_until(lambda: device(collector, "dev-st").online, 10, what="online")
    with session(collector) as s:
        later = datetime.now(UTC) + timedelta(seconds=91)
        assert devices_service.mark_stale(s, later, default_interval_s=30) == ["dev-st"]
        assert devices_service.mark_stale(s, later, default_interval_s=30) == []
    assert not device(collector, "dev-st").online
    # Its connection never dropped: the next heartbeat brings it back.
    # An agent that says it beats every 120 s is given three of its own intervals.
    beat = heartbeat_payload(interval_s=120.0)
    agent.publish_event(event_envelope("dev-st", 1, type_="agent.heartbeat", **beat))
    wait_until(lambda: device(collector, "dev-st").online, 10, what="revived by heartbeat")
    with session(collector) as s:
        now = datetime.now(UTC)
        assert devices_service.mark_stale(s, now + timedelta(seconds=91)) == []
        assert devices_service.mark_stale(s, now + timedelta(seconds=361)) == ["dev-st"]


def test_housekeeping_runs_on_one_leader_only(collector, db_url):
    other = Housekeeping(collector.engine, collector.settings.devices)
    try:
        mine = collector.housekeeping
        assert mine.run_once()
        if collector.engine.dialect.name == "postgresql":
            assert not other.run_once()  # the runtime's instance holds the advisory lock
            mine.lock.release()
            assert other.run_once()
            assert not LeaderLock(collector.engine).acquire()
        else:
            assert other.run_once()  # SQLite: one collector, always leader
    finally:
        other.stop()


def test_status_of_unenrolled_device_is_dead_lettered_unless_retained(collector, agent_factory):
    from sqlmodel import select

    from collector.ingest.models import DeadLetter

    agent = agent_factory("nobody")
    body = f'{{"state": "online", "boot": 1, "session": 1, "ts": "{now_iso()}"}}'.encode()
    agent.publish_raw("prtc/v1/t-city/nobody/status", body, retain=True)
    agent.publish_raw("prtc/v1/t-city/nobody/status", body, retain=False)

    def reasons() -> list[str]:
        with session(collector) as s:
            return [d.reason for d in s.exec(select(DeadLetter))]

    # Both reach a live subscriber without the retain flag.
    wait_until(lambda: reasons() == ["unenrolled", "unenrolled"], 10, what="dead letters")
    # The retained one replays at every (re)subscribe: not dead-lettered again each time.
    collector.link.stop()
    collector.link.start()
    assert collector.wait_ready(10)
    batches = collector.worker.batches
    wait_until(lambda: collector.worker.batches > batches, 10, what="retained replay")
    assert reasons() == ["unenrolled", "unenrolled"]
