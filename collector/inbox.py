"""The bounded queue between the MQTT link and the ingest worker, moved in batches.

``queue.Queue`` takes its lock (and may wake the other thread) once per message; at tens of
thousands of messages a second that contention costs more than the messages. Here the link
adds a whole frame of messages at once and the worker takes a whole batch at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


# A gap this long with no new message ends batch filling.
QUIET_S = 0.002


class Inbox(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    def qsize(self) -> int:
        return len(self._items)

    def put(self, item: T, timeout: float | None = None) -> bool:
        return self.put_many((item,), timeout)

    def put_many(self, items: Iterable[T], timeout: float | None = None) -> bool:
        """Add items, waiting while the inbox is full; False if ``timeout`` passed first.

        A batch is added whole once there is room, so the inbox may exceed ``maxsize`` by
        one batch.
        """
        with self._not_full:
            if len(self._items) >= self.maxsize and not self._not_full.wait_for(
                lambda: len(self._items) < self.maxsize, timeout
            ):
                return False
            was_empty = not self._items
            self._items.extend(items)
            if was_empty and self._items:
                self._not_empty.notify()
            return True

    def get_batch(self, max_items: int, timeout: float, fill_wait: float) -> list[T]:
        """Up to ``max_items``: waits up to ``timeout`` for the first, then lets the batch
        fill while messages keep arriving, for at most ``fill_wait`` (polling, so producers
        never wake us). A quiet inbox ends the wait at once: low latency when traffic is
        light, large batches under load."""
        with self._not_empty:
            if not self._items and not self._not_empty.wait_for(lambda: self._items, timeout):
                return []
        deadline = time.monotonic() + fill_wait
        seen = len(self._items)
        while seen < max_items:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, QUIET_S))
            now = len(self._items)
            if now == seen:
                break  # nothing arrived during a quiet interval: commit what we have
            seen = now
        with self._lock:
            n = min(max_items, len(self._items))
            popleft = self._items.popleft
            batch = [popleft() for _ in range(n)]
            if len(self._items) < self.maxsize:
                self._not_full.notify_all()
        return batch
