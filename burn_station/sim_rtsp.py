"""A simulated NVR RTSP playback server for tests and demos.

It answers the RTSP requests ffmpeg sends (OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER,
TEARDOWN) with digest authentication, understands the Hikvision
(``/Streaming/tracks/{channel}01?starttime=…&endtime=…``) and Dahua
(``/cam/playback?channel=…&starttime=…&endtime=…``) playback URLs, and streams a real
video file: ffmpeg's RTP muxer sends the packets to a local UDP port and the server
relays them interleaved on the RTSP connection (``RTP/AVP/TCP``), as NVRs do. Like
some real NVRs it ignores ``endtime`` and keeps streaming (the file loops), so a client
must bound its pull with a duration.

>>> nvr = SimRtspNvr({1: Path("room1.mp4")}, "admin", "secret").start()
>>> nvr.url  # rtsp://127.0.0.1:<port>
>>> nvr.stop()
"""

from __future__ import annotations

import re
import secrets
import select
import socket
import socketserver
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from burn_station import ffmpeg
from burn_station.sim_nvr import REALM, digest_ok


@dataclass(frozen=True)
class Playback:
    """One PLAY request as the NVR understood it."""

    channel: int
    starttime: str
    endtime: str


@dataclass
class _Session:
    path: Path
    interleaved: tuple[int, int] = (0, 1)
    proc: subprocess.Popen[bytes] | None = None
    sockets: list[socket.socket] = field(default_factory=list)


