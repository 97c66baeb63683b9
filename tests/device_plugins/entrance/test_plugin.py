"""The entrance plugin with a fake agent context: swipes in, decisions and passages out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from threading import Event
from typing import Any
from uuid import UUID

import pytest

from contract.idnumber import check_character
from contract.payloads.entrance import EntranceRules, Person, WatchedRegion
from device_plugins.entrance.plugin import EntrancePlugin
from device_plugins.messages import CARD_READ, TEMPERATURE, CardRead, TemperatureReading
from edge_agent.plugin_api import CommandRequest

from .fakes import FakeContext

WUHAN = "420102199001011236"


def number(code: str, seq: str = "123") -> str:
    body = code + "19900101" + seq
    return body + check_character(body)


def card(id_number: str, reader: str = "idcard", name: str = "张三") -> CardRead:
    person = Person(document_type="resident", name=name, id_number=id_number)
    return CardRead(
        reader=reader, person=person, photo=b"\x00" * 1024, last_byte_at=time.perf_counter()
    )


def temp(celsius: float, sensor: str = "thermometer") -> TemperatureReading:
    return TemperatureReading(sensor, celsius, "sensor", time.perf_counter())


def request(action: str, **args: Any) -> CommandRequest:
    return CommandRequest(
        command_id=UUID(int=1),
        action=action,
        args=args,
        deadline=datetime.now(UTC) + timedelta(seconds=10),
        cancelled=Event(),
        progress=lambda f, m: None,
    )


def settings(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "door": "east",
        "readers": {"idcard": "in", "idcard_out": "out"},
        "gate_action": "gate1.open",
        "gate_args": {"pulse_ms": 300},
        "operator": "王五",
        "kiosk_enabled": False,
    }
    base.update(extra)
    return base


@pytest.fixture
def started() -> Iterator[tuple[EntrancePlugin, FakeContext]]:
    ctx = FakeContext(settings())
    plugin = EntrancePlugin(ctx)
    plugin.start()
    yield plugin, ctx
    plugin.stop()


def test_card_and_temperature_admit_open_the_gate_and_emit_a_passage(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    plugin, ctx = started
    ctx.publish_local(TEMPERATURE, temp(36.6))
    ctx.publish_local(CARD_READ, card(number("110105")))
    assert ctx.calls == [("gate1.open", {"pulse_ms": 300})]
    [p] = ctx.passages()
    assert (p.direction, p.decision, p.decided_by, p.door) == ("in", "admitted", "rules", "east")
    assert p.gate_opened and p.temperature_c == 36.6 and p.temperature_source == "sensor"
    assert p.decision_ms is not None and p.decision_ms >= 0
    assert p.origin.province == "北京市" and p.flags == []
    assert UUID(p.passage_id).version == 7
    assert plugin.door.counts.admitted == 1
    assert ctx.health[-1][0] == "ok"


def test_the_card_first_waits_for_the_temperature_then_the_rules_decide(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    plugin, ctx = started
    ctx.publish_local(CARD_READ, card(number("110105")))
    assert ctx.passages() == [] and len(plugin.door.pending) == 1
    ctx.publish_local(TEMPERATURE, temp(36.4, sensor="other_sensor"))  # not this door's
    assert ctx.passages() == []
    ctx.publish_local(TEMPERATURE, temp(36.4))
    [p] = ctx.passages()
    assert p.decision == "admitted" and p.temperature_c == 36.4 and p.gate_opened
    assert not plugin.door.pending


def test_fever_is_refused_without_opening_the_gate(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    _, ctx = started
    ctx.publish_local(TEMPERATURE, temp(38.2))
    ctx.publish_local(CARD_READ, card(number("110105")))
    [p] = ctx.passages()
    assert p.decision == "refused" and [f.code for f in p.flags] == ["fever"]
    assert ctx.calls == [] and not p.gate_opened


def test_flagged_visitor_waits_for_the_operator_then_confirm_opens_the_gate() -> None:
    rules = EntranceRules(version=7, watched_regions=[WatchedRegion(prefix="4201", level=1)])
    ctx = FakeContext(settings(rules=rules.model_dump(mode="json")))
    plugin = EntrancePlugin(ctx)
    plugin.start()
    try:
        ctx.publish_local(TEMPERATURE, temp(36.5))
        ctx.publish_local(CARD_READ, card(WUHAN))
        assert ctx.passages() == [] and ctx.calls == []
        snap = plugin.door.snapshot()
        assert snap["current"]["status"] == "pending"
        assert snap["current"]["id_masked"] == "420***********1236"
        assert snap["current"]["flags"][0]["reason"] == "来自一类地区：湖北省武汉市"
        result = ctx.actions["entrance.confirm"](request("entrance.confirm"))
        assert result["status"] == "admitted" and "420102199001011236" not in str(result)
        [p] = ctx.passages()
        assert (p.decision, p.decided_by, p.operator, p.rules_version) == (
            "admitted",
            "operator",
            "王五",
            7,
        )
        assert p.gate_opened and p.decision_ms is None
        assert ctx.calls == [("gate1.open", {"pulse_ms": 300})]
        # Refuse: the next flagged visitor.
        ctx.publish_local(TEMPERATURE, temp(36.5))
        ctx.publish_local(CARD_READ, card(number("420103")))
        pid = plugin.door.snapshot()["current"]["passage_id"]
        ctx.actions["entrance.refuse"](request("entrance.refuse", passage_id=pid, operator="赵六"))
        last = ctx.passages()[-1]
        assert (last.decision, last.decided_by, last.operator) == ("refused", "operator", "赵六")
        with pytest.raises(ValueError, match="没有等待确认的访客"):
            ctx.actions["entrance.confirm"](request("entrance.confirm"))
    finally:
        plugin.stop()


def test_unanswered_visitors_are_refused_after_the_timeout() -> None:
    ctx = FakeContext(settings(pending_timeout_s=5))
    plugin = EntrancePlugin(ctx)
    clock = [1000.0]
    plugin.door._monotonic = lambda: clock[0]
    plugin.door.on_card(card(number("110105")))  # no temperature: waits
    assert plugin.door.expire() == []
    clock[0] += 5
    [v] = plugin.door.expire()
    assert v.timed_out
    [p] = ctx.passages()
    assert (p.decision, p.decided_by) == ("refused", "rules")


def test_exit_reader_records_out_without_checks(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    plugin, ctx = started
    ctx.publish_local(CARD_READ, card(WUHAN, reader="idcard_out"))
    [p] = ctx.passages()
    assert (p.direction, p.decision, p.flags, p.gate_opened) == ("out", "admitted", [], False)
    assert plugin.door.counts.exited == 1
    ctx.publish_local(CARD_READ, card(WUHAN, reader="someone_elses_reader"))
    assert len(ctx.passages()) == 1


def test_operator_mode_reader_follows_the_chosen_direction() -> None:
    ctx = FakeContext(settings(readers={"idcard": "operator"}))
    plugin = EntrancePlugin(ctx)
    plugin.start()
    try:
        ctx.actions["entrance.set_direction"](request("entrance.set_direction", direction="out"))
        ctx.publish_local(CARD_READ, card(number("110105")))
        assert ctx.passages()[-1].direction == "out"
        plugin.door.set_direction("in")
        ctx.publish_local(TEMPERATURE, temp(36.5))
        ctx.publish_local(CARD_READ, card(number("110105")))
        assert ctx.passages()[-1].direction == "in"
    finally:
        plugin.stop()


def test_manual_entry_and_manual_temperature(started: tuple[EntrancePlugin, FakeContext]) -> None:
    _, ctx = started
    ctx.actions["entrance.manual_entry"](
        request("entrance.manual_entry", name=" 李四 ", id_number="110105491231002")
    )
    assert ctx.passages() == []  # no temperature yet
    ctx.actions["entrance.manual_temperature"](request("entrance.manual_temperature", celsius=36.3))
    [p] = ctx.passages()
    assert p.person.document_type == "manual" and p.person.name == "李四"
    assert p.person.id_number == "11010519491231002X" and p.person.sex == "女"
    assert (p.temperature_c, p.temperature_source, p.decision) == (36.3, "manual", "admitted")
    with pytest.raises(ValueError):
        ctx.actions["entrance.manual_entry"](
            request("entrance.manual_entry", name="x", id_number="12")
        )


def test_a_failing_gate_still_admits_and_degrades_health(
    started: tuple[EntrancePlugin, FakeContext],
) -> None:
    _, ctx = started
    ctx.gate_fails = True
    ctx.publish_local(TEMPERATURE, temp(36.5))
    ctx.publish_local(CARD_READ, card(number("110105")))
    [p] = ctx.passages()
    assert p.decision == "admitted" and not p.gate_opened
    assert ctx.health[-1][0] == "degraded" and "relay not answering" in ctx.health[-1][1]


def test_new_rules_apply_live_and_defaults_hold_without_any() -> None:
    ctx = FakeContext(settings())
    plugin = EntrancePlugin(ctx)
    assert plugin.settings.rules == EntranceRules()
    rules = EntranceRules(version=3, temperature_threshold_c=37.0)
    plugin.apply_config({**settings(), "rules": rules.model_dump(mode="json")})
    plugin.door.on_temperature(temp(37.1))
    plugin.door.on_card(card(number("110105")))
    [p] = ctx.passages()
    assert p.decision == "refused" and p.rules_version == 3
    with pytest.raises(ValueError):
        plugin.apply_config({**settings(), "door": ""})
