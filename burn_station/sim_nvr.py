"""A simulated Hikvision NVR for tests and demos: ISAPI recording search and download over
HTTP digest authentication, serving real video files made with ffmpeg.

>>> nvr = SimNvr("admin", "secret", clips=[SimClip(101, start, end, Path("clip.mp4"))])
>>> nvr.start(); ...; nvr.stop()
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from burn_station import ffmpeg
from burn_station.isapi import ISAPI_TIME

REALM = "DS-7608NI"


@dataclass(frozen=True)
class SimClip:
    track_id: int
    start: datetime  # naive NVR wall clock
    end: datetime
    path: Path


def make_test_video(
    dest: Path, seconds: float = 3.0, size: str = "320x240", rate: int = 15
) -> Path:
    """A short H.264 + AAC clip from ffmpeg's test sources."""
    ffmpeg.run(
        [
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size={size}:rate={rate}:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            str(rate),
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(dest),
        ],
        timeout_s=120,
    )
    return dest


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_ok(header: str, method: str, username: str, password: str, nonce: str) -> bool:
    """Whether an ``Authorization: Digest …`` header answers our challenge (RFC 2617, MD5,
    with or without ``qop=auth``); shared by the simulated ISAPI and RTSP servers."""
    if not header.startswith("Digest "):
        return False
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
    if fields.get("username") != username or fields.get("nonce") != nonce:
        return False
    ha1 = _md5(f"{username}:{REALM}:{password}")
    ha2 = _md5(f"{method}:{fields.get('uri', '')}")
    if fields.get("qop") == "auth":
        expected = _md5(f"{ha1}:{nonce}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
    else:
        expected = _md5(f"{ha1}:{nonce}:{ha2}")
    return secrets.compare_digest(expected, fields.get("response", ""))


class SimNvr:
    def __init__(self, username: str, password: str, clips: list[SimClip]) -> None:
        self.username = username
        self.password = password
        self.clips = clips
        self.requests: list[str] = []
        self._nonce = secrets.token_hex(8)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self) -> SimNvr:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- digest ----------------------------------------------------------------------------

    def authorised(self, method: str, header: str) -> bool:
        return digest_ok(header, method, self.username, self.password, self._nonce)

    # -- ISAPI -----------------------------------------------------------------------------

    def search_response(self, body: bytes) -> bytes:
        root = ET.fromstring(body)
        text = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        track = int(text["trackID"])
        start = datetime.strptime(text["startTime"], ISAPI_TIME)
        end = datetime.strptime(text["endTime"], ISAPI_TIME)
        position = int(text.get("searchResultPostion", "0") or 0)
        limit = int(text.get("maxResults", "40") or 40)
        found = [
            (i, c)
            for i, c in enumerate(self.clips)
            if c.track_id == track and c.start < end and c.end > start
        ]
        page = found[position : position + limit]
        more = position + limit < len(found)
        items = "".join(
            "<searchMatchItem>"
            f"<sourceID>{{0000-{i}}}</sourceID><trackID>{c.track_id}</trackID>"
            f"<timeSpan><startTime>{c.start.strftime(ISAPI_TIME)}</startTime>"
            f"<endTime>{c.end.strftime(ISAPI_TIME)}</endTime></timeSpan>"
            "<mediaSegmentDescriptor><contentType>video</contentType><codecType>H.264</codecType>"
            f"<playbackURI>rtsp://127.0.0.1/Streaming/tracks/{c.track_id}/?starttime="
            f"{c.start:%Y%m%dT%H%M%SZ}&amp;endtime={c.end:%Y%m%dT%H%M%SZ}&amp;name=clip{i}"
            f"&amp;size={c.path.stat().st_size}</playbackURI>"
            "</mediaSegmentDescriptor></searchMatchItem>"
            for i, c in page
        )
        status = "MORE" if more else ("OK" if found else "NO MATCHES")
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<CMSearchResult version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">'
            f"<searchID>{text.get('searchID', '')}</searchID><responseStatus>true</responseStatus>"
            f"<responseStatusStrg>{status}</responseStatusStrg>"
            f"<numOfMatches>{len(page)}</numOfMatches><matchList>{items}</matchList>"
            "</CMSearchResult>"
        ).encode()

    def clip_for(self, body: bytes) -> SimClip | None:
        root = ET.fromstring(body)
        uri = next((el.text or "" for el in root.iter() if el.tag.endswith("playbackURI")), "")
        name = parse_qs(urlsplit(uri).query).get("name", [""])[0]
        if not name.startswith("clip"):
            return None
        index = int(name[4:])
        return self.clips[index] if index < len(self.clips) else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        nvr = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

            def _challenge(self) -> None:
                self.send_response(401)
                self.send_header(
                    "WWW-Authenticate",
                    f'Digest realm="{REALM}", qop="auth", nonce="{nvr._nonce}", algorithm=MD5',
                )
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _dispatch(self) -> None:
                body = self._body()
                nvr.requests.append(f"{self.command} {self.path}")
                if not nvr.authorised(self.command, self.headers.get("Authorization", "")):
                    self._challenge()
                    return
                path = urlsplit(self.path).path
                if path == "/ISAPI/ContentMgmt/search" and self.command == "POST":
                    self._send(200, nvr.search_response(body), "application/xml")
                elif path == "/ISAPI/ContentMgmt/download":
                    clip = nvr.clip_for(body)
                    if clip is None:
                        self._send(404, b"<ResponseStatus>no such clip</ResponseStatus>", "")
                        return
                    self._file(clip.path)
                else:
                    self._send(404, b"", "text/plain")

            def _send(self, code: int, data: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype or "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _file(self, path: Path) -> None:
                data = path.read_bytes()
                m = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if m and int(m.group(1)) < len(data):
                    start = int(m.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    data = data[start:]
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _dispatch
            do_POST = _dispatch

        return Handler
