"""One thread per agent for everything that runs on a timer (heartbeat, sweeps, supervision).

Each task is guarded: an exception is logged and the task runs again at its next time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.logs import Logger


@dataclass(slots=True)
class _Task:
    name: str
    interval_s: float
    fn: Callable[[], object]
    due: float


class Periodic:
    def __init__(self, logger: Logger, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._clock = clock
        self._tasks: list[_Task] = []

    def every(
        self, interval_s: float, fn: Callable[[], object], *, name: str, now: bool = False
    ) -> None:
        """Run ``fn`` every ``interval_s`` seconds (first time at once when ``now``)."""
        first = self._clock() + (0.0 if now else interval_s)
        self._tasks.append(_Task(name, interval_s, fn, first))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            now = self._clock()
            for task in self._tasks:
                if now >= task.due:
                    task.due = now + task.interval_s
                    try:
                        task.fn()
                    except Exception:
                        self._logger.exception("periodic task %s failed", task.name)
            next_due = min((t.due for t in self._tasks), default=now + 1.0)
            stop.wait(max(0.01, min(1.0, next_due - self._clock())))
