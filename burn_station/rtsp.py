"""RTSP playback URLs (Hikvision, Dahua) and pulling them with ffmpeg, bounded by ``-t``.

Some NVRs ignore ``endtime`` and keep streaming; the pull therefore always carries a duration.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from burn_station import ffmpeg

TIME_FORMATS = {
    "hikvision": "%Y%m%dT%H%M%SZ",  # wall clock of the NVR with a literal Z
    "dahua": "%Y_%m_%d_%H_%M_%S",
    "plain": "%Y-%m-%dT%H:%M:%S",
}


def playback_url(
    template: str,
    vendor: str,
    channel: int,
    start: datetime,
    end: datetime,
    username: str = "",
    password: str = "",
) -> str:
    fmt = TIME_FORMATS[vendor]
    url = template.format(channel=channel, start=start.strftime(fmt), end=end.strftime(fmt))
    if username:
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]
        userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}"
        url = urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))
    return url


def pull_args(url: str, dest: Path, duration_s: float) -> list[str]:
    """ffmpeg arguments: copy the streams for at most ``duration_s`` into Matroska (which
    survives an interrupted pull; staging remuxes it to MP4)."""
    args = ["-y"]
    if url.startswith("rtsp"):
        args += ["-rtsp_transport", "tcp", "-timeout", "15000000"]
    args += ["-i", url, "-t", f"{duration_s:.3f}", "-map", "0:v?", "-map", "0:a?", "-c", "copy"]
    return [*args, "-f", "matroska", str(dest)]


def pull(
    url: str,
    dest: Path,
    duration_s: float,
    *,
    stop: threading.Event | None = None,
    on_progress: ffmpeg.ProgressFn | None = None,
    timeout_s: float | None = None,
) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part.mkv")
    ffmpeg.run(
        pull_args(url, tmp, duration_s),
        timeout_s=timeout_s or duration_s * 2 + 60,
        stop=stop,
        on_progress=on_progress,
    )
    tmp.replace(dest)
    return dest
