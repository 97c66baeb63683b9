"""The Modbus gate relay against the byte-level RTU relay-board simulator: the relay really
switches, on then off, through ``call_action`` and through a remote command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contract.envelopes import CommandEnvelope
from contract.ids import uuid7
from device_plugins.modbus_bus import ModbusError
from device_plugins.modbus_rtu import RtuSlaveSimulator

from .conftest import Site, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def board(tmp_path: Path) -> Iterator[RtuSlaveSimulator]:
    sim = RtuSlaveSimulator(tmp_path / "rs485", slave=2)
    sim.start()
    yield sim
    sim.stop()


def gate(board: RtuSlaveSimulator, **settings: object) -> dict[str, object]:
    return {
        "kind": "modbus_gate",
        "port": board.path,
        "slave": 2,
        "timeout_s": 0.2,
        "probe_interval_s": 0.05,
        **settings,
    }


def test_open_pulses_the_coil_and_returns_before_the_pulse_ends(
    board: RtuSlaveSimulator, make_site: Callable[..., Site]
) -> None:
    site = make_site({"gate1": gate(board, address=3, pulse_ms=1000)})
    site.wait_health("gate1", "ok")
    assert site.call("gate1.open") == {"opened": True, "address": 3, "pulse_ms": 1000}
    assert board.coils[3] is True  # on now; the off comes from the worker later
    wait_until(lambda: board.coil_switches(3) == [True, False], 10, "relay on then off")
    on, off = (w for w in board.writes if w.address == 3)
    assert on.at <= off.at


def test_a_second_open_during_the_pulse_extends_it(
    board: RtuSlaveSimulator, make_site: Callable[..., Site]
) -> None:
    site = make_site({"gate1": gate(board, pulse_ms=300)})
    site.call("gate1.open")
    site.call("gate1.open", {"pulse_ms": 400})
    wait_until(lambda: board.coil_switches(0) == [True, True, False], 10, "one off at the end")


def test_directions_and_register_outputs(
    board: RtuSlaveSimulator, make_site: Callable[..., Site]
) -> None:
    site = make_site(
        {
            "gate1": gate(board, directions={"in": 0, "out": 1}, pulse_ms=50),
            "door1": gate(board, output="register", address=40, on_value=0x0100, off_value=0x0200),
        }
    )
    assert site.call("gate1.open", {"direction": "out"})["address"] == 1
    wait_until(lambda: board.coil_switches(1) == [True, False], 10, "out relay pulsed")
    assert board.coil_switches(0) == []
    with pytest.raises(ValueError, match="sideways"):
        site.call("gate1.open", {"direction": "sideways"})
    site.call("door1.open", {"pulse_ms": 50})
    wait_until(
        lambda: [w.value for w in board.writes if w.table == "holding"] == [0x0100, 0x0200],
        10,
        "register on then off",
    )


def test_open_as_a_remote_command(board: RtuSlaveSimulator, make_site: Callable[..., Site]) -> None:
    site = make_site({"gate1": gate(board, pulse_ms=50)})
    now = datetime.now(UTC)
    cmd = CommandEnvelope(
        id=uuid7(),
        centre="c",
        device="d",
        action="gate1.open",
        args={"direction": None},
        issued_at=now,
        expires_at=now + timedelta(seconds=30),
    )
    site.executor.submit(cmd.model_dump_json().encode())
    wait_until(lambda: board.coil_switches(0) == [True, False], 10, "relay pulsed")


def test_board_unplugged_and_back(board: RtuSlaveSimulator, make_site: Callable[..., Site]) -> None:
    site = make_site({"gate1": gate(board, pulse_ms=100)})
    site.wait_health("gate1", "ok")
    site.call("gate1.open")
    board.unplug()  # the "off" of that pulse now fails and is retried
    site.wait_health("gate1", "degraded")
    with pytest.raises(ModbusError):
        site.call("gate1.open")
    board.replug()
    site.wait_health("gate1", "ok")
    wait_until(lambda: board.coils.get(0) is False, 10, "the pending off written after replug")
    site.call("gate1.open", {"pulse_ms": 50})
    wait_until(lambda: board.coil_switches(0)[-2:] == [True, False], 10, "pulsed again")
    assert site.call("gate1.status")["answering"] is True
