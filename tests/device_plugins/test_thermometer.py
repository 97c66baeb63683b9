"""The thermometer plugin: the GY-MCU90614 serial module and a Modbus RTU thermometer through
their byte-level simulators, trigger and stream modes, and manual entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from device_plugins.idcard_sam.simulator import SamSimulator, resident_card
from device_plugins.messages import CARD_READ, TEMPERATURE, TemperatureReading
from device_plugins.modbus_rtu import RtuSlaveSimulator
from device_plugins.thermometer import gy_mcu90614 as gy
from device_plugins.thermometer.simulator import GyMcu90614Simulator

from .conftest import Site, wait_until
from .idcard_sam.conftest import FAST as FAST_READER

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def gy_sim(tmp_path: Path) -> Iterator[GyMcu90614Simulator]:
    s = GyMcu90614Simulator(tmp_path / "thermo0", object_c=36.6)
    s.start()
    yield s
    s.stop()


def readings(site: Site) -> list[TemperatureReading]:
    return site.got(TEMPERATURE)


def test_gy_frame_parser() -> None:
    frame = gy.encode_frame(36.57, -3.2)
    assert frame[:4] == b"\x5a\x5a\x45\x04" and len(frame) == 9
    parser = gy.FrameParser()
    bad = frame[:-1] + bytes([frame[-1] ^ 1])
    got = parser.feed(b"\x00\x5a" + bad + frame[:5]) + parser.feed(frame[5:])
    assert got == [gy.Reading(36.57, -3.2)] and parser.bad_frames == 1


def test_trigger_mode_measures_when_a_card_is_read(
    tmp_path: Path, gy_sim: GyMcu90614Simulator, make_site: Callable[..., Site]
) -> None:
    sam = SamSimulator(tmp_path / "sam0")
    sam.start()
    try:
        site = make_site(
            {
                "reader1": {**FAST_READER, "port": sam.path},
                "thermo1": {
                    "kind": "thermometer",
                    "protocol": "gy_mcu90614",
                    "port": gy_sim.path,
                    "mode": "trigger",
                    "sample_interval_s": 0.02,
                },
            },
            CARD_READ,
            TEMPERATURE,
        )
        site.wait_health("thermo1", "ok")
        assert readings(site) == []  # the start-up probe publishes nothing
        sam.present(resident_card())
        reading = wait_until(lambda: readings(site), 10, "a temperature")[0]
        assert (reading.sensor, reading.celsius, reading.source) == ("thermo1", 36.6, "sensor")
        assert len(site.got(CARD_READ)) == 1
    finally:
        sam.stop()


def test_stream_mode_skips_implausible_values_and_bad_frames(
    gy_sim: GyMcu90614Simulator, make_site: Callable[..., Site]
) -> None:
    gy_sim.object_c = 24.0  # nobody in front of the sensor
    gy_sim.corrupt_next = 2
    site = make_site(
        {
            "thermo1": {
                "kind": "thermometer",
                "protocol": "gy_mcu90614",
                "port": gy_sim.path,
                "mode": "stream",
                "interval_s": 0.02,
            }
        },
        TEMPERATURE,
    )
    wait_until(lambda: site.call("thermo1.status")["implausible"] >= 3, 10, "implausible")
    assert readings(site) == []
    gy_sim.object_c = 37.9
    reading = wait_until(lambda: readings(site), 10, "a reading")[0]
    assert reading.celsius == 37.9
    assert site.call("thermo1.status")["errors"] >= 1  # the corrupt answers timed out


def test_gy_module_unplugged_and_back(
    gy_sim: GyMcu90614Simulator, make_site: Callable[..., Site]
) -> None:
    site = make_site(
        {
            "thermo1": {
                "kind": "thermometer",
                "protocol": "gy_mcu90614",
                "port": gy_sim.path,
                "mode": "stream",
                "interval_s": 0.02,
                "timeout_s": 0.2,
            }
        },
        TEMPERATURE,
    )
    site.wait_health("thermo1", "ok")
    gy_sim.unplug()
    site.wait_health("thermo1", "degraded")
    gy_sim.replug()
    site.wait_health("thermo1", "ok")
    count = len(readings(site))
    wait_until(lambda: len(readings(site)) > count, 10, "readings again")


@pytest.mark.parametrize(
    ("function", "raw", "scale", "expected"),
    [("input", 366, 0.1, 36.6), ("holding", 3712, 0.01, 37.12)],
)
def test_modbus_thermometer(
    tmp_path: Path,
    make_site: Callable[..., Site],
    function: str,
    raw: int,
    scale: float,
    expected: float,
) -> None:
    rtu = RtuSlaveSimulator(tmp_path / "rtu0", slave=3)
    (rtu.input if function == "input" else rtu.holding)[12] = raw
    rtu.start()
    try:
        site = make_site(
            {
                "thermo1": {
                    "kind": "thermometer",
                    "protocol": "modbus",
                    "port": rtu.path,
                    "slave": 3,
                    "register": 12,
                    "function": function,
                    "scale": scale,
                    "mode": "stream",
                    "interval_s": 0.05,
                }
            },
            TEMPERATURE,
        )
        reading = wait_until(lambda: readings(site), 10, "a reading")[0]
        assert reading.celsius == expected and reading.source == "sensor"
        assert site.call("thermo1.measure") == {"celsius": expected, "published": True}
    finally:
        rtu.stop()


def test_modbus_thermometer_that_does_not_answer_is_degraded(
    tmp_path: Path, make_site: Callable[..., Site]
) -> None:
    rtu = RtuSlaveSimulator(tmp_path / "rtu0", slave=9)  # wrong slave: silence for slave 1
    rtu.start()
    try:
        site = make_site(
            {
                "thermo1": {
                    "kind": "thermometer",
                    "protocol": "modbus",
                    "port": rtu.path,
                    "timeout_s": 0.2,
                }
            },
        )
        site.wait_health("thermo1", "degraded")
    finally:
        rtu.stop()


def test_manual_entry(make_site: Callable[..., Site]) -> None:
    site = make_site({"thermo1": {"kind": "thermometer", "protocol": "manual"}}, TEMPERATURE)
    site.wait_health("thermo1", "ok")
    assert site.call("thermo1.manual_entry", {"celsius": 36.84}) == {
        "celsius": 36.84,
        "source": "manual",
    }
    (reading,) = readings(site)
    assert (reading.celsius, reading.source, reading.sensor) == (36.84, "manual", "thermo1")
    with pytest.raises(ValidationError):
        site.call("thermo1.manual_entry", {"celsius": 50})
    with pytest.raises(LookupError):
        site.call("thermo1.measure")  # no sensor to measure with
