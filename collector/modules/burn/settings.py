"""Settings of the burn module (env ``PRTC_COLLECTOR_BURN__<KEY>``)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from contract.payloads.burn import NvrIsapiSource, RtspSource


class RoomCamera(BaseModel):
    """A camera that films a room, and how its NVR gives the video of a time window."""

    model_config = ConfigDict(extra="forbid")

    centre: str = Field(min_length=1, max_length=64, description="centre id of the room")
    room: str = Field(
        min_length=1, max_length=64, description="room code (房间编号) as in 评标室管理"
    )
    name: str = Field(
        default="", max_length=60, description="camera name in the file name, e.g. 全景"
    )
    source: dict[str, Any] = Field(
        description="an nvr_isapi or rtsp source without start and end, e.g. {kind = "
        '"nvr_isapi", base_url = "http://10.0.8.20", credentials = "nvr1", channel = 3}'
    )

    @model_validator(mode="after")
    def _source_is_a_camera(self) -> "RoomCamera":
        if {"start", "end", "room"} & self.source.keys():
            raise ValueError("source: start, end and room come from the project's sessions")
        probe = {**self.source, "start": datetime(2000, 1, 1, tzinfo=UTC)}
        probe["end"] = probe["start"] + timedelta(hours=1)
        TypeAdapter(NvrIsapiSource | RtspSource).validate_python(probe)
        return self


class BurnSettings(BaseModel):
    """Burn station."""

    model_config = ConfigDict(extra="forbid")

    station_kinds: list[str] = Field(
        default=["burner"], description="device kinds that are burn stations"
    )
    station_instance: str = Field(
        default="burner",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="name of the burner plugin instance on a station (commands `<name>.burn`)",
    )
    default_medium: str = Field(
        default="dvd",
        pattern=r"^(cd|dvd|bd|disk)$",
        description="medium of a new job (cd, dvd, bd, disk)",
    )
    default_copies: list[str] = Field(
        default=["archive", "offsite"], description="copy roles of a new job (archive, offsite)"
    )
    max_jobs_per_station: int = Field(
        default=3,
        ge=1,
        le=64,
        description="burn jobs sent to one station at once; the rest wait at the collector. "
        "Keep it below the station agent's [commands] max_in_flight (default 4), which "
        "answers 'busy' beyond it: cancel and re-verify commands need a free slot too",
    )
    room_cameras: list[RoomCamera] = Field(
        default=[],
        description="cameras of the opening and evaluation rooms: a job fetches, from each "
        "camera of a room, the video of every session the project held there (the planned "
        "time, widened by video_before_min and video_after_min)",
    )
    video_before_min: float = Field(
        default=15, ge=0, le=240, description="NVR video starts this long before a session"
    )
    video_after_min: float = Field(
        default=60,
        ge=0,
        le=720,
        description="NVR video ends this long after a session's planned end (sessions overrun)",
    )
    schedule_max_failures: int = Field(
        default=3,
        ge=1,
        description="schedules stop picking up a project whose last this many jobs failed "
        "(a broken source would otherwise fail again every day); ticking it in the console, "
        "or a retry, still works, and one finished job resets the count",
    )
    command_ttl_s: int = Field(
        default=7 * 86400,
        ge=60,
        description="how long a burn command waits for an offline station before it expires",
    )
    misfire_grace_s: int = Field(
        default=6 * 3600,
        ge=60,
        description="how late a missed schedule may still run (after a collector restart)",
    )
    reverify_years: int = Field(
        default=3, ge=1, le=15, description="years between sampled re-verifications of a disc"
    )
    archive_url: str = Field(
        default="",
        description="base URL of the console for the QR code on labels, which opens the "
        "disc's archive record (e.g. https://prtc.example.cn); empty: the QR code holds the "
        "record reference prtc-archive:<centre>/<project number>/<disc id>",
    )
    check_recordings: bool = Field(
        default=True,
        description="decode each project recording once after its upload (low priority), so "
        "a damaged one is found the same day and burn stations need not decode it again",
    )
    ffmpeg: str = Field(
        default="ffmpeg", description="ffmpeg for on-demand transcoding and recording checks"
    )
    ffprobe: str = Field(default="ffprobe", description="ffprobe to read a video's codecs")
    transcode_dir: str = Field(
        default="",
        description="cache of H.264 transcodes for playback (default: <files.root>/burn-playback)",
    )
