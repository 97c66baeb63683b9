"""Fetching: turn each source of a job into local files under the job's ``fetch/`` folder."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from pydantic import BaseModel

from burn_station import coverage, ffmpeg, isapi, rtsp
from burn_station.discnames import shorten
from burn_station.httpfetch import FetchError, download
from burn_station.nvrtime import to_nvr_clock
from burn_station.settings import BurnerSettings
from contract.payloads.burn import (
    FileStoreSource,
    FolderSource,
    MediaKind,
    NvrIsapiSource,
    RtspSource,
    Source,
    UrlSource,
)


class FetchedItem(BaseModel):
    """A fetched file and what staging should do with it."""

    path: str  # relative to the job's fetch folder
    name: str  # relative POSIX path on the disc, before staging renames
    media: MediaKind
    source: str
    trim_start_s: float | None = None
    trim_duration_s: float | None = None
    sha256: str | None = None
    """The SHA-256 the download verified, when the source named one."""
    decode_checked: bool = False
    """The collector decoded these bytes in full without error (a file-store recording)."""
    warning: str = ""
    """Why this source is archived incomplete (NVR video shorter than its window)."""


@dataclass
class FetchEnv:
    settings: BurnerSettings
    dest: Path
    stop: threading.Event
    on_bytes: Callable[[int], None]
    transport: httpx.BaseTransport | None = None
    allow_partial_video: bool = False


def safe_name(name: str, fallback: str = "file") -> str:
    """A file name without directory parts or characters Windows refuses, short enough for
    the local file system and the disc's Joliet tree (its extension kept)."""
    name = PurePosixPath(name.replace("\\", "/")).name
    name = re.sub(r'[<>:"|?*;\x00-\x1f]', "_", name).strip(" .")
    return shorten(name) if name else fallback


def fetch_source(index: int, source: Source, env: FetchEnv) -> list[FetchedItem]:
    target = env.dest / f"s{index:03d}"
    target.mkdir(parents=True, exist_ok=True)
    if isinstance(source, FileStoreSource):
        return [_file_store(source, target, env)]
    if isinstance(source, UrlSource):
        return [_url(source, target, env)]
    if isinstance(source, FolderSource):
        return _folder(source, target, env)
    if isinstance(source, NvrIsapiSource):
        return _isapi(source, target, env)
    return [_rtsp(source, target, env)]


def _client(env: FetchEnv, auth: httpx.Auth | None = None) -> httpx.Client:
    return httpx.Client(
        timeout=env.settings.http_timeout_s,
        follow_redirects=True,
        auth=auth,
        transport=env.transport,
    )


def _rel(env: FetchEnv, path: Path) -> str:
    return path.relative_to(env.dest).as_posix()


def _file_store(source: FileStoreSource, target: Path, env: FetchEnv) -> FetchedItem:
    url = urljoin(env.settings.collector_url.rstrip("/") + "/", source.url)
    token = env.settings.collector_token.get_secret_value()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    dest = target / safe_name(source.name)
    with _client(env) as client:
        download(
            client,
            url,
            dest,
            sha256=source.sha256,
            size=source.size,
            headers=headers,
            stop=env.stop,
            on_bytes=env.on_bytes,
        )
    return FetchedItem(
        path=_rel(env, dest),
        name=safe_name(source.name),
        media=source.media,
        source=f"file_store:{source.file_id}",
        sha256=source.sha256,
        decode_checked=source.decode_checked,
        warning=source.warning,
    )


def _url(source: UrlSource, target: Path, env: FetchEnv) -> FetchedItem:
    name = safe_name(source.name or unquote(urlsplit(source.url).path), "document")
    dest = target / name
    with _client(env) as client:
        download(
            client,
            source.url,
            dest,
            sha256=source.sha256,
            size=source.size,
            stop=env.stop,
            on_bytes=env.on_bytes,
        )
    return FetchedItem(path=_rel(env, dest), name=name, media=source.media, source=source.url)


def _folder(source: FolderSource, target: Path, env: FetchEnv) -> list[FetchedItem]:
    root = Path(source.path)
    if not root.is_dir():
        raise FetchError(f"folder {root} does not exist")
    items = []
    for path in sorted(p for p in root.glob(source.pattern) if p.is_file()):
        rel = path.relative_to(root)
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.stat().st_size != path.stat().st_size:
            shutil.copyfile(path, dest)
            env.on_bytes(path.stat().st_size)
        items.append(
            FetchedItem(
                path=_rel(env, dest), name=rel.as_posix(), media=source.media, source=str(path)
            )
        )
    if not items:
        raise FetchError(f"folder {root} has no files matching {source.pattern}")
    return items


