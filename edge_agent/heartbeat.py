"""The ``agent.heartbeat`` event: health of the agent, its outbox, its plugins and its host."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from contract.payloads.agent import Heartbeat, PluginHealth
from edge_agent.outbox import OutboxStats
from edge_agent.sender import ReceiptInfo
from edge_agent.upload_queue import UploadStats


class HostProbe:
    """CPU, memory, disk and uptime of the host; CPU is measured between two calls.

    Keeps its own previous CPU sample (rather than psutil's process-wide one) so that several
    agents in one process each get a meaningful figure.
    """

    def __init__(self, disk_path: Path) -> None:
        self._disk_path = disk_path
        self._last = psutil.cpu_times()

    def cpu_percent(self) -> float:
        now = psutil.cpu_times()
        last, self._last = self._last, now
        total = sum(now) - sum(last)
        idle = (now.idle + getattr(now, "iowait", 0.0)) - (last.idle + getattr(last, "iowait", 0.0))
        return round(max(0.0, 100.0 * (total - idle) / total), 1) if total > 0 else 0.0

    def memory_percent(self) -> float:
        return float(psutil.virtual_memory().percent)

    def disk_percent(self) -> float:
        return float(psutil.disk_usage(str(self._disk_path)).percent)

    def disk_free_bytes(self) -> int:
        return int(psutil.disk_usage(str(self._disk_path)).free)

    def uptime_s(self) -> float:
        return max(0.0, time.time() - psutil.boot_time())


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """What the agent knows about itself at heartbeat time."""

    agent_version: str
    boot: int
    uptime_s: float
    outbox: OutboxStats
    plugins: Mapping[str, PluginHealth]
    config_version: int | None
    last_receipt: ReceiptInfo | None
    commands_in_flight: int
    uploads: UploadStats | None = None
    interval_s: float | None = None


def build_heartbeat(figures: AgentFigures, host: HostProbe) -> Heartbeat:
    receipt = figures.last_receipt
    return Heartbeat(
        agent_version=figures.agent_version,
        boot=figures.boot,
        uptime_s=max(0.0, figures.uptime_s),
        host_uptime_s=host.uptime_s(),
        cpu_percent=host.cpu_percent(),
        memory_percent=host.memory_percent(),
        disk_percent=host.disk_percent(),
        outbox_depth=figures.outbox.depth,
        outbox_bytes=figures.outbox.bytes,
        oldest_unsent_age_s=figures.outbox.oldest_age_s,
        evicted=dict(figures.outbox.evicted),
        plugins=dict(figures.plugins),
        config_version=figures.config_version,
        clock_offset_s=round(receipt.clock_offset_s, 3) if receipt else None,
        commands_in_flight=figures.commands_in_flight,
        last_receipt_age_s=max(0.0, time.time() - receipt.at) if receipt else None,
        disk_free_bytes=host.disk_free_bytes(),
        interval_s=figures.interval_s,
        **_upload_fields(figures.uploads),
    )


def _upload_fields(stats: UploadStats | None) -> dict[str, int | str]:
    if stats is None:
        return {}
    return {
        "uploads_pending": stats.pending,
        "uploads_pending_bytes": stats.pending_bytes,
        "uploads_failed": stats.failed,
        "uploads_last_error": stats.last_error[:500],
    }
