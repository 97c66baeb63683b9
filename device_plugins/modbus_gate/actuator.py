"""The actuator interface a workflow needs from a gate, and a Modbus relay behind it.

``Gate.open(pulse_ms)`` is all a workflow asks of a gate: let one person through. A relay
board does it with a pulse: output on, wait, output off. The "on" write happens in the
caller's thread (so the caller knows the door was told to open); the "off" write is left to a
worker thread, so nobody blocks for the pulse. A second open during a pulse extends it. An
"off" that fails is retried until it succeeds: a door left released is the worse failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from device_plugins.modbus_bus import ModbusBus, ModbusError

OFF_RETRY_S = 0.2


class Gate(Protocol):
    def open(self, pulse_ms: int | None = None) -> None: ...


@dataclass(frozen=True)
class Output:
    """One relay output: a coil, or a holding register written with on/off values."""

    kind: str  # "coil" or "register"
    address: int
    on_value: int = 1
    off_value: int = 0


class ModbusRelay:
    def __init__(
        self,
        bus: ModbusBus,
        *,
        slave: int,
        output: Output,
        pulse_ms: int,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.bus, self.slave, self.output, self.pulse_ms = bus, slave, output, pulse_ms
        self._on_error = on_error
        self._lock = threading.Condition()
        # Held across a write and the bookkeeping that goes with it, so that an "off" never
        # lands after an "on" that extended the pulse.
        self._io = threading.Lock()
        self._off_at: dict[Output, float] = {}  # outputs to switch off, and when
        self._closed = False
        self._worker = threading.Thread(target=self._offs, name="relay-off", daemon=True)
        self._worker.start()

    def open(self, pulse_ms: int | None = None, output: Output | None = None) -> None:
        """Switch ``output`` (default: the configured one) on now and off after the pulse;
        raise ModbusError when the "on" write fails."""
        output = output or self.output
        pulse_s = (pulse_ms if pulse_ms is not None else self.pulse_ms) / 1000
        with self._io:
            self._write(output, True)
            with self._lock:
                off_at = max(self._off_at.get(output, 0.0), time.monotonic() + pulse_s)
                self._off_at[output] = off_at
                self._lock.notify()

    def probe(self) -> bool:
        """Read the output back (a liveness check); True when it is on."""
        if self.output.kind == "coil":
            return self.bus.read_coil(self.slave, self.output.address)
        (value,) = self.bus.read_registers(self.slave, self.output.address, 1, holding=True)
        return value == self.output.on_value

    def close(self) -> None:
        """Switch off whatever is still on (once, best effort) and stop the worker."""
        with self._lock:
            pending, self._off_at = list(self._off_at), {}
            self._closed = True
            self._lock.notify()
        self._worker.join(5)
        for output in pending:
            try:
                self._write(output, False)
            except ModbusError as exc:
                self._report(exc)

    def _write(self, output: Output, on: bool) -> None:
        if output.kind == "coil":
            self.bus.write_coil(self.slave, output.address, on)
        else:
            value = output.on_value if on else output.off_value
            self.bus.write_register(self.slave, output.address, value)

    def _offs(self) -> None:
        while True:
            with self._lock:
                while not self._closed:
                    now = time.monotonic()
                    nearest = min(self._off_at.values(), default=None)
                    if nearest is not None and nearest <= now:
                        break
                    self._lock.wait(None if nearest is None else nearest - now)
                if self._closed:
                    return
            with self._io:
                with self._lock:
                    now = time.monotonic()
                    due = [o for o, at in self._off_at.items() if at <= now]
                for output in due:
                    try:
                        self._write(output, False)
                    except ModbusError as exc:
                        self._report(exc)
                        with self._lock:  # keep it pending; try again shortly
                            self._off_at[output] = time.monotonic() + OFF_RETRY_S
                        continue
                    with self._lock:
                        self._off_at.pop(output, None)

    def _report(self, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(exc)