def _credential(env: FetchEnv, name: str) -> tuple[str, str]:
    if not name:
        return "", ""
    cred = env.settings.credentials.get(name)
    if cred is None:
        raise FetchError(f"no credential named {name!r} in the station settings")
    return cred.username, cred.password.get_secret_value()


def _isapi(source: NvrIsapiSource, target: Path, env: FetchEnv) -> list[FetchedItem]:
    tz = source.tz or env.settings.nvr_tz
    start = to_nvr_clock(source.start, tz, source.clock_offset_s)
    end = to_nvr_clock(source.end, tz, source.clock_offset_s)
    user, password = _credential(env, source.credentials)
    base = source.base_url.rstrip("/")
    track = isapi.track_id(source.channel, source.stream)
    label = source.name or f"{source.room or 'nvr'}_ch{source.channel}"
    items, covered = [], []
    with _client(env, httpx.DigestAuth(user, password)) as client:
        clips = isapi.search(client, base, track, start, end)
        if not clips:
            raise FetchError(f"NVR {base} has no recording on track {track} in the window")
        for n, clip in enumerate(clips):
            dest = target / f"clip{n:03d}.bin"
            download(
                client,
                f"{base}/ISAPI/ContentMgmt/download",
                dest,
                stop=env.stop,
                on_bytes=env.on_bytes,
                content=isapi.download_xml(clip.playback_uri),
                headers={"Content-Type": "application/xml"},
            )
            trim_start = max(0.0, (start - clip.start).total_seconds())
            duration = (min(end, clip.end) - max(start, clip.start)).total_seconds()
            # what the file holds, not what the search said: a clip may end early
            got = min(_duration(dest) - trim_start, duration)
            covered.append(coverage.placed(max(start, clip.start), got))
            items.append(
                FetchedItem(
                    path=_rel(env, dest),
                    name=f"{safe_name(label)}_{max(start, clip.start):%Y%m%d_%H%M%S}.mp4",
                    media="video",
                    source=f"isapi:{base} track {track} {clip.playback_uri}",
                    trim_start_s=trim_start or None,
                    trim_duration_s=duration if duration > 0 else None,
                )
            )
    what = f"NVR {base} track {track}"
    items[0].warning = _check(env, what, (start, end), covered)
    return items


def _rtsp(source: RtspSource, target: Path, env: FetchEnv) -> FetchedItem:
    tz = source.tz or env.settings.nvr_tz
    start = to_nvr_clock(source.start, tz, source.clock_offset_s)
    end = to_nvr_clock(source.end, tz, source.clock_offset_s)
    user, password = _credential(env, source.credentials)
    url = rtsp.playback_url(source.url, source.vendor, source.channel, start, end, user, password)
    duration = (end - start).total_seconds()
    if source.max_duration_s is not None:
        duration = min(duration, source.max_duration_s)
    dest = target / "pull.mkv"
    if not dest.exists():
        rtsp.pull(url, dest, duration, stop=env.stop, timeout_s=duration * 2 + 120)
    label = source.name or f"{source.room or 'rtsp'}_ch{source.channel}"
    shown = url.split("@", 1)[-1] if "@" in url else url
    window = coverage.placed(start, duration)  # the pull's own bound: what was asked for
    got = [coverage.placed(start, _duration(dest))]  # a playback that stopped early is short
    return FetchedItem(
        path=_rel(env, dest),
        name=f"{safe_name(label)}_{start:%Y%m%d_%H%M%S}.mp4",
        media="video",
        source=f"rtsp:{shown}",
        warning=_check(env, f"RTSP {shown}", window, got),
    )


def _duration(path: Path) -> float:
    """Seconds of media in a fetched file (0 when ffprobe finds none)."""
    info = ffmpeg.probe(path)
    return (info.duration_s or 0.0) if info is not None else 0.0


def _check(env: FetchEnv, what: str, window: coverage.Span, covered: list[coverage.Span]) -> str:
    """The coverage check with the station's tolerance; the warning when partial video is
    allowed; a :class:`FetchError` naming the missing spans when not."""
    try:
        return coverage.check(
            what,
            window,
            covered,
            tolerance_s=env.settings.video_gap_tolerance_s,
            tolerance_pct=env.settings.video_gap_tolerance_pct,
            allow_partial=env.allow_partial_video,
        )
    except coverage.CoverageError as exc:
        raise FetchError(str(exc)) from None
