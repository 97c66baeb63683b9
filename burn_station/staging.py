"""Staging: video remuxed to MP4 with faststart, cut under the segment limit and checked
(ffprobe, then a full decode that fails on the first error); documents copied as they are."""

from __future__ import annotations

import math
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from pydantic import BaseModel

from burn_station import ffmpeg
from burn_station.fetch import FetchedItem
from burn_station.hashing import sha256_file

MP4_VIDEO = {"h264", "hevc", "mpeg4", "av1", "vp9"}
MP4_AUDIO = {"aac", "mp3", "ac3", "opus", "alac"}
VIDEO_DIR = "video"
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


def remux_args(
    src: Path,
    dest: Path,
    info: ffmpeg.ProbeInfo,
    *,
    trim_start_s: float | None = None,
    duration_s: float | None = None,
    segment_s: float | None = None,
) -> list[str]:
    """ffmpeg arguments: MP4 with faststart, streams copied when MP4 can carry them."""
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
            "movflags=+faststart",
            str(dest.with_name(dest.stem + "_part%02d.mp4")),
        ]
    return [*args, "-movflags", "+faststart", "-f", "mp4", str(dest)]


def check_video(path: Path, *, stop: threading.Event | None, timeout_s: float) -> ffmpeg.ProbeInfo:
    """ffprobe, then decode everything; ``-xerror`` turns the first decode error into a failure
    (a plain null-output pass exits 0 on a truncated file)."""
    info = ffmpeg.probe(path)
    if info is None or not info.is_video or not info.duration_s:
        raise StagingError(f"{path.name}: ffprobe finds no playable video")
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
    return info


class Stager:
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
        self._taken: set[str] = set()

    def stage_all(self, items: list[FetchedItem]) -> list[StagedFile]:
        self.stage_dir.mkdir(parents=True, exist_ok=True)
        out: list[StagedFile] = []
        for n, item in enumerate(items):
            out.extend(self.stage(n, item))
            self.on_item(n + 1, len(items))
        return out

    def stage(self, n: int, item: FetchedItem) -> list[StagedFile]:
        src = self.fetch_dir / item.path
        info = ffmpeg.probe(src) if item.media != "document" else None
        if item.media == "video" and (info is None or not info.is_video):
            raise StagingError(f"{item.name}: not a video ffprobe can read")
        if info is not None and info.is_video and info.duration_s:
            return self._video(n, item, src, info)
        return [self._document(n, item, src)]

    def _unique(self, disc_path: str) -> str:
        candidate, k = disc_path, 2
        while candidate.lower() in self._taken:
            p = PurePosixPath(disc_path)
            candidate = str(p.with_name(f"{p.stem}_{k}{p.suffix}"))
            k += 1
        self._taken.add(candidate.lower())
        return candidate

    def _document(self, n: int, item: FetchedItem, src: Path) -> StagedFile:
        dest = self.stage_dir / f"d{n:04d}" / PurePosixPath(item.name).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            try:
                os.link(src, dest)  # same file system: no copy
            except OSError:
                shutil.copyfile(src, dest)
        return StagedFile(
            path=dest.relative_to(self.stage_dir).as_posix(),
            disc_path=self._unique(f"{DOCUMENT_DIR}/{item.name}"),
            media="document",
            size=dest.stat().st_size,
            sha256=sha256_file(dest),
            source=item.source,
        )

    def _video(
        self, n: int, item: FetchedItem, src: Path, info: ffmpeg.ProbeInfo
    ) -> list[StagedFile]:
        folder = self.stage_dir / f"v{n:04d}"
        if folder.exists():
            shutil.rmtree(folder)  # a half-staged item from an interrupted run
        folder.mkdir(parents=True)
        stem = PurePosixPath(item.name).stem
        dest = folder / f"{stem}.mp4"
        duration = item.trim_duration_s or info.duration_s or 0.0
        size = src.stat().st_size
        if item.trim_duration_s and info.duration_s:
            size = int(size * min(1.0, item.trim_duration_s / info.duration_s))
        parts = 1
        for _attempt in range(4):
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
            )
            try:
                ffmpeg.run(args, timeout_s=self.timeout_s, stop=self.stop)
            except ffmpeg.Stopped:
                raise
            except ffmpeg.FFmpegError as exc:
                raise StagingError(f"{item.name}: remux failed: {exc}") from exc
            outputs = sorted(folder.glob("*.mp4"))
            if outputs and all(p.stat().st_size < self.segment_bytes for p in outputs):
                break
            parts = max(parts * 2, 2)
        else:
            raise StagingError(f"{item.name}: cannot cut into segments under the limit")
        staged = []
        for path in outputs:
            checked = check_video(path, stop=self.stop, timeout_s=self.timeout_s)
            staged.append(
                StagedFile(
                    path=path.relative_to(self.stage_dir).as_posix(),
                    disc_path=self._unique(f"{VIDEO_DIR}/{path.name}"),
                    media="video",
                    size=path.stat().st_size,
                    sha256=sha256_file(path),
                    duration_s=round(checked.duration_s or 0.0, 3),
                    codec=checked.video_codec,
                    source=item.source,
                )
            )
        return staged
