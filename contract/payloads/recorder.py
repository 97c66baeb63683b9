"""Room recorder: what a recorder plugin instance (``device_plugins/recorder``) reports.

Commands (actions of the instance ``<name>``, e.g. ``rec1.start``):

* ``<name>.start`` with :class:`StartArgs`: record now (a manual session) until ``stop`` or
  ``duration_s``;
* ``<name>.stop``: stop a manual recording, or the scheduled session under way (it stays
  stopped until that session's window ends);
* ``<name>.status``: returns a :class:`RecorderStatus`.

Events: ``recorder.state`` whenever the state, the session or the error changes. Every finished
segment is uploaded to the collector's file store; its ``agent.file_uploaded`` event has
``kind = "recording"`` and ``meta`` with ``recorder``, ``session_id``, ``started_at`` (ISO),
``duration_s`` and ``index``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.payloads._base import Payload
from contract.registry import Priority, registry

RecordingState = Literal["recording", "idle", "error"]


class RecorderStatus(Payload):
    """The state of one recorder instance."""

    state: RecordingState
    session_id: str | None = Field(default=None, max_length=64, description="场次 being recorded")
    reason: str = Field(
        default="",
        max_length=64,
        description="why: schedule, command, stopped, session_end, ffmpeg_crashed, disk_critical…",
    )
    segments: int = Field(default=0, ge=0, description="segments finished in this session")
    disk_free_bytes: int | None = Field(default=None, ge=0)
    uploads_pending: int = Field(default=0, ge=0)
    error: str = Field(default="", max_length=500)


class StartArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(default="manual", min_length=1, max_length=64)
    duration_s: float | None = Field(default=None, gt=0, le=7 * 86400)


registry.register("recorder.state", RecorderStatus, Priority.STATUS)
