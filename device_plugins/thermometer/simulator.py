"""A GY-MCU90614 module on a pseudo-terminal: answers ``A5 15 BA`` with a frame carrying
``object_c`` / ``ambient_c`` (and streams after ``A5 45 EA``). For Modbus thermometers use
``device_plugins.modbus_rtu.RtuSlaveSimulator`` with the value in an input register.

``python -m device_plugins.thermometer.simulator --link /tmp/thermo0 --celsius 36.6``
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from device_plugins.ptysim import PtyDevice
from device_plugins.thermometer import gy_mcu90614 as gy


class GyMcu90614Simulator(PtyDevice):
    def __init__(self, link: str | Path | None = None, *, object_c: float = 36.5) -> None:
        super().__init__(link)
        self.object_c = object_c
        self.ambient_c = 24.0
        self.silent = False
        self.corrupt_next = 0
        self.queries = 0
        self._buf = b""
        self._streaming = threading.Event()

    def on_bytes(self, data: bytes) -> None:
        self._buf = (self._buf + data)[-16:]
        while True:
            q, c = self._buf.find(gy.QUERY), self._buf.find(gy.CONTINUOUS)
            hits = [i for i in (q, c) if i >= 0]
            if not hits:
                return
            at = min(hits)
            self._buf = self._buf[at + 3 :]
            if at == c:
                self._streaming.set()
                threading.Thread(target=self._stream, daemon=True).start()
            else:
                self.queries += 1
                self._answer()

    def _answer(self) -> None:
        if self.silent:
            return
        frame = gy.encode_frame(self.object_c, self.ambient_c)
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        self.port.write(frame)

    def _stream(self) -> None:
        while self._streaming.is_set() and not self._stop.is_set():
            self._answer()
            time.sleep(0.1)

    def stop(self) -> None:
        self._streaming.clear()
        super().stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated GY-MCU90614 thermometer on a pty.")
    parser.add_argument("--link", default="/tmp/prtc-thermo0")
    parser.add_argument("--celsius", type=float, default=36.5)
    args = parser.parse_args(argv)
    sim = GyMcu90614Simulator(args.link, object_c=args.celsius)
    sim.start()
    print(f"thermometer simulator on {sim.path} reading {args.celsius} °C; Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        sim.stop()


if __name__ == "__main__":
    raise SystemExit(main())
