"""Staging: video remuxed to MP4 with faststart, cut under the segment limit and checked
(ffprobe, then a full decode that fails on the first error); documents copied as they are.

Where the time goes, and what is done about it (``benchmarks/burn_pipeline.py`` measures it):

- faststart: ``-movflags +faststart`` writes the MP4 with its index (``moov``) at the end and then
  rewrites the whole file to move the index to the front, a second read and write of every byte.
  Instead the muxer reserves room for the index at the front (``-moov_size``, sized from the
  stream's frame rates with a margin) and writes it there at the end: the same layout (``ftyp``,
  ``moov``, a ``free`` pad, ``mdat``) in one pass. When the estimate is too small, ffmpeg's
  trailer fails: its file is broken although ffmpeg (5.1) exits 0, so the stager reads the log
  and remuxes the item again with ``+faststart`` (the decode check would fail such a file).
- the full decode check is CPU-bound (by far the longest step on a small PC). It decodes the
  staged file itself, in a background thread, while the next item is remuxed and, in the job,
  while the disc images are built; :meth:`Stager.wait_checks` is the gate before anything is
  burned. The SHA-256 is taken right after the remux, while the file is still in the page cache.
- a file-store recording the collector has already decoded in full (``decode_checked``) and
  that staging keeps byte for byte is neither decoded nor hashed again: its download verified
  that these are the bytes that were checked. NVR clips and anything remuxed are checked here.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from pydantic import BaseModel

from burn_station import discnames, ffmpeg
from burn_station.discfiles import link_or_copy
from burn_station.fetch import FetchedItem
from burn_station.hashing import sha256_file

MP4_VIDEO = {"h264", "hevc", "mpeg4", "av1", "vp9"}
MP4_AUDIO = {"aac", "mp3", "ac3", "opus", "alac"}
VIDEO_DIR = "video"
LOCAL_STEM = "v"
"""Name of a staged video in its own folder (``v.mp4``, ``v_part01.mp4``)."""
DOCUMENT_DIR = "documents"


class StagingError(RuntimeError):
    pass


class StagedFile(BaseModel):
    path: str  # relative to the job's stage folder
    disc_path: str  # relative POSIX path on the disc
    media: str  # "video" | "document"
    size: int
    sha256: str
    duration_s: float | None = None
    codec: str = ""
    source: str = ""
    item: int | None = None
    """Index of the fetched item it was staged from (None in states of older stations)."""


def remux_args(
    src: Path,
    dest: Path,
    info: ffmpeg.ProbeInfo,
    *,
    trim_start_s: float | None = None,
    duration_s: float | None = None,
    segment_s: float | None = None,
    moov_bytes: int | None = None,
) -> list[str]:
    """ffmpeg arguments: MP4 with faststart, streams copied when MP4 can carry them.

    With ``moov_bytes`` the index is written into that much room reserved at the front of the
    file (one pass); without it ``+faststart`` moves the index there in a second pass."""
    args = ["-y", "-v", "error"]
    if trim_start_s:
        args += ["-ss", f"{trim_start_s:.3f}"]
    args += ["-i", str(src)]
    if duration_s:
        args += ["-t", f"{duration_s:.3f}"]
    args += ["-map", "0:v:0", "-map", "0:a?"]
    args += ["-c:v", "copy" if info.video_codec in MP4_VIDEO else "libx264"]
    if info.audio_codec:
        args += ["-c:a", "copy" if info.audio_codec in MP4_AUDIO else "aac"]
    movflags = ["moov_size", str(moov_bytes)] if moov_bytes else ["movflags", "+faststart"]
    if segment_s:
        return [
            *args,
            "-f",
            "segment",
            "-segment_time",
            f"{segment_s:.3f}",
            "-reset_timestamps",
            "1",
            "-segment_format",
            "mp4",
            "-segment_format_options",
            "=".join(movflags),
            str(dest.with_name(dest.stem + "_part%02d.mp4")),
        ]
    return [*args, f"-{movflags[0]}", movflags[1], "-f", "mp4", str(dest)]


MOOV_BYTES_PER_SAMPLE = 44
"""Upper bound of the index entries of one sample: size (4), time (8), composition offset (8),
sync flag (4), chunk offset (8) and sample-to-chunk (12) if every sample were its own chunk."""
MOOV_MAX = 64 * 1024**2
MOOV_TOO_SMALL = "reserved_moov_size is too small"
TRAILER_FAILED = "Error writing trailer"


def _rate(value: object) -> float:
    num, _, den = str(value or "").partition("/")
    try:
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0


def _samples_per_s(stream: dict[str, object], duration_s: float | None) -> float:
    """Samples (frames) per second that ``stream`` puts into the MP4 index."""
    if stream.get("codec_type") == "audio" and stream.get("codec_name") not in MP4_AUDIO:
        return _rate(stream.get("sample_rate")) / 1024 or 50.0  # transcoded: AAC frames
    count = str(stream.get("nb_frames") or "")
    length = _rate(stream.get("duration")) or duration_s or 0.0
    if count.isdigit() and int(count) and length:
        return int(count) / length
    if stream.get("codec_type") == "video":
        rates = [_rate(stream.get(k)) for k in ("avg_frame_rate", "r_frame_rate")]
        return next((r for r in rates if 0 < r <= 240), 60.0)
    return _rate(stream.get("sample_rate")) / 1024 or 50.0  # AAC frames of 1024 samples


def moov_reserve(info: ffmpeg.ProbeInfo, seconds: float) -> int:
    """Room to reserve for the index of ``seconds`` of the mapped streams (the first video and
    every audio stream), from each stream's own sample count when the container has one, else
    from its rate, with a margin; at most :data:`MOOV_MAX`."""
    videos = [s for s in info.streams if s.get("codec_type") == "video"]
    audios = [s for s in info.streams if s.get("codec_type") == "audio"]
    per_s = sum(_samples_per_s(s, info.duration_s) for s in [*videos[:1], *audios])
    samples = per_s * (seconds + 10.0)  # a segment may run on to the next key frame
    return min(MOOV_MAX, int(samples * MOOV_BYTES_PER_SAMPLE * 1.25) + 32 * 1024)


def index_first(path: Path) -> bool:
    """Whether an ISO BMFF (MP4) file has its index (``moov``) before its media data
    (``mdat``), i.e. plays while it loads; read from the top-level box headers only."""
    with path.open("rb") as f:
        while len(header := f.read(8)) == 8:
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if kind in (b"moov", b"mdat"):
                return kind == b"moov"
            if size == 1:  # a 64-bit size follows
                size = int.from_bytes(f.read(8), "big") - 8
            if size < 8:  # 0 means "to the end of the file": no index after it
                return False
            f.seek(size - 8, os.SEEK_CUR)
    return False


def keeps_as_is(src: Path, info: ffmpeg.ProbeInfo, item: FetchedItem, limit: int) -> bool:
    """A recording that is already what staging would make of it (one video stream and audio
    that MP4 carries, index first, under the segment limit, no cut) goes on the disc byte for
    byte, so its SHA-256 stays the one the file store recorded at upload."""
    kinds = [s.get("codec_type") for s in info.streams]
    return (
        item.trim_start_s is None
        and item.trim_duration_s is None
        and info.format_name.startswith("mov,mp4")
        and src.suffix.lower() == ".mp4"
        and kinds.count("video") == 1
        and set(kinds) <= {"video", "audio"}
        and info.video_codec in MP4_VIDEO
        and (not info.audio_codec or info.audio_codec in MP4_AUDIO)
        and src.stat().st_size < limit * 0.9
        and index_first(src)
    )


def probe_video(path: Path) -> ffmpeg.ProbeInfo:
    """ffprobe a staged file: it must hold a video stream with a duration."""
    info = ffmpeg.probe(path)
    if info is None or not info.is_video or not info.duration_s:
        raise StagingError(f"{path.name}: ffprobe finds no playable video")
    return info


def decode_check(path: Path, *, stop: ffmpeg.StopFlag | None, timeout_s: float) -> None:
    """Decode every stream of the file; ``-xerror`` turns the first decode error (a corrupt
    frame, a truncated file) into a failure, where a plain null-output pass exits 0."""
    try:
        ffmpeg.run(
            ["-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"],
            timeout_s=timeout_s,
            stop=stop,
        )
    except ffmpeg.Stopped:
        raise
    except ffmpeg.FFmpegError as exc:
        raise StagingError(f"{path.name}: decode check failed: {exc}") from exc


def check_video(path: Path, *, stop: ffmpeg.StopFlag | None, timeout_s: float) -> ffmpeg.ProbeInfo:
    """ffprobe, then decode everything (:func:`decode_check`)."""
    info = probe_video(path)
    decode_check(path, stop=stop, timeout_s=timeout_s)
    return info


class _EitherSet:
    """Set when either event is: the job's stop, or the stager's own abort."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class Stager:
    """Stages the items of a job. Use :meth:`stage_all`, or, to overlap the decode checks with
    later work, :meth:`stage_files` + :meth:`wait_checks` + :meth:`close`: the files it returns
    are not checked until :meth:`wait_checks` has returned."""

    def __init__(
        self,
        fetch_dir: Path,
        stage_dir: Path,
        *,
        segment_bytes: int,
        stop: threading.Event,
        timeout_s: float,
        on_item: Callable[[int, int], None] = lambda done, total: None,
    ) -> None:
        self.fetch_dir = fetch_dir
        self.stage_dir = stage_dir
        self.segment_bytes = segment_bytes
        self.stop = stop
        self.timeout_s = timeout_s
        self.on_item = on_item
        self._names = discnames.DiscNames()
        self._abort = threading.Event()
        self._check_stop = _EitherSet(stop, self._abort)
        self._checker = ThreadPoolExecutor(1, thread_name_prefix="decode-check")
        """One decode at a time: it keeps both cores of a small PC busy on its own."""
        self._checks: list[Future[None]] = []
        self.reused_checks = 0
        """Recordings staged unchanged whose decode check the collector had already made."""
        self.faststart_fallbacks = 0
        """Items remuxed with ``+faststart`` because the reserved index room was too small."""

    def stage_all(self, items: list[FetchedItem]) -> list[StagedFile]:
        """Stage every item and wait for every decode check."""
        try:
            out = self.stage_files(items)
            self.wait_checks()
            return out
        finally:
            self.close()

    def stage_files(self, items: list[FetchedItem]) -> list[StagedFile]:
        """Stage every item; the decode checks of the video run on in the background."""
        self.stage_dir.mkdir(parents=True, exist_ok=True)
        out: list[StagedFile] = []
        for n, item in enumerate(items):
            self.raise_failed_check()
            staged = self.stage(n, item)
            for f in staged:
                f.item = n
            out.extend(staged)
            self.on_item(n + 1, len(items))
        self.raise_failed_check()
        return out

    def wait_checks(self, on_check: Callable[[int, int], None] = lambda done, total: None) -> None:
        """Wait for the decode checks queued so far; raise the first failure."""
        checks = list(self._checks)
        for n, future in enumerate(checks):
            future.result()
            on_check(n + 1, len(checks))

    def close(self) -> None:
        """Stop checks still queued or running (after a failure, or once they are done)."""
        self._abort.set()
        self._checker.shutdown(wait=True, cancel_futures=True)

    def raise_failed_check(self) -> None:
        """Raise the failure of a decode check that has already finished, if one has."""
        for future in self._checks:
            if future.done() and not future.cancelled() and future.exception() is not None:
                future.result()

    def stage(self, n: int, item: FetchedItem) -> list[StagedFile]:
        src = self.fetch_dir / item.path
        info = ffmpeg.probe(src) if item.media != "document" else None
        if item.media == "video" and (info is None or not info.is_video):
            raise StagingError(f"{item.name}: not a video ffprobe can read")
        if info is not None and info.is_video and info.duration_s:
            return self._video(n, item, src, info)
        return [self._document(n, item, src)]

    def _unique(self, disc_path: str) -> str:
        """The path on the disc: unique, and within what Joliet shows in full."""
        try:
            return self._names.assign(disc_path)
        except discnames.DiscNameError as exc:
            raise StagingError(str(exc)) from exc

    def _document(self, n: int, item: FetchedItem, src: Path) -> StagedFile:
        dest = self.stage_dir / f"d{n:04d}" / PurePosixPath(item.name).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            link_or_copy(src, dest)
        return StagedFile(
            path=dest.relative_to(self.stage_dir).as_posix(),
            disc_path=self._unique(f"{DOCUMENT_DIR}/{item.name}"),
            media="document",
            size=dest.stat().st_size,
            sha256=sha256_file(dest),
            source=item.source,
        )

    def _remux(self, item: FetchedItem, args: list[str]) -> bool:
        """Run one remux; False when the reserved index room was too small. ffmpeg exits 0
        when only the MP4 trailer failed (its file is then broken): its log says so."""
        try:
            log = ffmpeg.run(args, timeout_s=self.timeout_s, stop=self.stop)
        except ffmpeg.Stopped:
            raise
        except ffmpeg.FFmpegError as exc:
            if MOOV_TOO_SMALL in exc.stderr:
                return False
            raise StagingError(f"{item.name}: remux failed: {exc}") from exc
        if MOOV_TOO_SMALL in log:
            return False
        if TRAILER_FAILED in log:
            raise StagingError(f"{item.name}: remux failed: {log.strip()[-800:]}")
        return True

    def _video(
        self, n: int, item: FetchedItem, src: Path, info: ffmpeg.ProbeInfo
    ) -> list[StagedFile]:
        folder = self.stage_dir / f"v{n:04d}"
        if folder.exists():
            shutil.rmtree(folder)  # a half-staged item from an interrupted run
        folder.mkdir(parents=True)
        stem = PurePosixPath(item.name).stem
        # a short local name: the disc name (from ``stem``) may be longer than the local file
        # system allows once a segment suffix is added
        dest = folder / f"{LOCAL_STEM}.mp4"
        if keeps_as_is(src, info, item, self.segment_bytes):
            link_or_copy(src, dest)
            if item.decode_checked and item.sha256:
                return [self._checked_video(item, stem, dest)]
            return self._staged_videos(item, stem, [dest])
        duration = item.trim_duration_s or info.duration_s or 0.0
        size = src.stat().st_size
        if item.trim_duration_s and info.duration_s:
            size = int(size * min(1.0, item.trim_duration_s / info.duration_s))
        parts = 1
        reserve = True
        for _attempt in range(5):
            segment_s = None
            if size > self.segment_bytes * 0.9 or parts > 1:
                parts = max(parts, math.ceil(size / (self.segment_bytes * 0.85)))
                segment_s = duration / parts
            for old in folder.iterdir():
                old.unlink()
            args = remux_args(
                src,
                dest,
                info,
                trim_start_s=item.trim_start_s,
                duration_s=item.trim_duration_s,
                segment_s=segment_s,
                moov_bytes=moov_reserve(info, segment_s or duration) if reserve else None,
            )
            if not self._remux(item, args):
                reserve = False  # the estimate was short: let ffmpeg move the index instead
                self.faststart_fallbacks += 1
                continue
            outputs = sorted(folder.glob("*.mp4"))
            if outputs and all(p.stat().st_size < self.segment_bytes for p in outputs):
                break
            parts = max(parts * 2, 2)
        else:
            raise StagingError(f"{item.name}: cannot cut into segments under the limit")
        return self._staged_videos(item, stem, outputs)

    def _staged_video(self, item: FetchedItem, stem: str, path: Path, sha256: str) -> StagedFile:
        probed = probe_video(path)
        part = path.name.removeprefix(LOCAL_STEM).removesuffix(".mp4")  # "" or "_partNN"
        # cut the stem, not the part number; room is left for a tag that makes it unique
        disc_name = discnames.shorten(f"{stem}.mp4", tag=part, spare=3)
        return StagedFile(
            path=path.relative_to(self.stage_dir).as_posix(),
            disc_path=self._unique(f"{VIDEO_DIR}/{disc_name}"),
            media="video",
            size=path.stat().st_size,
            sha256=sha256,
            duration_s=round(probed.duration_s or 0.0, 3),
            codec=probed.video_codec,
            source=item.source,
        )

    def _checked_video(self, item: FetchedItem, stem: str, path: Path) -> StagedFile:
        """A file-store recording staged unchanged whose bytes the collector decoded without
        error: its download verified the SHA-256 those bytes had, so neither the hash nor the
        decode check is repeated."""
        self.reused_checks += 1
        return self._staged_video(item, stem, path, item.sha256 or "")

    def _staged_videos(self, item: FetchedItem, stem: str, outputs: list[Path]) -> list[StagedFile]:
        """Probe and hash each staged file now; its decode check runs in the background."""
        staged = []
        for path in outputs:
            # just written: the hash reads from the page cache
            staged.append(self._staged_video(item, stem, path, sha256_file(path)))
            self._checks.append(
                self._checker.submit(
                    decode_check, path, stop=self._check_stop, timeout_s=self.timeout_s
                )
            )
        return staged
