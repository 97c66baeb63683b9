"""Settings of a burner plugin instance (``[plugins.<name>]`` with ``kind = "burner"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

GIB = 1024**3
SEGMENT_LIMIT = 4 * GIB - 64 * 1024**2
"""ISO 9660 level 3 allows larger files, but many readers choke on 4 GiB: stay under it."""


MediumName = Literal["cd", "dvd", "bd", "disk"]


class DriveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    device: str = Field(
        description="/dev/sr0 for an optical drive; stdio:/path/disc.iso for a file drive "
        "(tests); dir:/mnt/backup for a hard-disk target (one ISO file per disc)"
    )
    media: list[MediumName] = Field(
        default_factory=lambda: list[MediumName](["cd", "dvd", "bd"]),
        description="media this drive takes",
    )
    capacity_bytes: int | None = Field(
        default=None, ge=1024**2, description="override the detected capacity (file drives)"
    )


class Credential(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    password: SecretStr


class LabelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route: Literal["none", "cups", "primera_jrq", "epson_jdf"] = "none"
    printer: str = Field(default="", description="CUPS queue (route cups)")
    lp_command: str = Field(default="lp", description="the CUPS client")
    lp_options: list[str] = Field(
        default_factory=list,
        description="CUPS job options, each key=value, passed as -o key=value; an Epson disc "
        'tray through Gutenprint: ["InputSlot=CD", "PageSize=CD5Inch"] (lpoptions -p <printer> '
        "-l lists a queue's options)",
    )
    watch_dir: Path | None = Field(default=None, description="robot's watched folder")
    robot_dir: str = Field(
        default="",
        description="the watched folder as the robot's PC names it in job files (e.g. "
        "C:\\PTBurnJobs or \\\\burnpc\\jobs); default: watch_dir",
    )
    robot_publisher: str = Field(
        default="", description="Epson TD Bridge PUBLISHER (only when it knows several robots)"
    )
    font_path: Path | None = Field(
        default=None, description="TTF/TTC with CJK glyphs; default: search, else STSong-Light"
    )
    size_mm: float = Field(default=116.0, description="printable disc diameter")

    @field_validator("lp_options")
    @classmethod
    def _key_value(cls, options: list[str]) -> list[str]:
        for option in options:
            key, sep, _ = option.partition("=")
            if not sep or not key.strip() or key.startswith("-") or any(c.isspace() for c in key):
                raise ValueError(f"lp option {option!r} is not key=value")
        return options


class BurnerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    work_dir: Path = Path("/var/lib/prtc/burn")
    drives: list[DriveConfig] = Field(default_factory=list)
    collector_url: str = Field(default="", description="base URL for file-store downloads")
    collector_token: SecretStr = SecretStr("")
    credentials: dict[str, Credential] = Field(default_factory=dict)
    nvr_tz: str = Field(default="Asia/Shanghai", description="NVR clock zone unless a job says")
    segment_bytes: int = Field(default=SEGMENT_LIMIT, ge=1024**2)
    max_reburns: int = Field(default=2, ge=0, le=5)
    media_wait_s: float = Field(default=1800.0, ge=0, description="wait for a blank disc")
    drive_poll_s: float = Field(
        default=60.0,
        ge=0,
        description="read an idle drive's medium again this often and report a change (a "
        "disc put in or taken out shows on the console's drives page); 0: only when a job "
        "or the collector asks",
    )
    http_timeout_s: float = Field(default=60.0, gt=0)
    ffmpeg_timeout_s: float = Field(default=6 * 3600.0, gt=0)
    video_gap_tolerance_s: float = Field(
        default=5.0,
        ge=0,
        description="NVR video may fall short of its window by this many seconds (or by "
        "video_gap_tolerance_pct of it, whichever is more) before the fetch fails",
    )
    video_gap_tolerance_pct: float = Field(default=1.0, ge=0, le=100)
    keep_images: bool = Field(default=False, description="keep ISO images after a job")
    upload_nvr_video: bool = Field(
        default=True,
        description="once a job's staging has checked it, queue the NVR video it fetched "
        "(each staged segment) for the collector's file store through the agent's uploader "
        "([uploads]): it plays in the console and later jobs take it from there instead of "
        "the NVR, which overwrites its disk after some weeks",
    )
    fetch_workers: int = Field(
        default=3,
        ge=1,
        le=16,
        description="sources of a job fetched at once (NVR channels, file-store downloads)",
    )
    image_workers: int = Field(
        default=0,
        ge=0,
        le=8,
        description="disc images built at once (each xorriso uses one core); 0: one per CPU, "
        "at most 4",
    )
    label: LabelSettings = Field(default_factory=LabelSettings)

    @field_validator("drives")
    @classmethod
    def _unique(cls, drives: list[DriveConfig]) -> list[DriveConfig]:
        ids = [d.id for d in drives]
        if len(ids) != len(set(ids)):
            raise ValueError("drive ids must be unique")
        return drives
