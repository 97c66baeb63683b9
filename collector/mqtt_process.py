"""The collector's MQTT link with the client in a child process (the default).

Same interface as :class:`collector.mqtt_link.MqttLink`; the paho client runs in
``python -m collector.mqtt_receiver`` (see there for why and for the frame protocol). A reader
thread turns the child's frames into :class:`~collector.mqtt_link.Inbound` items on the ingest
queue; publishes and acks go down the child's stdin. If the child dies it is started again;
messages it had received but not acknowledged are redelivered by the broker (same client id,
persistent session) and acknowledged then.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections import deque
from typing import Any

from collector.inbox import Inbox
from collector.metrics import CollectorMetrics
from collector.mqtt_link import Inbound, LinkState, session_options
from collector.mqtt_receiver import read_frame, write_frame
from collector.settings import MqttSettings

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
PENDING_MAX = 10_000  # publishes kept while the child restarts
CHILD_GENERATION = 0xFFFF_FFFF  # low bits of a generation: the child's connection number


class ProcessMqttLink(LinkState):
    """Implements :class:`collector.publisher.Publisher` and the ingest worker's link.

    Its :attr:`generation` is the child's incarnation (high 32 bits) and the child's own
    connection number (low 32 bits), so acks for a dead child's messages are skipped too.
    """

    def __init__(
        self,
        settings: MqttSettings,
        inbox: Inbox[Inbound],
        *,
        url: str | None = None,
        metrics: CollectorMetrics | None = None,
        buffer_max: int = 20000,
    ) -> None:
        super().__init__(metrics)
        self._config: dict[str, Any] = {**session_options(settings, url), "buffer_max": buffer_max}
        self._inbox = inbox
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_lock = threading.Lock()
        self._pending: deque[tuple[Any, ...]] = deque(maxlen=PENDING_MAX)
        self._incarnation = 0
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._spawn()
        self._reader = threading.Thread(target=self._read_loop, name="mqtt-reader", daemon=True)
        self._reader.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None:
            with self._write_lock:
                try:
                    assert proc.stdin is not None
                    write_frame(proc.stdin, ("stop",))
                    proc.stdin.close()
                except (OSError, ValueError):
                    pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
            self._reader = None
        self._proc = None
        self._set_state(False, False)

    @property
    def pid(self) -> int | None:
        """The child's process id (tests kill it)."""
        return self._proc.pid if self._proc is not None else None

    # -- publisher and acks --------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        frame = ("pub", topic, payload, qos, retain)
        if not self._send(frame):
            self._pending.append(frame)  # sent once the child is back

    def _ack(self, generation: int, mids: list[int]) -> None:
        self._send(("ack", generation & CHILD_GENERATION, mids), generation >> 32)

    def _send(self, frame: tuple[Any, ...], incarnation: int | None = None) -> bool:
        """Write ``frame`` to the child (only to child ``incarnation`` if given)."""
        with self._write_lock:
            proc = self._proc
            if proc is None or proc.stdin is None:
                return False
            if incarnation is not None and incarnation != self._incarnation:
                return False
            try:
                write_frame(proc.stdin, frame)
                return True
            except (OSError, ValueError):
                return False

    # -- child process -------------------------------------------------------------------

    def _spawn(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.mqtt_receiver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None
        with self._write_lock:
            self._incarnation += 1
            self._generation = self._incarnation << 32
            self._proc = proc
            write_frame(proc.stdin, ("config", self._config))
            while self._pending:
                write_frame(proc.stdin, self._pending.popleft())
        log.info("MQTT receiver process %d started", proc.pid)

    def _read_loop(self) -> None:
        while True:
            proc = self._proc
            if proc is None or proc.stdout is None:
                return
            try:
                self._read_frames(proc)
            except Exception:
                log.exception("reading from the MQTT receiver failed")
            self._set_state(False, False)
            if self._stop.is_set():
                return
            proc.kill()
            code = proc.wait()
            log.error("MQTT receiver process exited (%s); restarting", code)
            if self._stop.wait(RESTART_DELAY_S):
                return
            try:
                self._spawn()
            except Exception:
                log.exception("cannot start the MQTT receiver; retrying")

    def _read_frames(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        stdout = proc.stdout
        put_many = self._inbox.put_many
        while True:
            frame = read_frame(stdout)
            if frame is None:
                return
            if frame[0] == "msgs":
                base = self._incarnation << 32
                items = [
                    Inbound(topic, payload, mid, qos, retain, base | generation)
                    for topic, payload, mid, qos, retain, generation in frame[1]
                ]
                # Back-pressure: stop reading; the child buffers, then stops reading the socket.
                while not put_many(items, timeout=0.5):
                    if self._stop.is_set():
                        return
            elif frame[0] == "state":
                _, connected, subscribed, generation = frame
                self._set_state(connected, subscribed, (self._incarnation << 32) | generation)
