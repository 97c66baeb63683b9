"""Settings of one recorder instance (``[plugins.<name>]`` with ``kind = "recorder"``), and the
session schedule that arrives in its desired config."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

SourceType = Literal["desktop", "camera", "microphone", "lavfi"]
AUDIO_LAVFI = ("sine", "anoisesrc", "aevalsrc", "anullsrc", "flite")
GIB = 1024**3


class Source(BaseModel):
    """One input. ``device`` depends on the type and the OS:

    * ``desktop``: the X display on Linux (``:0.0``, or ``:0.0+100,200`` for an offset; default
      ``$DISPLAY``), ``desktop`` or ``title=窗口标题`` on Windows;
    * ``camera``: ``/dev/video0`` on Linux, ``video=USB Camera`` (the DirectShow name) on Windows;
    * ``microphone``: ``default`` or ``hw:1,0`` (ALSA) / a PulseAudio source on Linux,
      ``audio=麦克风 (USB Audio)`` on Windows;
    * ``lavfi``: an ffmpeg test source, e.g. ``testsrc=size=320x240:rate=10`` or ``sine``.
    """

    model_config = ConfigDict(extra="forbid")

    type: SourceType
    device: str = Field(default="", max_length=256)
    backend: str = Field(
        default="",
        max_length=32,
        description="ffmpeg input format; default by OS: x11grab/gdigrab, v4l2/dshow, alsa/dshow",
    )
    framerate: float | None = Field(default=None, gt=0, le=120)
    video_size: str | None = Field(default=None, pattern=r"^\d{2,5}x\d{2,5}$")
    options: dict[str, str] = Field(
        default_factory=dict, description="extra input options, e.g. {input_format = 'mjpeg'}"
    )

    @property
    def is_audio(self) -> bool:
        if self.type == "microphone":
            return True
        if self.type == "lavfi":
            return self.device.split("=", 1)[0].strip() in AUDIO_LAVFI
        return False


class ScheduleEntry(BaseModel):
    """One session (场次) to record: from ``start`` to ``end`` (aware datetimes)."""

    model_config = ConfigDict(extra="ignore")

    session_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleEntry:
        if self.end <= self.start:
            raise ValueError(f"session {self.session_id}: end must be after start")
        return self


class RecorderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[Source] = Field(
        default_factory=lambda: [Source(type="desktop")],
        min_length=1,
        description="At most two video sources (the second is shown picture-in-picture) and one "
        "audio source.",
    )
    output_dir: Path = Field(
        default=Path("/var/lib/prtc-agent/recordings"),
        description="Segments go to <output_dir>/<instance name>/<session id>/.",
    )
    segment_s: float = Field(default=300.0, ge=1, le=3600, description="Segment length.")
    keyframe_s: float = Field(
        default=2.0,
        gt=0,
        le=10,
        description="Keyframe and fragment interval: at most this much "
        "is lost from a segment when the PC loses power.",
    )
    framerate: float = Field(default=15.0, gt=0, le=60, description="Capture frame rate.")
    video_codec: str = Field(default="libx264", max_length=32)
    preset: str = Field(default="veryfast", max_length=16)
    crf: int = Field(default=26, ge=0, le=51)
    audio_bitrate: str = Field(default="96k", pattern=r"^\d+k$")
    pip_width: int = Field(default=480, ge=64, le=1920, description="Width of the camera inset.")
    ffmpeg: str = Field(default="ffmpeg", description="ffmpeg binary (name or path).")
    schedule: list[ScheduleEntry] = Field(
        default_factory=list, description="Sessions to record, delivered as desired config."
    )
    pre_roll_s: float = Field(default=300.0, ge=0, le=7200, description="Start this early.")
    post_roll_s: float = Field(default=600.0, ge=0, le=7200, description="Stop this late.")
    upload: bool = Field(default=True, description="Upload each finished segment.")
    retention_days: float = Field(
        default=30.0, ge=0, description="Delete uploaded segments older than this."
    )
    low_free_bytes: int = Field(
        default=20 * GIB, ge=0, description="Below this free space health is 'degraded'."
    )
    critical_free_bytes: int = Field(
        default=2 * GIB,
        ge=0,
        description="Below this, uploaded segments and then the oldest not-yet-uploaded ones "
        "are deleted (and reported) so recording can go on.",
    )
    restart_min_s: float = Field(default=1.0, gt=0)
    restart_max_s: float = Field(default=60.0, gt=0)
    stop_grace_s: float = Field(
        default=10.0, gt=0, description="Seconds ffmpeg gets to finish after 'q'."
    )

    @field_validator("sources", "schedule", mode="before")
    @classmethod
    def _from_json_text(cls, value: Any) -> Any:
        # From the environment lists arrive as JSON text.
        return json.loads(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _inputs(self) -> RecorderSettings:
        audio = sum(s.is_audio for s in self.sources)
        video = len(self.sources) - audio
        if video > 2 or audio > 1:
            raise ValueError("at most two video sources and one audio source")
        return self

    def recording_fields(self) -> dict[str, Any]:
        """Everything that shapes the ffmpeg command (a change restarts a running ffmpeg)."""
        return self.model_dump(exclude={"schedule", "pre_roll_s", "post_roll_s", "retention_days"})


def active_entry(
    schedule: list[ScheduleEntry], now: datetime, pre_roll_s: float, post_roll_s: float
) -> ScheduleEntry | None:
    """The session to record at ``now``: one whose window (with the rolls) contains it; a
    session under way wins over the roll of a neighbour."""
    from datetime import timedelta

    pre, post = timedelta(seconds=pre_roll_s), timedelta(seconds=post_roll_s)
    candidates = [e for e in schedule if e.start - pre <= now < e.end + post]
    if not candidates:
        return None
    under_way = [e for e in candidates if e.start <= now < e.end]
    return min(under_way or candidates, key=lambda e: e.start)
