"""What the agent reports about itself: heartbeats, eviction events, status; self-repair."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from contract.payloads.agent import Heartbeat, OutboxEvicted
from contract.payloads.sim import SimReading
from edge_agent.agent import Agent

from .conftest import free_port, wait_until
from .test_plugins import events, final_ack, submit

Make = Callable[..., Agent]


def test_eviction_burst_is_reported_once_and_counted_in_the_heartbeat(make_agent: Make) -> None:
    agent = make_agent(
        "dev-evict",
        free_port(),
        agent={"heartbeat_interval_s": 0.5},
        outbox={"max_events": 20},
    )
    agent.events.emit_many(
        [("sim.reading", SimReading(sensor="s", value=1.0, n=n)) for n in range(50)]
    )
    reports = wait_until(lambda: events(agent, "agent.outbox_evicted"), 8, "eviction event")
    report = OutboxEvicted.model_validate(reports[0]["payload"])
    assert (report.priority, report.reason) == ("telemetry", "count")
    assert report.count >= 30 and report.total == report.count
    assert agent.outbox.depth() <= 20

    def heartbeat_with_evictions() -> Heartbeat | None:
        for event in reversed(events(agent, "agent.heartbeat")):
            beat = Heartbeat.model_validate(event["payload"])
            if beat.evicted:
                return beat
        return None

    beat = wait_until(heartbeat_with_evictions, 5, "heartbeat after eviction")
    assert beat.evicted["telemetry"] >= 30
    assert beat.boot == 1 and beat.outbox_depth <= 20 and 0 <= beat.disk_percent <= 100
    assert beat.last_receipt_age_s is None and beat.clock_offset_s is None
    assert beat.interval_s == 0.5  # the collector's offline check follows the agent's pace


def test_status_action_reports_outbox_link_and_plugins(make_agent: Make) -> None:
    agent = make_agent("dev-status", free_port(), plugins={"sim1": {"kind": "sim", "rate": 0}})
    ack = final_ack(agent, submit(agent, "agent.status"))
    assert ack.status == "succeeded"
    assert ack.result["connected"] is False and ack.result["boot"] == 1
    assert ack.result["plugins"]["sim1"]["state"] == "ok"
    assert ack.result["outbox"]["depth"] >= 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_network_thread_is_restarted_by_the_supervisor(make_agent: Make) -> None:
    agent = make_agent("dev-supervise", free_port())
    link = agent.link
    original = link._step
    died = threading.Event()

    def die_once() -> None:
        if not died.is_set():
            died.set()
            raise SystemExit("simulated death of the network thread")  # escapes the guard
        original()

    link._step = die_once  # type: ignore[method-assign]
    wait_until(lambda: died.is_set(), 5, "thread died")
    first = link._thread
    wait_until(
        lambda: link._thread is not None and link._thread is not first and link._thread.is_alive(),
        5,
        "restarted",
    )
