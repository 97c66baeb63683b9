"""Burn station: jobs the collector hands to a burn-station agent and what it reports.

Owned by the burn-station work (issue #6); the agent side is ``burn_station/``, the collector
side ``collector/modules/burn/``.

Commands (actions of the burner plugin instance ``<name>``, e.g. ``burner.burn``):

* ``<name>.burn`` (a job: ``accepted``, ``progress`` acks, then ``succeeded``/``failed``) with
  :class:`BurnJobSpec`; its final result is a :class:`BurnJobResult`. One job is one project;
  the collector splits a batch into one job per project.
* ``<name>.cancel`` with :class:`BurnJobRef`: stops a running or queued job (stage
  ``cancelled``).
* ``<name>.retry`` (a job) with :class:`RetryArgs`: runs a failed job again from its failed
  stage (or ``from_stage``), keeping what was already fetched and staged.
* ``<name>.drives`` (no arguments): returns :class:`DrivesResult`.
* ``<name>.verify_disc`` (a job) with :class:`VerifyDiscArgs`: re-verifies a disc put back in
  a drive; returns and emits a :class:`DiscCheck`.
* ``<name>.print_label`` with :class:`PrintLabelArgs`: prints a disc's label again (a label
  smudged or a disc relabelled); returns a :class:`PrintLabelResult`.

Events: ``burn.job_state`` on every transition of a job, ``burn.disc`` once per burned and
verified disc (also for a disc that failed verification and was burned again),
``burn.drive_state`` when a drive or its medium changes, ``burn.disc_check`` per re-verify.

Every disc carries a ``MANIFEST.json`` (:class:`DiscManifest`) next to ``SHA256SUMS`` and
``index.html``; it is defined here because it is a format kept for fifteen years that both the
station and the archive read.

NVR video a station fetched and checked goes to the collector's file store too (uploads of
kind :data:`NVR_VIDEO_KIND` with :class:`NvrClipMeta`), so it can be watched in the console
and outlives the NVR's disk; :func:`nvr_key`, computed alike on both sides, tells a later job
that the video of a source is already stored.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contract.payloads._base import Payload
from contract.registry import Priority, registry

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

Stage = Literal[
    "queued",
    "fetching",
    "staging",
    "burning",
    "verifying",
    "labelling",
    "done",
    "failed",
    "cancelled",
]
"""Job stages in order; ``done``, ``failed`` and ``cancelled`` are final."""

RetryStage = Literal["fetching", "staging", "burning", "verifying", "labelling"]
Medium = Literal["cd", "dvd", "bd", "disk"]
"""``disk``: a hard-disk target (the one-click backup to disk), written as an ISO file."""
CopyRole = Literal["archive", "offsite"]
MediaKind = Literal["auto", "video", "document"]
"""``auto``: decided by probing (video is remuxed and checked, anything else copied)."""

STAGES: tuple[str, ...] = Stage.__args__  # type: ignore[attr-defined]
FINAL_STAGES = frozenset({"done", "failed", "cancelled"})


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the job -------------------------------------------------------------------------------


class ProjectRef(_Spec):
    """The project whose archive the job burns; Chinese text goes to manifest and label."""

    number: str = Field(min_length=1, max_length=64, description="项目编号")
    name: str = Field(min_length=1, max_length=200, description="项目名称")
    category: str = Field(default="", max_length=64, description="项目类别 (工程/采购/…)")
    opening_date: date = Field(description="开标日期")
    rooms: list[str] = Field(default_factory=list, description="开标室/评标室 names")


class FileStoreSource(_Spec):
    """A file in the collector's file store (e.g. an evaluation-room recording)."""

    kind: Literal["file_store"] = "file_store"
    file_id: str = Field(min_length=1, max_length=128)
    url: str = Field(
        description="download URL; relative URLs are resolved against the station's collector_url"
    )
    name: str = Field(min_length=1, max_length=200, description="file name on the disc")
    sha256: Sha256
    size: int = Field(ge=0)
    media: MediaKind = "auto"
    decode_checked: bool = Field(
        default=False,
        description="these bytes (this SHA-256) passed a full decode check at the collector: "
        "a station that stages them unchanged need not decode them again",
    )
    warning: str = Field(
        default="",
        max_length=2000,
        description="what the file lacks (NVR video a station archived incomplete, see "
        "NvrClipMeta): repeated in the manifest's warnings like a fetch's own",
    )


class UrlSource(_Spec):
    """A document (or any file) behind an HTTP(S) URL, e.g. the e-bidding platform."""

    kind: Literal["url"] = "url"
    url: str
    name: str = Field(default="", max_length=200, description="file name; default: from the URL")
    sha256: Sha256 | None = None
    size: int | None = Field(default=None, ge=0)
    media: MediaKind = "auto"


