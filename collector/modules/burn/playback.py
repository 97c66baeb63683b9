"""Project videos in the browser: byte ranges for seeking, H.264 on demand.

A faststart MP4 with H.264 video (and AAC audio, if any) is served as stored. Anything else
(HEVC from an NVR, MPEG-TS, MKV, …) is transcoded once with ffmpeg into an H.264/AAC
faststart MP4 in a cache directory and served from there. ffprobe decides; its answer is
cached per file.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.files.models import StoredFile
from collector.files.store import FileStore

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".ts", ".mov", ".avi", ".flv", ".m4v", ".webm", ".mpg")
"""File names taken for video when the upload's content type does not say."""
PLAYABLE_VIDEO = {"h264"}
PLAYABLE_AUDIO = {"aac", "mp3"}
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Probe:
    container: str
    video: str
    audio: str
    duration_s: float | None

    @property
    def playable(self) -> bool:
        return (
            "mp4" in self.container
            and self.video in PLAYABLE_VIDEO
            and (not self.audio or self.audio in PLAYABLE_AUDIO)
        )


def probe(ffprobe: str, path: str) -> Probe:
    out = subprocess.run(
        [ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", path],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"ffprobe failed: {out.stderr.decode(errors='replace')[-300:]}")
    info: dict[str, Any] = json.loads(out.stdout or b"{}")
    streams = info.get("streams", [])
    video = next((s.get("codec_name", "") for s in streams if s.get("codec_type") == "video"), "")
    audio = next((s.get("codec_name", "") for s in streams if s.get("codec_type") == "audio"), "")
    fmt = info.get("format", {})
    duration = fmt.get("duration")
    return Probe(fmt.get("format_name", ""), video, audio, float(duration) if duration else None)


def local_path(store: FileStore, row: StoredFile, cache_dir: Path) -> Path:
    """A local path of the stored file (copied into ``cache_dir`` from a remote store)."""
    local = getattr(store, "path", None)
    if local is not None:
        return Path(local(row.store_key))
    copy = cache_dir / f"{row.id}.src"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_suffix(".part")
        with partial.open("wb") as fh:
            for data in store.iter_bytes(row.store_key):
                fh.write(data)
        os.replace(partial, copy)
    return copy


class Player:
    """Decides how a stored video is played and keeps the transcode cache."""

    def __init__(self, *, store: FileStore, cache_dir: Path, ffmpeg: str, ffprobe: str) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
        self._lock = threading.Lock()
        self._file_locks: dict[str, threading.Lock] = {}
        self._probes: dict[str, Probe] = {}

    def source_path(self, row: StoredFile) -> Path:
        return local_path(self.store, row, self.cache_dir)

    def probe(self, row: StoredFile) -> Probe:
        cached = self._probes.get(row.id)
        if cached is None:
            cached = probe(self.ffprobe, str(self.source_path(row)))
            self._probes[row.id] = cached
        return cached

    def playable_path(self, row: StoredFile) -> Path:
        """The file to send: the stored one when the browser can play it, else its H.264
        transcode (made now, once, under a per-file lock)."""
        source = self.source_path(row)
        if self.probe(row).playable:
            return source
        target = self.cache_dir / f"{row.id}.mp4"
        if target.exists():
            return target
        with self._lock:
            lock = self._file_locks.setdefault(row.id, threading.Lock())
        with lock:
            if not target.exists():
                self._transcode(source, target)
        return target

    def _transcode(self, source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part.mp4")
        cmd = [
            self.ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(source),
            "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast",
            "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
            "-movflags", "+faststart", str(partial),
        ]  # fmt: skip
        log.info("transcoding %s for playback", source.name)
        out = subprocess.run(cmd, capture_output=True, timeout=6 * 3600, check=False)
        if out.returncode != 0:
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg failed: {out.stderr.decode(errors='replace')[-300:]}")
        os.replace(partial, target)


def iter_file(path: Path, start: int, end: int) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            data = fh.read(min(CHUNK, left))
            if not data:
                return
            left -= len(data)
            yield data
