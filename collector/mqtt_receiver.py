"""The MQTT client of the collector as a child process (``python -m collector.mqtt_receiver``).

paho-mqtt spends about as much interpreter time receiving a message as the collector spends
validating and storing it; in one process both fight over one GIL. Running the client here
lets receiving and storing use two CPUs. The parent
(:class:`collector.mqtt_process.ProcessMqttLink`) talks to this process over its
stdin/stdout with length-prefixed pickle frames:

parent → child: ``("config", dict)`` first, then ``("pub", topic, payload, qos, retain)``,
``("ack", generation, [mid, ...])`` and ``("stop",)``.
child → parent: ``("msgs", [(topic, payload, mid, qos, retain, generation), ...])`` and
``("state", connected, subscribed, generation)``.

The paho side is :class:`collector.mqtt_session.PahoSession`, as in the in-process link.
This module imports only the standard library and paho, so the child starts quickly. It exits
when its stdin closes (the parent stopped or died); SIGINT/SIGTERM are left to the parent.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import struct
import sys
import threading
import time
from typing import IO, Any

from collector.mqtt_session import Item, PahoSession

log = logging.getLogger("collector.mqtt_receiver")

_LENGTH = struct.Struct(">I")
FRAME_MESSAGES = 1000  # messages per frame at most


def write_frame(out: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(data)) + data)
    out.flush()


def read_frame(inp: IO[bytes]) -> Any:
    """The next frame, or None at end of stream."""
    head = inp.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = inp.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


class Receiver:
    """The child's side: a :class:`PahoSession` whose sink buffers messages, drained to the
    parent in frames."""

    def __init__(self, config: dict[str, Any], out: IO[bytes]) -> None:
        self._out = out
        self._out_lock = threading.Lock()
        self._cond = threading.Condition()
        self._buffer: list[Item] = []
        self._limit = int(config.get("buffer_max", 20000))
        self._stopping = False
        self.session = PahoSession(config, self)

    def send(self, obj: Any) -> None:
        with self._out_lock:
            write_frame(self._out, obj)

    def run(self, inp: IO[bytes]) -> None:
        threading.Thread(target=self._drain, name="receiver-drain", daemon=True).start()
        self.session.start()
        try:
            while True:
                frame = read_frame(inp)
                if frame is None or frame[0] == "stop":
                    break
                kind = frame[0]
                if kind == "ack":
                    _, generation, mids = frame
                    self.session.ack(generation, mids)
                elif kind == "pub":
                    _, topic, payload, qos, retain = frame
                    self.session.publish(topic, payload, qos, retain)
        finally:
            self._stopping = True
            with self._cond:
                self._cond.notify_all()
            self.session.stop()

    # session sink (paho's network thread): never block for long

    def state(self, connected: bool, subscribed: bool, generation: int) -> None:
        if not self._stopping:  # once stopping, the parent no longer listens
            self.send(("state", connected, subscribed, generation))

    def message(self, item: Item, timeout: float) -> bool:
        with self._cond:
            if len(self._buffer) >= self._limit and not self._cond.wait_for(
                lambda: len(self._buffer) < self._limit or self._stopping, timeout
            ):
                return False
            self._buffer.append(item)
            if len(self._buffer) == 1:
                self._cond.notify_all()
        return True

    def _drain(self) -> None:
        while True:
            with self._cond:
                while not self._buffer and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
            if len(self._buffer) < 64:
                time.sleep(0.001)  # let a few more arrive: one frame for many messages
            with self._cond:
                batch = self._buffer[:FRAME_MESSAGES]
                del self._buffer[:FRAME_MESSAGES]
                self._cond.notify_all()
            try:
                self.send(("msgs", batch))
            except (BrokenPipeError, OSError):
                return  # the parent is gone; stdin EOF ends the process


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Frames go to the original stdout; anything printed by accident goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = os.fdopen(os.dup(0), "rb")
    logging.basicConfig(
        level=os.environ.get("PRTC_RECEIVER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    frame = read_frame(inp)
    if frame is None or frame[0] != "config":
        log.error("no configuration from the parent")
        return 2
    Receiver(frame[1], out).run(inp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
