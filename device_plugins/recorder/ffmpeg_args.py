"""The ffmpeg command of a recorder: pure functions, testable without ffmpeg.

Output: fixed-length segments of fragmented MP4 (``-f segment``, ``movflags=+frag_keyframe+
empty_moov+default_base_moof``, ``flush_packets=1``). A fragment is closed at every keyframe
(``keyframe_s``), so a segment whose ffmpeg was killed or lost power is playable up to its last
fragment; a segment closed by ffmpeg is listed in the CSV segment list (``-segment_list``),
which is how the recorder knows it is final. MP4 (H.264/AAC) plays in every browser, which the
console's session page needs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from device_plugins.recorder.settings import RecorderSettings, Source

MOVFLAGS = "movflags=+frag_keyframe+empty_moov+default_base_moof:flush_packets=1"


def default_backend(source: Source, platform: str = sys.platform) -> str:
    windows = platform.startswith("win")
    mac = platform == "darwin"
    if source.backend:
        return source.backend
    if source.type == "lavfi":
        return "lavfi"
    if windows:
        return "gdigrab" if source.type == "desktop" else "dshow"
    if mac:
        return "avfoundation"
    return {"desktop": "x11grab", "camera": "v4l2", "microphone": "alsa"}[source.type]


def default_device(source: Source, backend: str) -> str:
    if source.device:
        return source.device
    if backend == "x11grab":
        return os.environ.get("DISPLAY", ":0") or ":0"
    if backend == "gdigrab":
        return "desktop"
    if backend == "v4l2":
        return "/dev/video0"
    if backend in ("alsa", "pulse"):
        return "default"
    raise ValueError(f"source {source.type} with backend {backend}: set 'device'")


def input_args(
    source: Source, settings: RecorderSettings, platform: str = sys.platform
) -> list[str]:
    backend = default_backend(source, platform)
    args: list[str] = []
    if backend == "lavfi":
        args += ["-re"]  # test sources generate as fast as they can: pace them like a device
    else:
        args += ["-thread_queue_size", "1024"]
    if backend == "dshow":
        args += ["-rtbufsize", "256M"]
    args += ["-f", backend]
    if not source.is_audio and backend != "lavfi":
        args += ["-framerate", f"{source.framerate or settings.framerate:g}"]
        if source.video_size:
            args += ["-video_size", source.video_size]
        if backend == "x11grab":
            args += ["-draw_mouse", "1"]
    for key, value in source.options.items():
        args += [f"-{key}", value]
    args += ["-i", default_device(source, backend)]
    return args


def filter_and_maps(settings: RecorderSettings) -> list[str]:
    videos = [i for i, s in enumerate(settings.sources) if not s.is_audio]
    audios = [i for i, s in enumerate(settings.sources) if s.is_audio]
    args: list[str] = []
    if len(videos) == 2:
        main, inset = videos
        graph = (
            f"[{inset}:v]scale={settings.pip_width}:-2[pip];"
            f"[{main}:v][pip]overlay=W-w-16:H-h-16:shortest=1,format=yuv420p[v]"
        )
        args += ["-filter_complex", graph, "-map", "[v]"]
    elif videos:
        args += ["-map", f"{videos[0]}:v:0", "-pix_fmt", "yuv420p"]
    if videos:
        keyframes = f"expr:gte(t,n_forced*{settings.keyframe_s:g})"
        args += ["-c:v", settings.video_codec, "-preset", settings.preset]
        args += ["-crf", str(settings.crf), "-force_key_frames", keyframes]
    for index in audios:
        args += ["-map", f"{index}:a:0", "-c:a", "aac", "-b:a", settings.audio_bitrate]
    return args


def build_command(
    settings: RecorderSettings,
    *,
    pattern: Path,
    segment_list: Path,
    platform: str = sys.platform,
) -> list[str]:
    """The full command: inputs, encoding, and the segment muxer writing ``pattern`` (with a
    ``%05d`` counter) and appending each closed segment to ``segment_list``."""
    args = [settings.ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning", "-y"]
    for source in settings.sources:
        args += input_args(source, settings, platform)
    args += filter_and_maps(settings)
    args += [
        "-f", "segment",
        "-segment_time", f"{settings.segment_s:g}",
        "-reset_timestamps", "1",
        "-segment_format", "mp4",
        "-segment_format_options", MOVFLAGS,
        "-segment_list", str(segment_list),
        "-segment_list_type", "csv",
        str(pattern),
    ]  # fmt: skip
    return args
