"""The WG/Wiegand controller packets, the simulator on real UDP, and the plugin's action."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_plugins.wiegand_gate import protocol as p
from device_plugins.wiegand_gate.controller import ControllerError, WiegandController
from device_plugins.wiegand_gate.simulator import WiegandControllerSimulator
from tests.device_plugins.conftest import Site

SERIAL = 223000123


def test_remote_open_packet_bytes() -> None:
    raw = p.open_door(SERIAL, 2, sequence=7)
    assert len(raw) == 64
    assert raw[:8] == bytes([0x17, 0x40, 0, 0]) + SERIAL.to_bytes(4, "little")
    assert raw[8] == 2 and raw[9:40] == bytes(31)
    assert raw[40:44] == (7).to_bytes(4, "little") and raw[44:] == bytes(20)


@given(
    st.integers(0, 0xFF),
    st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=32),
    st.integers(0, 2**32 - 1),
)
def test_packets_round_trip(function: int, serial: int, data: bytes, seq: int) -> None:
    packet = p.Packet(function, serial, data, seq)
    back = p.decode(packet.encode())
    assert (back.function, back.serial, back.sequence) == (function, serial, seq)
    assert back.data == data.ljust(32, b"\0")


@pytest.mark.parametrize("raw", [b"", bytes(63), b"\x18" + bytes(63)])
def test_malformed_packets_refused(raw: bytes) -> None:
    with pytest.raises(p.PacketError):
        p.decode(raw)


def test_door_out_of_range_refused() -> None:
    with pytest.raises(p.PacketError):
        p.open_door(SERIAL, 5)


@pytest.fixture
def controller() -> Iterator[WiegandControllerSimulator]:
    sim = WiegandControllerSimulator(SERIAL).start()
    yield sim
    sim.stop()


def test_client_opens_retries_and_reports_silence(controller: WiegandControllerSimulator) -> None:
    client = WiegandController(
        controller.host, serial=SERIAL, port=controller.port, timeout_s=0.1, retries=2
    )
    try:
        client.open_door(1)
        assert controller.doors_opened() == [1]
        controller.drop = 2  # two datagrams lost: the third attempt gets through
        client.open_door(3)
        assert controller.doors_opened() == [1, 3] and controller.requests == 4
        controller.silent = True
        with pytest.raises(ControllerError, match="no answer"):
            client.open_door(1)
        wrong = WiegandController(
            controller.host, serial=SERIAL + 1, port=controller.port, timeout_s=0.05, retries=0
        )
        controller.silent = False
        with pytest.raises(ControllerError):  # another serial number: the board stays silent
            wrong.open_door(1)
        wrong.close()
        assert controller.doors_opened() == [1, 3]
    finally:
        client.close()


def test_plugin_open_action(
    controller: WiegandControllerSimulator, make_site: Callable[..., Site]
) -> None:
    site = make_site(
        {
            "door": {
                "kind": "wiegand_gate",
                "host": controller.host,
                "port": controller.port,
                "serial": SERIAL,
                "door": 2,
                "directions": {"in": 1, "out": 4},
                "timeout_s": 0.1,
            }
        }
    )
    site.wait_health("door", "ok")
    assert site.call("door.open") == {"opened": True, "door": 2, "pulse_ms": None}
    assert site.call("door.open", {"direction": "out"})["door"] == 4
    assert site.call("door.open", {"door": 3, "pulse_ms": 300})["door"] == 3
    assert controller.doors_opened() == [2, 4, 3]
    with pytest.raises(ValueError):
        site.call("door.open", {"direction": "sideways"})
    controller.silent = True
    with pytest.raises(ControllerError):
        site.call("door.open")
    assert site.health("door").state == "degraded"
    assert site.call("door.status")["answering"] is False
    controller.silent = False
    assert site.call("door.status")["answering"] is True
    assert site.health("door").state == "ok"
