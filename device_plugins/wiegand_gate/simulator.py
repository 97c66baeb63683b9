"""A Wiegand access controller on UDP that records the doors it was told to open.

It answers remote open (0x40) and status (0x20) for its own serial number, exactly as the
packets go on the wire, and stays silent for other serial numbers and malformed packets (as the
real controllers do). ``drop`` makes it ignore the next n requests (a lost datagram).
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from dataclasses import dataclass

from device_plugins.wiegand_gate import protocol as p


@dataclass(frozen=True)
class Open:
    door: int
    at: float  # time.monotonic()
    sequence: int


class WiegandControllerSimulator:
    def __init__(self, serial: int = 223000123, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.serial = serial
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()[:2]
        self.opens: list[Open] = []
        self.requests = 0
        self.drop = 0
        self.silent = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="wg-sim", daemon=True)

    def start(self) -> WiegandControllerSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def doors_opened(self) -> list[int]:
        return [o.door for o in self.opens]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self.handle(raw)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def handle(self, raw: bytes) -> bytes | None:
        try:
            request = p.decode(raw)
        except p.PacketError:
            return None
        if request.serial != self.serial:
            return None
        self.requests += 1
        if self.silent or self.drop > 0:
            self.drop = max(0, self.drop - 1)
            return None
        if request.function == p.FN_REMOTE_OPEN:
            door = request.data[0]
            ok = 1 <= door <= 4
            if ok:
                self.opens.append(Open(door, time.monotonic(), request.sequence))
            data = bytes([1 if ok else 0])
        elif request.function == p.FN_QUERY_STATUS:
            data = bytes(p.DATA_LENGTH)  # no records, doors closed
        else:
            return None
        return p.Packet(request.function, self.serial, data, request.sequence).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated Wiegand access controller (UDP).")
    parser.add_argument("--serial", type=int, default=223000123)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=p.PORT)
    args = parser.parse_args(argv)
    sim = WiegandControllerSimulator(args.serial, host=args.host, port=args.port).start()
    print(f"controller {args.serial} on udp://{sim.host}:{sim.port}")
    try:
        while True:
            time.sleep(1)
            for o in sim.opens[-5:]:
                print(f"door {o.door} opened (seq {o.sequence})")
            sim.opens.clear()
    except KeyboardInterrupt:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
