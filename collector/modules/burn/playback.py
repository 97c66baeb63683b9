"""Project videos in the browser: byte ranges for seeking, H.264 on demand.

A faststart MP4 with H.264 video (and AAC audio, if any) is served as stored. Anything else
(HEVC from an NVR, MPEG-TS, MKV, …) is transcoded once with ffmpeg into an H.264/AAC
faststart MP4 in a cache directory and served from there, once made: the transcode runs in
the background, at low CPU priority, and the player page shows its progress. ffprobe decides;
its answer is cached per file.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
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
TRANSCODE_TIMEOUT_S = 6 * 3600
PROBE_TIMEOUT_S = 60
RETRY_FAILED_AFTER_S = 600.0
"""A failed transcode is reported to everyone for this long, then the next request tries it
again (the label ``burn.transcode_failed`` says "10 minutes")."""
NICE = ["nice", "-n", "10"]
"""ffmpeg of playback and of the decode checks yields the CPU to the API."""
PLAYER_LOCK = threading.Lock()
"""Held while the app's :class:`Player` is made, so two first requests make only one."""


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
    """What ``path`` holds; RuntimeError when ffprobe fails, hangs or answers nonsense."""
    try:
        out = subprocess.run(
            [ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", path],
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"ffprobe timed out after {PROBE_TIMEOUT_S} s") from exc
    if out.returncode != 0:
        raise RuntimeError(f"ffprobe failed: {out.stderr.decode(errors='replace')[-300:]}")
    try:
        info: Any = json.loads(out.stdout or b"{}")
    except ValueError as exc:  # bad JSON, or bytes that are not UTF-8
        raise RuntimeError(f"ffprobe answered no JSON: {exc}") from exc
    if not isinstance(info, dict):
        raise RuntimeError("ffprobe answered no JSON object")
    streams = [s for s in info.get("streams") or [] if isinstance(s, dict)]
    video = next((s.get("codec_name", "") for s in streams if s.get("codec_type") == "video"), "")
    audio = next((s.get("codec_name", "") for s in streams if s.get("codec_type") == "audio"), "")
    fmt = info.get("format")
    if not isinstance(fmt, dict):
        fmt = {}
    return Probe(str(fmt.get("format_name", "")), video, audio, _seconds(fmt.get("duration")))


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):  # absent, or "N/A"
        return None
    return seconds if seconds > 0 else None


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


@dataclass(frozen=True)
class Playable:
    """What the player can have now: a path to send, or how far its transcode has got."""

    path: Path | None
    progress: float | None = None  # 0..1 while transcoding, when the duration is known
    error: str = ""
    queued: bool = False  # the transcode waits for another one to finish

    @property
    def transcoding(self) -> bool:
        return self.path is None and not self.error