class FolderSource(_Spec):
    """Files in a folder on the station (a share mounted there); copied with their subpaths."""

    kind: Literal["folder"] = "folder"
    path: str
    pattern: str = Field(default="**/*", description="glob below path")
    media: MediaKind = "auto"


class _NvrWindow(_Spec):
    start: AwareDatetime
    end: AwareDatetime
    tz: str = Field(
        default="",
        description="the NVR's clock zone (IANA, e.g. Asia/Shanghai); empty: the station's setting",
    )
    clock_offset_s: float = Field(
        default=0.0, description="NVR clock minus true time; added to start/end before asking"
    )
    room: str = Field(default="", max_length=64)
    name: str = Field(default="", max_length=200, description="file name; default: generated")

    @model_validator(mode="after")
    def _ordered(self) -> _NvrWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class NvrIsapiSource(_NvrWindow):
    """Hikvision ISAPI: search recordings of a channel in a window, download each clip."""

    kind: Literal["nvr_isapi"] = "nvr_isapi"
    base_url: str = Field(description="e.g. http://192.168.1.64")
    credentials: str = Field(
        default="default", max_length=64, description="name of a credential in station settings"
    )
    channel: int = Field(ge=1, le=512)
    stream: Literal[1, 2] = Field(default=1, description="1 main stream, 2 sub stream")


class RtspSource(_NvrWindow):
    """RTSP playback pulled with ffmpeg, always bounded by a duration.

    ``url`` is a template with ``{channel}``, ``{start}``, ``{end}`` (times rendered in the
    vendor's format and the NVR's zone), e.g. Hikvision
    ``rtsp://nvr/Streaming/tracks/{channel}01?starttime={start}&endtime={end}`` or Dahua
    ``rtsp://nvr/cam/playback?channel={channel}&subtype=0&starttime={start}&endtime={end}``.
    """

    kind: Literal["rtsp"] = "rtsp"
    vendor: Literal["hikvision", "dahua", "plain"] = "hikvision"
    url: str
    credentials: str = Field(default="", max_length=64, description="credential name, or none")
    channel: int = Field(default=1, ge=1, le=512)
    max_duration_s: float | None = Field(
        default=None, gt=0, description="cap on the pull; default end - start"
    )


Source = Annotated[
    FileStoreSource | UrlSource | FolderSource | NvrIsapiSource | RtspSource,
    Field(discriminator="kind"),
]

# -- NVR video kept in the file store ------------------------------------------------------

NvrSource = NvrIsapiSource | RtspSource
NVR_KINDS: tuple[str, ...] = ("nvr_isapi", "rtsp")
NVR_VIDEO_KIND = "nvr_video"
"""Upload kind (``meta.kind``) of the checked NVR video a burn station keeps in the file store."""


def nvr_address(source: NvrSource) -> str:
    """The NVR's address as the source names it (``base_url`` or the RTSP URL template),
    without any user or password in it."""
    url = source.base_url if isinstance(source, NvrIsapiSource) else source.url
    parts = urlsplit(url)
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url[:500]


def nvr_key(source: NvrSource) -> str:
    """A stable key of an NVR source and its window: the same video asked for twice (by two
    jobs, or by the station and then the collector) has the same key. It names the NVR (kind,
    ``base_url`` or ``url`` template, channel, ISAPI stream, RTSP ``max_duration_s``) and the
    window in UTC to the second; not the credentials, the clock settings or the file name,
    which change how the video is asked for, not which video it is. 16 hex digits."""
    address = nvr_address(source)
    if isinstance(source, NvrIsapiSource):
        where = [source.kind, address.rstrip("/"), str(source.channel), str(source.stream)]
    else:
        cap = "" if source.max_duration_s is None else repr(float(source.max_duration_s))
        where = [source.kind, address, str(source.channel), cap]
    window = [t.astimezone(UTC).isoformat(timespec="seconds") for t in (source.start, source.end)]
    return hashlib.sha256("\n".join([*where, *window]).encode()).hexdigest()[:16]


