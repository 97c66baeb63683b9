"""The one place that runs ffmpeg and ffprobe.

:func:`run` supervises an ffmpeg process: a wall-clock timeout, a kill when the caller's stop
event is set, stderr kept (its tail goes into the error), and progress parsed from
``-progress pipe:1``. ffmpeg-python builds the command lines elsewhere; this module only runs
them.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"


class FFmpegError(RuntimeError):
    """ffmpeg failed, timed out or was stopped; ``stderr`` holds the tail of its output."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(f"{message}: {stderr.strip()[-800:]}" if stderr.strip() else message)
        self.stderr = stderr


class Stopped(FFmpegError):
    pass


ProgressFn = Callable[[float], None]
"""Called with the seconds of media processed so far."""


class StopFlag(Protocol):
    """A :class:`threading.Event`, or anything else that says when to stop."""

    def is_set(self) -> bool: ...


def run(
    args: Sequence[str],
    *,
    timeout_s: float,
    stop: StopFlag | None = None,
    on_progress: ProgressFn | None = None,
    binary: str = FFMPEG,
) -> str:
    """Run ``ffmpeg <args>`` (without the binary name); return its stderr. Raises FFmpegError."""
    cmd = [binary, "-hide_banner", "-nostdin", "-nostats", "-progress", "pipe:1", *args]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    err_tail: deque[bytes] = deque(maxlen=200)
    readers = [
        threading.Thread(target=_read_progress, args=(proc, on_progress), daemon=True),
        threading.Thread(target=_read_lines, args=(proc.stderr, err_tail), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout_s
    reason = ""
    while proc.poll() is None:
        if stop is not None and stop.is_set():
            reason = "stopped"
        elif time.monotonic() > deadline:
            reason = f"timed out after {timeout_s:g}s"
        if reason:
            _kill(proc)
            break
        time.sleep(0.05)
    proc.wait()
    for reader in readers:
        reader.join(5)
    stderr = b"".join(err_tail).decode("utf-8", "replace")
    if reason == "stopped":
        raise Stopped("ffmpeg stopped", stderr)
    if reason:
        raise FFmpegError(f"ffmpeg {reason}", stderr)
    if proc.returncode != 0:
        raise FFmpegError(f"ffmpeg exited {proc.returncode}", stderr)
    return stderr


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(3)
    except subprocess.TimeoutExpired:
        proc.kill()


def _read_lines(stream: object, sink: deque[bytes]) -> None:
    for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
        sink.append(line)


def _read_progress(proc: subprocess.Popen[bytes], on_progress: ProgressFn | None) -> None:
    assert proc.stdout is not None
    for raw in iter(proc.stdout.readline, b""):
        key, _, value = raw.decode("ascii", "replace").strip().partition("=")
        if on_progress is not None and key in ("out_time_us", "out_time_ms") and value.isdigit():
            on_progress(int(value) / 1_000_000)  # both keys are microseconds in ffmpeg 5+


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    format_name: str
    duration_s: float | None
    video_codec: str
    audio_codec: str
    streams: list[dict[str, object]] = field(default_factory=list)

    @property
    def is_video(self) -> bool:
        return bool(self.video_codec)


_STILL_CODECS = {"png", "mjpeg", "bmp", "gif", "tiff", "webp"}


def probe(path: Path, *, timeout_s: float = 60.0) -> ProbeInfo | None:
    """ffprobe a file; None when it is not a media file ffprobe understands."""
    cmd = [FFPROBE, "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    try:
        done = subprocess.run(
            [*cmd, str(path)], capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    data = json.loads(done.stdout or b"{}")
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and s.get("codec_name") not in _STILL_CODECS
        ),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = fmt.get("duration")
    return ProbeInfo(
        format_name=str(fmt.get("format_name", "")),
        duration_s=float(duration) if duration not in (None, "N/A") else None,
        video_codec=str(video.get("codec_name", "")) if video else "",
        audio_codec=str(audio.get("codec_name", "")) if audio else "",
        streams=streams,
    )
