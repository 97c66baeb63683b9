"""Hikvision ISAPI recording search and download (HTTP digest authentication).

``POST /ISAPI/ContentMgmt/search`` with a ``CMSearchDescription`` finds the clips of a track
(channel ``c`` main stream is track ``c01``) in a time span; ``GET /ISAPI/ContentMgmt/download``
with a ``downloadRequest`` body streams one clip by its ``playbackURI``. Times are the NVR's
wall-clock time written with a ``Z`` suffix, as Hikvision firmware does; the caller converts.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

import httpx

ISAPI_TIME = "%Y-%m-%dT%H:%M:%SZ"
PAGE = 50


@dataclass(frozen=True, slots=True)
class Clip:
    track_id: int
    start: datetime  # naive, NVR wall clock
    end: datetime
    playback_uri: str


def track_id(channel: int, stream: int = 1) -> int:
    return channel * 100 + stream


def search_xml(track: int, start: datetime, end: datetime, position: int, search_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<CMSearchDescription version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
        f"<searchID>{search_id}</searchID>"
        f"<trackList><trackID>{track}</trackID></trackList>"
        "<timeSpanList><timeSpan>"
        f"<startTime>{start.strftime(ISAPI_TIME)}</startTime>"
        f"<endTime>{end.strftime(ISAPI_TIME)}</endTime>"
        "</timeSpan></timeSpanList>"
        f"<maxResults>{PAGE}</maxResults>"
        f"<searchResultPostion>{position}</searchResultPostion>"
        "<metadataList><metadataDescriptor>//recordType.meta.std-cgi.com</metadataDescriptor>"
        "</metadataList></CMSearchDescription>"
    ).encode()


def download_xml(playback_uri: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><downloadRequest version="1.0" '
        'xmlns="http://www.isapi.org/ver20/XMLSchema">'
        f"<playbackURI>{escape(playback_uri)}</playbackURI></downloadRequest>"
    ).encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find_text(elem: ET.Element, name: str) -> str:
    for child in elem.iter():
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def parse_search(body: bytes) -> tuple[list[Clip], bool]:
    """Clips of one result page and whether more pages follow (``MORE``)."""
    root = ET.fromstring(body)
    status = _find_text(root, "responseStatusStrg").upper()
    clips: list[Clip] = []
    for item in root.iter():
        if _local(item.tag) != "searchMatchItem":
            continue
        clips.append(
            Clip(
                track_id=int(_find_text(item, "trackID") or 0),
                start=datetime.strptime(_find_text(item, "startTime"), ISAPI_TIME),
                end=datetime.strptime(_find_text(item, "endTime"), ISAPI_TIME),
                playback_uri=_find_text(item, "playbackURI"),
            )
        )
    return clips, status == "MORE"


class IsapiError(RuntimeError):
    pass


def search(
    client: httpx.Client, base_url: str, track: int, start: datetime, end: datetime
) -> list[Clip]:
    """All clips of ``track`` overlapping [start, end) (naive NVR wall-clock times)."""
    search_id = str(uuid.uuid4()).upper()
    clips: list[Clip] = []
    for _ in range(100):
        body = search_xml(track, start, end, len(clips), search_id)
        resp = client.post(
            f"{base_url.rstrip('/')}/ISAPI/ContentMgmt/search",
            content=body,
            headers={"Content-Type": "application/xml"},
        )
        if resp.status_code != 200:
            raise IsapiError(f"ISAPI search: HTTP {resp.status_code}")
        page, more = parse_search(resp.content)
        clips.extend(page)
        if not more or not page:
            break
    return sorted(clips, key=lambda c: c.start)
