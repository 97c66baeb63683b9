"""One Modbus RTU client per serial bus, shared by the plugins on that bus.

An RS-485 line carries one conversation at a time: a gate relay and a thermometer on the same
adapter must not talk over each other, and only one process object may own the port. So the
plugins take a :class:`ModbusBus` from :func:`acquire` by URL, every request holds the bus
lock, and the last :meth:`ModbusBus.release` closes the port.

A request that fails closes the client; the next request reconnects (a USB adapter that came
back under the same name is picked up without restarting anything).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException

T = TypeVar("T")


class ModbusError(Exception):
    """The bus or the slave failed a request (no port, no answer, exception response)."""


class ModbusBus:
    def __init__(self, url: str, *, baudrate: int, timeout_s: float) -> None:
        self.url = url
        self.baudrate = baudrate
        self._lock = threading.Lock()
        self._users = 0
        # retries=0: the callers decide about retrying; a quick failure keeps health honest.
        self._client = ModbusSerialClient(
            url, baudrate=baudrate, timeout=timeout_s, retries=0, reconnect_delay=0
        )

    def request(self, call: Callable[[ModbusSerialClient], Any]) -> Any:
        """Run ``call(client)`` under the bus lock; raise ModbusError on any failure."""
        with self._lock:
            try:
                if not self._client.connected and not self._client.connect():
                    raise ModbusError(f"cannot open {self.url}")
                result = call(self._client)
            except ModbusError:
                self._client.close()
                raise
            except (ModbusException, OSError, ValueError) as exc:
                self._client.close()
                raise ModbusError(f"{self.url}: {exc}") from exc
            if hasattr(result, "isError") and result.isError():
                raise ModbusError(f"{self.url}: slave answered {result}")
            return result

    def read_registers(self, slave: int, address: int, count: int, *, holding: bool) -> list[int]:
        def read(client: ModbusSerialClient) -> Any:
            fn = client.read_holding_registers if holding else client.read_input_registers
            return fn(address, count=count, device_id=slave)

        return list(self.request(read).registers)

    def read_coil(self, slave: int, address: int) -> bool:
        result = self.request(lambda c: c.read_coils(address, count=1, device_id=slave))
        return bool(result.bits[0])

    def write_coil(self, slave: int, address: int, value: bool) -> None:
        self.request(lambda c: c.write_coil(address, value, device_id=slave))

    def write_register(self, slave: int, address: int, value: int) -> None:
        self.request(lambda c: c.write_register(address, value, device_id=slave))

    def close(self) -> None:
        with self._lock:
            self._client.close()


_buses: dict[str, ModbusBus] = {}
_buses_lock = threading.Lock()


def acquire(url: str, *, baudrate: int, timeout_s: float = 0.5) -> ModbusBus:
    """The shared bus for ``url`` (created on first use). The first user's line settings win:
    a bus has one baud rate, and a mismatch is refused rather than silently ignored."""
    with _buses_lock:
        bus = _buses.get(url)
        if bus is None:
            bus = _buses[url] = ModbusBus(url, baudrate=baudrate, timeout_s=timeout_s)
        elif bus.baudrate != baudrate:
            raise ValueError(f"{url} is already in use at {bus.baudrate} baud, not {baudrate}")
        bus._users += 1
        return bus


def release(bus: ModbusBus) -> None:
    with _buses_lock:
        bus._users -= 1
        if bus._users <= 0:
            _buses.pop(bus.url, None)
            bus.close()