class NvrClipMeta(BaseModel):
    """``meta`` of an NVR clip a burn station uploads (kind :data:`NVR_VIDEO_KIND`) once the
    job's staging has checked it: one file per staged segment, ``part`` of ``parts`` of the
    source's video (1-based, in time order). The collector lists these with the project's
    recordings (``project_number``), chooses one upload set (``job_id``, ``parts``) per
    ``nvr_key``, and a later job takes the stored parts instead of asking the NVR again once
    every part of that set is there, uploaded by a burn station of the centre.
    Values are strings and numbers only (the uploader's metadata); the uploader adds ``kind``
    and ``upload_id``, which this model ignores."""

    model_config = ConfigDict(extra="ignore")

    project_number: str = Field(min_length=1, max_length=64)
    nvr_key: str = Field(pattern=r"^[0-9a-f]{16}$")
    part: int = Field(ge=1)
    parts: int = Field(ge=1)
    source_kind: Literal["nvr_isapi", "rtsp"]
    nvr: str = Field(default="", max_length=500, description="base URL or URL template")
    camera: str = Field(default="", max_length=200, description="the source's name")
    room: str = Field(default="", max_length=64)
    channel: int | None = None
    window_start: AwareDatetime
    window_end: AwareDatetime
    job_id: str = Field(default="", max_length=64)
    warning: str = Field(
        default="", max_length=2000, description="the source was archived incomplete (why)"
    )

    @model_validator(mode="after")
    def _part_of_parts(self) -> NvrClipMeta:
        if self.part > self.parts:
            raise ValueError("part beyond parts")
        return self


class CopySpec(_Spec):
    role: CopyRole
    count: int = Field(default=1, ge=1, le=10)


class LabelSpec(_Spec):
    """What the disc label shows besides the project fields."""

    centre_name: str = Field(default="", max_length=120, description="e.g. XX市公共资源交易中心")
    archive_url: str = Field(
        default="",
        description="QR target: the archive record in the console, {disc_id} filled in per "
        "disc; empty: the record reference prtc-archive:<centre>/<project number>/<disc id>",
    )
    lines: list[str] = Field(default_factory=list, max_length=4, description="extra label lines")
    print: bool = Field(default=True, description="False: make the PDF, print nothing")


class BurnJobSpec(_Spec):
    """Arguments of ``<name>.burn``."""

    job_id: UUID
    centre: str = Field(min_length=1, max_length=64)
    project: ProjectRef
    sources: list[Source] = Field(min_length=1)
    copies: list[CopySpec] = Field(default_factory=lambda: [CopySpec(role="archive")])
    medium: Medium = "dvd"
    label: LabelSpec = Field(default_factory=LabelSpec)
    drives: list[str] = Field(default_factory=list, description="preferred drive ids; [] = any")
    retry_from_stage: RetryStage | None = None
    allow_partial_video: bool = Field(
        default=False,
        description="NVR video shorter than its window (beyond the station's tolerance) is "
        "archived with a warning in the manifest instead of failing the fetch",
    )


class BurnJobRef(_Spec):
    """Arguments of ``<name>.cancel``."""

    job_id: UUID


class RetryArgs(_Spec):
    """Arguments of ``<name>.retry``; the station keeps the spec of every job it has run."""

    job_id: UUID
    from_stage: RetryStage | None = Field(default=None, description="default: the failed stage")


class VerifyDiscArgs(_Spec):
    """Arguments of ``<name>.verify_disc``."""

    drive: str = Field(description="drive id in station settings")
    disc_id: UUID | None = Field(default=None, description="archive record expected in the drive")


class PrintLabelArgs(_Spec):
    """Arguments of ``<name>.print_label``: everything the label shows comes from the archive
    record, so a label can be printed again years after the job's files are gone."""

    disc_id: UUID
    centre: str = Field(min_length=1, max_length=64)
    project: ProjectRef
    disc_index: int = Field(ge=1)
    disc_count: int = Field(ge=1)
    copy_role: CopyRole
    copy_number: int = Field(default=1, ge=1)
    volume_id: str = Field(pattern=r"^[A-Z0-9_]{1,32}$")
    burn_date: date
    label: LabelSpec = Field(default_factory=LabelSpec)


class PrintLabelResult(_Spec):
    """Result of ``<name>.print_label``."""

    label: str = Field(description="the label PDF on the station")
    printed: str = Field(default="", description="the printer's job reference; empty: not sent")


# -- events --------------------------------------------------------------------------------


class BurnJobState(Payload):
    """A burn job changed stage or reported progress within a stage (CRITICAL)."""

    job_id: UUID
    project_number: str = Field(max_length=64)
    stage: Stage
    progress: float = Field(ge=0, le=1, description="whole job, 0..1")
    message: str = Field(default="", max_length=2000)
    error: str = Field(default="", max_length=2000)
    failed_stage: RetryStage | None = Field(default=None, description="set when stage is failed")
    attempt: int = Field(default=1, ge=1, description="1 + retries of this job")
    discs_total: int = Field(default=0, ge=0)
    discs_done: int = Field(default=0, ge=0)


class DiscFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="POSIX path on the disc")
    size: int = Field(ge=0)
    sha256: Sha256
    media: Literal["video", "document"]
    duration_s: float | None = Field(default=None, ge=0)
    codec: str = Field(default="", max_length=32, description="video codec, e.g. h264")
    source: str = Field(default="", max_length=500, description="where it came from")


class BurnDisc(Payload):
    """One burned and verified disc: the archive record (CRITICAL)."""

    disc_id: UUID = Field(
        description="one per disc of the set and copy; a re-burn reports the same id, attempt + 1,"
        " and supersedes the earlier record"
    )
    job_id: UUID
    project_number: str = Field(max_length=64)
    disc_index: int = Field(ge=1, description="n of the set")
    disc_count: int = Field(ge=1, description="N of the set")
    copy_role: CopyRole
    copy_number: int = Field(ge=1, description="which copy of that role")
    volume_id: str = Field(pattern=r"^[A-Z0-9_]{1,32}$")
    drive: str
    medium: Medium
    medium_type: str = Field(default="", max_length=64, description="as the drive reports it")
    files: list[DiscFile]
    image_size: int = Field(ge=0)
    image_sha256: Sha256
    verify: Literal["ok", "bad"]
    verify_detail: str = Field(default="", max_length=2000)
    attempt: int = Field(default=1, ge=1, description="1 + re-burns of this disc")
    burned_at: AwareDatetime


class MediumInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(default="", max_length=64, description="e.g. DVD+R, BD-R, file")
    blank: bool
    capacity_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)


class DriveState(Payload):
    """A drive's state (STATUS); sent when it or its medium changes."""

    drive: str
    device: str = Field(description="e.g. /dev/sr0 or stdio:/path/disc.iso")
    state: Literal["idle", "busy", "error", "absent"]
    medium: MediumInfo | None = None
    job_id: UUID | None = None
    message: str = Field(default="", max_length=500)


class DiscCheck(Payload):
    """Result of re-verifying a disc (``verify_disc``) for the archive's periodic checks.

    ``outcome`` ``wrong_disc``: the drive holds another disc than the one asked for; it was
    not verified, ``disc_id`` is the disc asked for, ``found_disc_id`` and the manifest fields
    describe the disc in the drive, and neither disc's record changes."""

    drive: str
    disc_id: UUID | None = Field(
        default=None, description="the disc checked; with wrong_disc, the disc asked for"
    )
    outcome: Literal["checked", "wrong_disc"] = Field(
        default="checked", description="wrong_disc: another disc is in the drive, not checked"
    )
    found_disc_id: UUID | None = Field(
        default=None, description="wrong_disc: the disc in the drive, from its manifest"
    )
    job_id: UUID | None = Field(default=None, description="from the disc's manifest")
    project_number: str = Field(default="", max_length=64)
    volume_id: str = Field(default="", max_length=32)
    disc_index: int | None = None
    ok: bool
    files_checked: int = Field(ge=0)
    bad_files: list[str] = Field(default_factory=list)
    detail: str = Field(default="", max_length=2000)
    checked_at: AwareDatetime


# -- action results ------------------------------------------------------------------------


class BurnJobResult(BaseModel):
    """Final result of ``<name>.burn`` / ``<name>.retry``."""

    job_id: UUID
    stage: Stage
    discs: list[UUID] = Field(default_factory=list, description="disc_id of every good disc")
    label_files: list[str] = Field(default_factory=list)


class DrivesResult(BaseModel):
    drives: list[DriveState]


# -- the manifest on every disc ------------------------------------------------------------


class DiscManifest(BaseModel):
    """``MANIFEST.json`` at the root of every disc (format version 1)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["prtc-burn-manifest/1"] = "prtc-burn-manifest/1"
    disc_id: UUID
    job_id: UUID
    centre: str
    project: ProjectRef
    disc_index: int = Field(ge=1)
    disc_count: int = Field(ge=1)
    copy_role: CopyRole
    copy_number: int = Field(ge=1)
    volume_id: str
    created_at: AwareDatetime
    files: list[DiscFile]
    warnings: list[str] = Field(
        default_factory=list,
        description="what the set lacks, e.g. NVR video shorter than its window (a job that "
        "allowed partial video)",
    )


registry.register("burn.job_state", BurnJobState, Priority.CRITICAL)
registry.register("burn.disc", BurnDisc, Priority.CRITICAL)
registry.register("burn.drive_state", DriveState, Priority.STATUS)
registry.register("burn.disc_check", DiscCheck, Priority.CRITICAL)
