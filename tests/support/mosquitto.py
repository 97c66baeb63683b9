"""A real Mosquitto broker on a free port, started and killed by tests and benchmarks."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.net import free_port, wait_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

# The collector acknowledges MQTT messages only after its database commit, so the broker's
# per-client window of unacknowledged QoS 1 messages bounds its batch size: keep it wide.
BASE_CONF = """\
listener {port} 127.0.0.1
allow_anonymous {anonymous}
persistence false
max_inflight_messages 1000
max_queued_messages 1000000

log_dest file {log}
log_type error
log_type warning
"""


class Mosquitto:
    def __init__(self, port: int | None = None, extra_conf: str = "", anonymous: bool = True):
        self.port = port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="prtc-mosq-"))
        self.conf = self._dir / "mosquitto.conf"
        self.log = self._dir / "mosquitto.log"
        self.conf.write_text(
            BASE_CONF.format(port=self.port, anonymous=str(anonymous).lower(), log=self.log)
            + extra_conf
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no persistence (persistence is off)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
