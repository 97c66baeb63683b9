"""The one supervising wrapper around an ffmpeg process.

:class:`FfmpegProcess` starts ffmpeg with a command built fresh for every run, reads its
stderr (kept as a short tail and logged), restarts it with exponential backoff when it exits
on its own, and stops it gracefully: ``q`` on stdin (ffmpeg finishes the current segment and
writes it to the segment list), then SIGTERM (TerminateProcess on Windows), then SIGKILL.
Every ffmpeg the recorder runs goes through this class.
"""

from __future__ import annotations

import collections
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TAIL_LINES = 20
STABLE_S = 30.0  # a run that lasted this long resets the backoff


@dataclass(frozen=True, slots=True)
class Exit:
    returncode: int | None
    stderr_tail: str
    ran_s: float
    requested: bool
    """True when the exit followed :meth:`FfmpegProcess.stop`."""


class FfmpegProcess:
    def __init__(
        self,
        command: Callable[[], list[str]],
        *,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
        on_exit: Callable[[Exit], None] | None = None,
        restart_min_s: float = 1.0,
        restart_max_s: float = 60.0,
        stop_grace_s: float = 10.0,
        name: str = "ffmpeg",
    ) -> None:
        self._command = command
        self._logger = logger
        self._on_exit = on_exit
        self._restart_min_s = restart_min_s
        self._restart_max_s = restart_max_s
        self._stop_grace_s = stop_grace_s
        self._name = name
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.restarts = 0
        self.last_error = ""
        self.started_at: float | None = None

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._supervise, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        """Stop gracefully and wait; return ffmpeg's exit code (None if it never ran)."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
        code = self._terminate(proc) if proc is not None else None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        return code

    # -- internals -------------------------------------------------------------------------

    def _terminate(self, proc: subprocess.Popen[bytes]) -> int | None:
        if proc.poll() is not None:
            return proc.returncode
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"q")
            proc.stdin.flush()
            proc.stdin.close()
        except (OSError, ValueError):
            pass  # stdin already closed: fall through to the signals
        for send, wait in ((None, self._stop_grace_s), (proc.terminate, 5.0), (proc.kill, 5.0)):
            if send is not None:
                self._logger.warning("%s did not stop in time; %s", self._name, send.__name__)
                send()
            try:
                return proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        return proc.poll()

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                args = self._command()
                with self._lock:
                    if self._stopping.is_set():
                        return
                    self._proc = subprocess.Popen(
                        args,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
            except (OSError, ValueError) as exc:
                self.last_error = f"cannot start ffmpeg: {exc}"
                self._logger.error("%s", self.last_error)
                exit_ = Exit(None, str(exc), 0.0, False)
            else:
                self.started_at = time.monotonic()
                self._logger.info("%s started (pid %d)", self._name, self._proc.pid)
                exit_ = self._watch(self._proc)
            if self._on_exit is not None:
                try:
                    self._on_exit(exit_)
                except Exception:  # the callback must not kill the supervisor
                    self._logger.exception("on_exit callback failed")
            if self._stopping.is_set():
                return
            failures = 1 if exit_.ran_s >= STABLE_S else failures + 1
            self.restarts += 1
            delay = min(self._restart_max_s, self._restart_min_s * 2 ** (failures - 1))
            self.last_error = (
                f"ffmpeg exited with {exit_.returncode}: {exit_.stderr_tail[-300:]}".strip()
            )
            self._logger.error("%s; restart in %.1f s", self.last_error, delay)
            self._stopping.wait(delay)

    def _watch(self, proc: subprocess.Popen[bytes]) -> Exit:
        started = time.monotonic()
        self._tail.clear()
        assert proc.stderr is not None
        for raw in proc.stderr:  # ends when ffmpeg exits
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._tail.append(line)
                self._logger.warning("%s: %s", self._name, line)
        returncode = proc.wait()
        ran = time.monotonic() - started
        requested = self._stopping.is_set()
        level = logging.INFO if requested else logging.ERROR
        self._logger.log(level, "%s exited with %s after %.1f s", self._name, returncode, ran)
        return Exit(returncode, "\n".join(self._tail), ran, requested)