@dataclass
class _Transcode:
    queued: bool = True
    progress: float | None = None
    error: str = ""
    failed_at: float = 0.0  # time.monotonic() of the failure
    proc: subprocess.Popen[bytes] | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Player:
    """Decides how a stored video is played and keeps the transcode cache.

    A transcode runs in the background (at most ``workers`` at once, the rest queued), so
    neither a page nor a media request waits the minutes an hour of HEVC takes: the player page
    shows its progress and reloads until the file is ready. A failed transcode is reported to
    everyone who asks for :data:`RETRY_FAILED_AFTER_S`, then tried again. Each ffmpeg writes a
    partial file of its own, renamed into the cache once complete, so that another player,
    another collector sharing the cache or an ffmpeg left over from before a restart never
    writes into it; :meth:`stop` kills the ffmpeg still running."""

    def __init__(
        self, *, store: FileStore, cache_dir: Path, ffmpeg: str, ffprobe: str, workers: int = 1
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
        self._lock = threading.Lock()
        self._running: dict[str, _Transcode] = {}
        self._probes: dict[str, Probe] = {}
        self._slots = threading.Semaphore(max(1, workers))
        self._stopped = False

    def source_path(self, row: StoredFile) -> Path:
        return local_path(self.store, row, self.cache_dir)

    def probe(self, row: StoredFile) -> Probe:
        cached = self._probes.get(row.id)
        if cached is None:
            cached = probe(self.ffprobe, str(self.source_path(row)))
            self._probes[row.id] = cached
        return cached

    def prepare(self, row: StoredFile) -> Playable:
        """The stored file when the browser can play it, else its H.264 transcode once made;
        until then its transcode is started (once) and how far it got returned. A failed
        transcode is reported to every caller; one asking after the cooldown starts it anew."""
        source = self.source_path(row)
        if self.probe(row).playable:
            return Playable(source)
        target = self.cache_dir / f"{row.id}.mp4"
        if target.exists():
            return Playable(target)
        with self._lock:
            state = self._running.get(row.id)
            if state is not None and state.error:
                if time.monotonic() - state.failed_at < RETRY_FAILED_AFTER_S:
                    return Playable(None, error=state.error)
                state = None  # cooled down: try again
            if state is None:
                state = self._running[row.id] = _Transcode()
                # a daemon thread: a transcode must not hold up the collector's shutdown
                threading.Thread(
                    target=self._run,
                    args=(row.id, source, target, state),
                    name=f"transcode-{row.id}",
                    daemon=True,
                ).start()
        if target.exists():
            return Playable(target)
        return Playable(None, progress=state.progress, queued=state.queued)

    def wait(self, row: StoredFile, timeout_s: float) -> Playable:
        """:meth:`prepare`, then wait up to ``timeout_s`` for a transcode it started."""
        ready = self.prepare(row)
        state = self._running.get(row.id)
        if ready.transcoding and state is not None and state.done.wait(timeout_s):
            return self.prepare(row)
        return ready

    def stop(self) -> None:
        """Kill the transcodes running and start no more (at the collector's shutdown: no
        ffmpeg outlives it)."""
        with self._lock:
            self._stopped = True
            running = [s.proc for s in self._running.values() if s.proc is not None]
        for proc in running:
            if proc.poll() is None:
                log.info("stopping the transcode of pid %s", proc.pid)
                proc.kill()

    def _run(self, file_id: str, source: Path, target: Path, state: _Transcode) -> None:
        try:
            with self._slots:
                state.queued = False
                self._transcode(source, target, state, self._probes[file_id].duration_s)
        except Exception as exc:  # reported to every caller until the cooldown is over
            log.warning("transcode of %s failed: %s", source.name, exc)
            with self._lock:
                state.failed_at = time.monotonic()
                state.error = str(exc)[:300] or type(exc).__name__
        else:
            with self._lock:
                if self._running.get(file_id) is state:
                    del self._running[file_id]
        finally:
            state.done.set()

    def _transcode(
        self, source: Path, target: Path, state: _Transcode, duration_s: float | None
    ) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.stem}.part-{uuid.uuid4().hex}.mp4")
        cmd = [
            *NICE, self.ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(source),
            "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast",
            "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
            "-movflags", "+faststart", "-progress", "pipe:1", "-nostats", str(partial),
        ]  # fmt: skip
        with self._lock:  # stop() sees every ffmpeg started
            if self._stopped:
                raise RuntimeError("playback stopped with the collector")
            log.info("transcoding %s for playback", source.name)
            proc = state.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        errors: list[bytes] = []
        drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
        drain.start()
        watchdog = threading.Timer(TRANSCODE_TIMEOUT_S, proc.kill)  # a hung ffmpeg ends too
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if duration_s and line.startswith(b"out_time_us="):
                    done_us = line.partition(b"=")[2].strip()
                    if done_us.isdigit():
                        state.progress = min(1.0, int(done_us) / 1e6 / duration_s)
            code = proc.wait()
        except BaseException:  # this thread failed, not ffmpeg
            proc.kill()
            proc.wait()
            partial.unlink(missing_ok=True)
            raise
        finally:
            watchdog.cancel()
            state.proc = None
        drain.join(5)
        if code != 0:
            partial.unlink(missing_ok=True)
            if self._stopped:
                raise RuntimeError("playback stopped with the collector")
            tail = b"".join(errors).decode(errors="replace")[-300:]
            raise RuntimeError(f"ffmpeg failed: {tail}")
        try:
            os.replace(partial, target)
        except OSError:
            partial.unlink(missing_ok=True)
            raise


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
