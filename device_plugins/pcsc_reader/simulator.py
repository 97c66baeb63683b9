"""A virtual contactless card for vsmartcard's ``vpcd`` driver of a real pcscd.

``vpcd`` (Debian ``vsmartcard-vpcd``) is a pcscd reader driver that listens on a TCP port for a
virtual card. The card connects to it; every message either way is a 2-byte big-endian length
followed by that many bytes. From the reader, a 1-byte message is a control code (power off,
power on, reset, "send your ATR"); anything longer is a command APDU, answered with the
response APDU. The card is in the field while its connection is open: :meth:`VirtualCard.insert`
connects, :meth:`VirtualCard.remove` hangs up (vpcd then reports the card removed).

The card answers ``FF CA 00 00 00`` (PC/SC part 3 GET DATA: UID) with its UID and ``90 00``,
``6A 81`` when it was made without a UID, and ``6D 00`` to anything else. It records every
APDU it got.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import threading
import time

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
# ATR of a MIFARE Classic 1K as a PC/SC reader builds it (PC/SC part 3, 3.1.3.2.3).
MIFARE_1K_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA000000")
SW_OK = b"\x90\x00"
SW_NOT_SUPPORTED = b"\x6a\x81"
SW_INS_UNKNOWN = b"\x6d\x00"


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        # vpcd writes a message's length and body separately; acknowledge at once, or Nagle on
        # its side waits for our delayed ACK (40 ms) before sending the body.
        if hasattr(socket, "TCP_QUICKACK"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("reader hung up")
        data += chunk
    return data


class VirtualCard:
    """One card for one vpcd slot at ``host:port``."""

    def __init__(
        self,
        uid: str | None = "04A1B2C3D4E5F6",
        *,
        host: str = "127.0.0.1",
        port: int = 35963,
        atr: bytes = MIFARE_1K_ATR,
    ) -> None:
        self.uid = None if uid is None else bytes.fromhex(uid)
        self.host, self.port, self.atr = host, port, atr
        self.apdus: list[bytes] = []
        self.powered = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self, timeout: float = 10.0) -> VirtualCard:
        """Put the card on the reader: connect to vpcd (retrying until it listens)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()
        return self

    def remove(self) -> None:
        """Lift the card: hang up."""
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        self.powered = False

    def answer(self, apdu: bytes) -> bytes:
        self.apdus.append(apdu)
        if apdu[:4] == GET_UID[:4]:
            if self.uid is None:
                return SW_NOT_SUPPORTED
            le = apdu[4] if len(apdu) > 4 else 0
            uid = self.uid if le == 0 else self.uid[:le]
            return uid + SW_OK
        return SW_INS_UNKNOWN

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                (length,) = struct.unpack(">H", _recv_exact(sock, 2))
                message = _recv_exact(sock, length)
                reply: bytes | None = None
                if length == 1:
                    code = message[0]
                    if code == CTRL_ATR:
                        reply = self.atr
                    elif code in (CTRL_ON, CTRL_RESET):
                        self.powered = True
                    elif code == CTRL_OFF:
                        self.powered = False
                else:
                    reply = self.answer(message)
                if reply is not None:
                    sock.sendall(struct.pack(">H", len(reply)) + reply)
        except (OSError, ConnectionError):
            pass  # removed, or the reader went away


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Virtual IC card for vpcd (vsmartcard).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=35963)
    parser.add_argument("--uid", default="04A1B2C3D4E5F6", help="card UID in hex")
    args = parser.parse_args(argv)
    card = VirtualCard(args.uid, host=args.host, port=args.port).insert()
    print(f"card {args.uid} on vpcd {args.host}:{args.port}; Ctrl-C lifts it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        card.remove()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
