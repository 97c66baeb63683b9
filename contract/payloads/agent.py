"""Events every agent emits about itself."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from contract.payloads._base import Payload
from contract.registry import Priority, registry

StatusValue = str | int | float | bool | None


class PluginHealth(Payload):
    state: Literal["starting", "ok", "degraded", "failed", "stopped"]
    detail: str = Field(default="", max_length=500)
    data: dict[str, StatusValue] = Field(
        default_factory=dict,
        max_length=32,
        description="machine-readable status figures of the plugin (e.g. a recorder's state)",
    )


class Heartbeat(Payload):
    """Periodic health of the agent and its host."""

    agent_version: str = ""
    boot: int = Field(ge=0)
    uptime_s: float = Field(ge=0, description="seconds since the agent started")
    host_uptime_s: float = Field(ge=0)
    cpu_percent: float = Field(ge=0)
    memory_percent: float = Field(ge=0, le=100)
    disk_percent: float = Field(ge=0, le=100)
    outbox_depth: int = Field(ge=0, description="events and acks not yet covered by a receipt")
    outbox_bytes: int = Field(ge=0)
    oldest_unsent_age_s: float = Field(ge=0)
    evicted: dict[str, int] = Field(
        default_factory=dict, description="events evicted since install, by priority class"
    )
    plugins: dict[str, PluginHealth] = Field(default_factory=dict)
    config_version: int | None = None
    clock_offset_s: float | None = Field(
        default=None, description="collector clock minus agent clock, from the last receipt"
    )
    commands_in_flight: int = Field(default=0, ge=0)
    last_receipt_age_s: float | None = None
    disk_free_bytes: int | None = Field(
        default=None, ge=0, description="free bytes on the disk of the agent's state directory"
    )
    interval_s: float | None = Field(
        default=None,
        gt=0,
        description="seconds until the next heartbeat: the collector marks the device offline "
        "after a few of these without a word (its default interval when absent)",
    )
    uploads_pending: int = Field(default=0, ge=0, description="files queued for upload")
    uploads_pending_bytes: int = Field(default=0, ge=0, description="bytes of those files")
    uploads_failed: int = Field(
        default=0, ge=0, description="uploads given up (file gone or checksum failing)"
    )
    uploads_last_error: str = Field(
        default="", max_length=500, description="the uploader's last error, empty once it works"
    )


class ConfigApplied(Payload):
    """The agent applied (or refused) a desired configuration version."""

    version: int = Field(ge=0)
    ok: bool
    error: str = Field(default="", max_length=2000)


class OutboxEvicted(Payload):
    """The outbox hit a bound and evicted events; sent once per eviction burst."""

    priority: Literal["critical", "status", "telemetry", "bulk"]
    reason: Literal["count", "bytes", "age"]
    count: int = Field(ge=1)
    total: int = Field(ge=1, description="evicted from this class since install")


class FileUploaded(Payload):
    """A file the agent queued has been uploaded completely, its SHA-256 checked by the
    collector. Sent at least once per upload: consumers link files by ``file_id``."""

    file_id: UUID = Field(description="the collector's file id (``/api/v1/files/{id}``)")
    upload_id: str = Field(max_length=64, description="the agent's queue id of the upload")
    name: str = Field(max_length=255)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: str = Field(max_length=64, description="what the file is, e.g. 'recording'")
    content_type: str = Field(default="application/octet-stream", max_length=128)
    meta: dict[str, StatusValue] = Field(default_factory=dict, max_length=64)


registry.register("agent.heartbeat", Heartbeat, Priority.STATUS)
registry.register("agent.config_applied", ConfigApplied, Priority.CRITICAL)
registry.register("agent.outbox_evicted", OutboxEvicted, Priority.STATUS)
registry.register("agent.file_uploaded", FileUploaded, Priority.CRITICAL)
