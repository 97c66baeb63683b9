"""Client of one Wiegand controller: a request, its reply (matched on the sequence), retries.

UDP loses datagrams; a remote open is safe to repeat (the door is released again), so a
request without a reply within ``timeout_s`` is sent again, ``retries`` times. One lock
serialises the requests, so two callers never read each other's replies.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time

from device_plugins.wiegand_gate import protocol as p


class ControllerError(OSError):
    pass


class WiegandController:
    def __init__(
        self, host: str, *, serial: int, port: int = p.PORT, timeout_s: float, retries: int
    ) -> None:
        self.address = (host, port)
        self.serial, self.timeout_s, self.retries = serial, timeout_s, retries
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("0.0.0.0", 0))
        self._lock = threading.Lock()
        self._seq = itertools.count(int(time.time()) & 0xFFFF)

    def close(self) -> None:
        self._sock.close()

    def open_door(self, door: int) -> None:
        """Release ``door``; raise ControllerError when the controller refuses or is silent."""
        seq = next(self._seq) & 0xFFFFFFFF
        reply = self._request(p.open_door(self.serial, door, seq), p.FN_REMOTE_OPEN, seq)
        if reply.data[0] != 1:
            raise ControllerError(f"controller {self.serial} refused to open door {door}")

    def probe(self) -> None:
        seq = next(self._seq) & 0xFFFFFFFF
        self._request(p.query_status(self.serial, seq), p.FN_QUERY_STATUS, seq)

    def _request(self, packet: bytes, function: int, seq: int) -> p.Packet:
        with self._lock:
            for _attempt in range(self.retries + 1):
                self._sock.sendto(packet, self.address)
                deadline = time.monotonic() + self.timeout_s
                while (left := deadline - time.monotonic()) > 0:
                    self._sock.settimeout(left)
                    try:
                        raw = self._sock.recv(2048)
                    except TimeoutError:
                        break
                    except OSError as exc:  # e.g. ICMP port unreachable on loopback
                        raise ControllerError(f"controller {self.address}: {exc}") from exc
                    try:
                        reply = p.decode(raw)
                    except p.PacketError:
                        continue
                    if (reply.function, reply.serial, reply.sequence) == (
                        function,
                        self.serial,
                        seq,
                    ):
                        return reply
        raise ControllerError(
            f"no answer from controller {self.serial} at {self.address[0]}:{self.address[1]}"
        )
