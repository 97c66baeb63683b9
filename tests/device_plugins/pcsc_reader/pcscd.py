"""A real pcscd for tests, with vsmartcard's vpcd driver as its readers.

Debian's pcscd always serves ``/run/pcscd/pcscd.comm``; to keep the test's daemon away from a
system one, it runs in a private mount namespace (``unshare --mount``) with a temporary
directory bound over ``/run/pcscd``, and the client library is pointed at that socket with
``PCSCLITE_CSOCK_NAME`` (read once per process, so the whole test session uses one socket
directory). Without ``unshare`` rights it uses the system path, if no pcscd is running there.
vpcd keeps its state per slot in the driver library, which pcscd loads once, so one pcscd runs
one vpcd reader; that reader has two slots, which PC/SC shows as two readers (``<name> 00 00``
and ``<name> 00 01``) listening on two TCP ports (``port`` and ``port + 1``), where
:class:`~device_plugins.pcsc_reader.simulator.VirtualCard` connects.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_SOCKET = Path("/run/pcscd/pcscd.comm")


class Unavailable(RuntimeError):
    """pcscd or vpcd cannot run here (the reason says why)."""


def free_port_pair() -> int:
    """A port p such that p and p + 1 are free (vpcd listens on both, one per slot)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


def _system_pcscd_running() -> bool:
    if not SYSTEM_SOCKET.exists():
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(SYSTEM_SOCKET))
        except OSError:
            return False
    return True


class Pcscd:
    """Start and stop pcscd with a given set of vpcd readers."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("pcscd") or (
            "/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None
        )
        if binary is None:
            raise Unavailable("pcscd not installed (apt-get install pcscd)")
        self.pcscd: str = binary
        if not VPCD_DRIVER.exists():
            raise Unavailable("vpcd driver missing (apt-get install vsmartcard-vpcd)")
        self.workdir = workdir
        self.private = _can_unshare()
        if self.private:
            self.run_dir = workdir / "run"
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.socket = self.run_dir / "pcscd.comm"
        else:
            if _system_pcscd_running():
                raise Unavailable("a system pcscd is running and no private namespace is allowed")
            self.run_dir, self.socket = SYSTEM_SOCKET.parent, SYSTEM_SOCKET
        self.proc: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self._n = 0

    def client_env(self) -> None:
        """Point this process's PC/SC client library at the daemon (before its first use)."""
        os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket)

    def start(self, name: str | None = "Virtual PCD") -> list[int]:
        """Start pcscd with a vpcd reader called ``name`` (None: no reader at all); return
        the TCP ports of its two slots, ``<name> 00 00`` and ``<name> 00 01``."""
        self.stop()
        self._n += 1
        conf = self.workdir / f"conf{self._n}"
        conf.mkdir(parents=True)
        self.ports = {}
        if name is not None:
            port = free_port_pair()
            self.ports = {f"{name} 00 00": port, f"{name} 00 01": port + 1}
            (conf / "vpcd").write_text(
                f'FRIENDLYNAME "{name}"\n'
                f"DEVICENAME   /dev/null:0x{port:04X}\n"
                f"LIBPATH      {VPCD_DRIVER}\n"
                f"CHANNELID    0x{port:04X}\n"
            )
        command = [self.pcscd, "--foreground", "--apdu", "--info", "--config", str(conf)]
        if self.private:
            command = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                f'mkdir -p /run/pcscd && mount --bind "{self.run_dir}" /run/pcscd && exec "$@"',
                "pcscd",
                *command,
            ]
        self.socket.unlink(missing_ok=True)
        log = open(self.workdir / f"pcscd{self._n}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = (self.workdir / f"pcscd{self._n}.log").read_text(errors="replace")
                self.stop()
                raise Unavailable(f"pcscd did not start: {out[-800:]}")
            time.sleep(0.05)
        return list(self.ports.values())

    def _ready(self) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket))
            except OSError:
                return False
        return all(self._listening(port) for port in self.ports.values())

    @staticmethod
    def _listening(port: int) -> bool:
        # vpcd accepts one card per slot; a probe connection would be taken for a card, so
        # look at the kernel's table instead.
        with open("/proc/net/tcp") as f:
            table = f.read()
        return f":{port:04X} 00000000:0000 0A" in table

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


_shared: Pcscd | None = None


def shared() -> Pcscd:
    """The one daemon harness of this test process (the client library reads the socket name
    once per process, so every test must use the same one). Raises :class:`Unavailable`."""
    global _shared
    if _shared is None:
        workdir = Path(tempfile.mkdtemp(prefix="pcscd-"))
        atexit.register(shutil.rmtree, workdir, True)
        daemon = Pcscd(workdir)
        atexit.register(daemon.stop)  # runs before the removal (last in, first out)
        daemon.client_env()
        _shared = daemon
    return _shared