def channel_of(url: str) -> tuple[int, dict[str, str]] | None:
    """The channel and query of a Hikvision or Dahua playback URL, or None."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    hik = re.match(r"/Streaming/tracks/(\d+)", parts.path)
    if hik:
        return int(hik.group(1)) // 100, query  # track 101 = channel 1, main stream
    if parts.path.startswith("/cam/playback") and query.get("channel", "").isdigit():
        return int(query["channel"]), query
    return None


class SimRtspNvr:
    def __init__(
        self, media: dict[int, Path], username: str = "", password: str = "", *, loop: bool = True
    ) -> None:
        self.media = media
        self.loop = loop
        """False: the playback ends with the file and the NVR closes the connection, as at
        the end of a recording that is shorter than the window asked for."""
        self.username = username
        self.password = password
        self.requests: list[str] = []
        self.playbacks: list[Playback] = []
        self._nonce = secrets.token_hex(8)
        self._sdp: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"rtsp://{host}:{port}"

    def start(self) -> SimRtspNvr:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sdp(self, path: Path, control: str) -> str:
        """The file's SDP as ffmpeg's RTP muxer describes it, with a control URL."""
        with self._lock:
            if path not in self._sdp:
                self._sdp[path] = _describe(path)
        return self._sdp[path] + f"a=control:{control}\r\n"

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        nvr = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn = RtspConnection(nvr, self.request)
                try:
                    conn.serve()
                finally:
                    conn.close()

        return Handler


class RtspConnection:
    """One client connection: requests in, responses and interleaved RTP out."""

    def __init__(self, nvr: SimRtspNvr, sock: socket.socket) -> None:
        self.nvr = nvr
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.write_lock = threading.Lock()
        self.session_id = secrets.token_hex(6)
        self.session: _Session | None = None

    def serve(self) -> None:
        while request := self._read_request():
            method, url, headers = request
            self.nvr.requests.append(f"{method} {url}")
            if not self._respond(method, url, headers):
                return

    def close(self) -> None:
        if self.session is not None:
            _stop_stream(self.session)
        self.reader.close()

    def _read_request(self) -> tuple[str, str, dict[str, str]] | None:
        while True:
            first = self.reader.read(1)
            if not first:
                return None
            if first == b"$":  # the client's interleaved RTCP: skip it
                head = self.reader.read(3)
                self.reader.read(int.from_bytes(head[1:3], "big"))
                continue
            line = (first + self.reader.readline()).decode("utf-8", "replace").strip()
            if line:
                break
        method, url, _ = line.split(" ", 2)
        headers: dict[str, str] = {}
        while (raw := self.reader.readline().decode("utf-8", "replace").strip()) != "":
            name, _, value = raw.partition(":")
            headers[name.strip().lower()] = value.strip()
        if length := int(headers.get("content-length", "0") or 0):
            self.reader.read(length)
        return method, url, headers

    def _send(self, status: str, headers: dict[str, str], cseq: str, body: str = "") -> None:
        lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}", *(f"{k}: {v}" for k, v in headers.items())]
        if body:
            lines.append(f"Content-Length: {len(body.encode())}")
        data = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
        with self.write_lock:
            self.sock.sendall(data)

    def _respond(self, method: str, url: str, headers: dict[str, str]) -> bool:
        cseq = headers.get("cseq", "0")
        if method == "OPTIONS":
            public = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"
            self._send("200 OK", {"Public": public}, cseq)
            return True
        nvr = self.nvr
        if nvr.username and not digest_ok(
            headers.get("authorization", ""), method, nvr.username, nvr.password, nvr._nonce
        ):
            challenge = f'Digest realm="{REALM}", nonce="{nvr._nonce}", stale="FALSE"'
            self._send("401 Unauthorized", {"WWW-Authenticate": challenge}, cseq)
            return True
        if method == "DESCRIBE":
            return self._describe(url, cseq)
        if method == "SETUP":
            return self._setup(headers, cseq)
        session = {"Session": self.session_id}
        if method == "PLAY" and self.session is not None:
            self._send("200 OK", {**session, "Range": "npt=0.000-"}, cseq)
            _start_stream(self.session, self.sock, self.write_lock, loop=self.nvr.loop)
            return True
        if method == "GET_PARAMETER":
            self._send("200 OK", session, cseq)
            return True
        if method == "TEARDOWN":
            self._send("200 OK", session, cseq)
            return False
        self._send("455 Method Not Valid in This State", {}, cseq)
        return True

    def _describe(self, url: str, cseq: str) -> bool:
        found = channel_of(url)
        path = self.nvr.media.get(found[0]) if found else None
        if found is None or path is None:
            self._send("404 Not Found", {}, cseq)
            return True
        channel, query = found
        self.nvr.playbacks.append(
            Playback(channel, query.get("starttime", ""), query.get("endtime", ""))
        )
        self.session = _Session(path)
        base = url.split("?", 1)[0].rstrip("/")
        body = self.nvr.sdp(path, f"{base}/trackID=1")
        headers = {"Content-Type": "application/sdp", "Content-Base": f"{base}/"}
        self._send("200 OK", headers, cseq, body)
        return True

    def _setup(self, headers: dict[str, str], cseq: str) -> bool:
        transport = headers.get("transport", "")
        match = re.search(r"interleaved=(\d+)-(\d+)", transport)
        if self.session is None or "TCP" not in transport or match is None:
            self._send("461 Unsupported Transport", {}, cseq)
            return True
        self.session.interleaved = (int(match.group(1)), int(match.group(2)))
        reply = f"RTP/AVP/TCP;unicast;interleaved={match.group(1)}-{match.group(2)}"
        self._send("200 OK", {"Transport": reply, "Session": f"{self.session_id};timeout=60"}, cseq)
        return True


def _describe(path: Path) -> str:
    """SDP for the file's first video stream, written by ffmpeg's RTP muxer."""
    with tempfile.TemporaryDirectory() as tmp:
        sdp = Path(tmp) / "stream.sdp"
        ffmpeg.run(
            ["-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-frames:v", "1",
             "-f", "rtp", "-sdp_file", str(sdp), "rtp://127.0.0.1:9"],
            timeout_s=30,
        )  # fmt: skip
        lines = [line for line in sdp.read_text().splitlines() if line.strip()]
    return "\r\n".join(lines) + "\r\n"


def _start_stream(
    session: _Session, sock: socket.socket, write_lock: threading.Lock, *, loop: bool = True
) -> None:
    """ffmpeg sends RTP/RTCP to two local UDP ports; a thread frames them onto the RTSP
    connection on the interleaved channels the client chose."""
    rtp, rtcp = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for s in (rtp, rtcp):
        s.bind(("127.0.0.1", 0))
    session.sockets = [rtp, rtcp]
    target = f"rtp://127.0.0.1:{rtp.getsockname()[1]}?rtcpport={rtcp.getsockname()[1]}"
    session.proc = subprocess.Popen(
        [ffmpeg.FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-re",
         *(["-stream_loop", "-1"] if loop else []),
         "-i", str(session.path), "-map", "0:v:0", "-c", "copy", "-f", "rtp",
         "-pkt_size", "1400", target],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    channels = {rtp: session.interleaved[0], rtcp: session.interleaved[1]}
    args = (channels, sock, write_lock, session.proc)
    threading.Thread(target=_relay, args=args, daemon=True).start()


def _relay(
    channels: dict[socket.socket, int],
    sock: socket.socket,
    lock: threading.Lock,
    proc: subprocess.Popen[bytes],
) -> None:
    try:
        while True:
            ready, _, _ = select.select(list(channels), [], [], 1.0)
            if not ready and proc.poll() is not None:  # the recording has ended
                sock.shutdown(socket.SHUT_RDWR)
                return
            for udp in ready:
                packet = udp.recv(65536)
                frame = b"$" + bytes([channels[udp]]) + len(packet).to_bytes(2, "big") + packet
                with lock:
                    sock.sendall(frame)
    except (OSError, ValueError):
        return  # the client went away or the session was torn down


def _stop_stream(session: _Session) -> None:
    if session.proc is not None and session.proc.poll() is None:
        session.proc.kill()
        session.proc.wait()
    for s in session.sockets:
        s.close()
