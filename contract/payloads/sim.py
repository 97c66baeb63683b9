"""Events of the simulated device used by demos, tests and benchmarks."""

from __future__ import annotations

from pydantic import Field

from contract.payloads._base import Payload
from contract.registry import Priority, registry


class SimReading(Payload):
    """A simulated sensor reading (telemetry)."""

    sensor: str = Field(max_length=64)
    value: float
    unit: str = Field(default="", max_length=16)
    n: int = Field(ge=0, description="running counter of the generator")


class SimAccess(Payload):
    """A simulated access decision (critical)."""

    person: str = Field(max_length=64)
    granted: bool
    n: int = Field(ge=0)


class SimBulk(Payload):
    """A simulated low-value bulk record."""

    blob: str = Field(max_length=65536)
    n: int = Field(ge=0)


registry.register("sim.reading", SimReading, Priority.TELEMETRY)
registry.register("sim.access", SimAccess, Priority.CRITICAL)
registry.register("sim.bulk", SimBulk, Priority.BULK)
