"""A pseudo-terminal that stands in for a serial device, for the byte-level simulators.

The plugin opens the slave side by path (any pyserial URL works, a plain path is one); the
simulator reads and writes the master side. The path handed to the plugin is a symlink that
the simulator owns, so that "unplugging" (closing the pty) and "plugging in again" (a new pty
behind the same name) look to the plugin like a USB adapter that vanished and came back at
the same udev name.
"""

from __future__ import annotations

import contextlib
import os
import select
import tempfile
import threading
import tty
from pathlib import Path


class PtyPort:
    def __init__(self, link: str | Path | None = None) -> None:
        if link is None:
            link = Path(tempfile.mkdtemp(prefix="prtc-pty-")) / "tty"
        self.link = Path(link)
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def path(self) -> str:
        """What to put in the plugin's ``port`` setting."""
        return str(self.link)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            # Raw from the start: no echo, no line discipline eating bytes before the
            # plugin opens the port (pyserial sets raw mode again when it does).
            tty.setraw(slave)
            self._master, self._slave = master, slave
            tmp = self.link.with_name(f".{self.link.name}.new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(os.ttyname(slave))
            tmp.replace(self.link)

    def unplug(self) -> None:
        """Close the pty: the plugin's reads and writes fail as with a pulled USB cable."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None

    def read(self, timeout: float) -> bytes:
        """Bytes the plugin wrote, b"" after ``timeout`` (or when unplugged)."""
        fd = self._master
        if fd is None:
            return b""
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            return os.read(fd, 4096) if ready else b""
        except OSError:  # unplugged under us, or the plugin side hung up
            return b""

    def write(self, data: bytes) -> None:
        with self._lock:
            fd = self._master
            if fd is None:
                return
            view = memoryview(data)
            while view:
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    select.select([], [fd], [], 0.05)
                    continue
                except OSError:
                    return
                view = view[written:]


class PtyDevice:
    """Base of a simulator: a pty plus a thread that hands what arrives to :meth:`on_bytes`."""

    def __init__(self, link: str | Path | None = None) -> None:
        self.port = PtyPort(link)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return self.port.path

    def start(self) -> PtyDevice:
        self.port.plug()
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.port.unplug()

    def unplug(self) -> None:
        self.port.unplug()

    def replug(self) -> None:
        self.port.plug()

    def on_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.port.plugged:
                self._stop.wait(0.02)
                continue
            data = self.port.read(0.05)
            if data:
                self.on_bytes(data)

    def __enter__(self) -> PtyDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
