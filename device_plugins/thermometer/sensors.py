"""Temperature sources behind one small interface: ``read_celsius()`` and ``close()``."""

from __future__ import annotations

import threading
import time
from typing import Protocol

import serial

from device_plugins import modbus_bus
from device_plugins.thermometer import gy_mcu90614 as gy

PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError)


class SensorError(Exception):
    """No reading: the port is gone, the module is silent, or the slave refused."""


class Sensor(Protocol):
    def read_celsius(self) -> float: ...

    def close(self) -> None: ...


class GySensor:
    """A GY-MCU90614/90615 module on a serial port, queried frame by frame."""

    def __init__(self, url: str, *, baudrate: int, timeout_s: float) -> None:
        self.url, self.baudrate, self.timeout_s = url, baudrate, timeout_s
        self.parser = gy.FrameParser()
        self._serial: serial.SerialBase | None = None
        self._lock = threading.Lock()

    def read_celsius(self) -> float:
        with self._lock:
            try:
                return self._query().object_c
            except PORT_ERRORS as exc:
                self._close()
                raise SensorError(f"{self.url}: {exc}") from exc

    def _query(self) -> gy.Reading:
        if self._serial is None:
            self._serial = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=0.02, write_timeout=1.0
            )
        port = self._serial
        port.reset_input_buffer()  # a frame from before the query is stale
        self.parser.reset()
        port.write(gy.QUERY)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            readings = self.parser.feed(port.read(max(1, port.in_waiting)))
            if readings:
                return readings[-1]
        raise SensorError(f"{self.url}: no answer to the query in {self.timeout_s} s")

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except PORT_ERRORS:  # already gone with the adapter
                return


class ModbusSensor:
    """A register of a Modbus RTU thermometer: celsius = raw × scale."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int,
        timeout_s: float,
        slave: int,
        register: int,
        function: str,
        scale: float,
        signed: bool,
    ) -> None:
        self.bus = modbus_bus.acquire(url, baudrate=baudrate, timeout_s=timeout_s)
        self.slave, self.register, self.holding = slave, register, function == "holding"
        self.scale, self.signed = scale, signed

    def read_celsius(self) -> float:
        try:
            (raw,) = self.bus.read_registers(self.slave, self.register, 1, holding=self.holding)
        except modbus_bus.ModbusError as exc:
            raise SensorError(str(exc)) from exc
        if self.signed and raw >= 0x8000:
            raw -= 0x10000
        return raw * self.scale

    def close(self) -> None:
        modbus_bus.release(self.bus)
