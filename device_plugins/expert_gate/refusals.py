"""Repeated refusals of one credential in a sliding window: someone trying the gate again and
again (a wrong card, an expert at the wrong gate, or someone who should not be there)."""

from __future__ import annotations

from collections import deque


class RefusalWatch:
    def __init__(self, threshold: int, window_s: float) -> None:
        self.threshold, self.window_s = threshold, window_s
        self._seen: dict[str, deque[float]] = {}

    def record(self, credential: str, now: float) -> int:
        """Count a refusal of ``credential`` at ``now`` (monotonic); return the count in the
        window, this one included."""
        times = self._seen.setdefault(credential, deque())
        times.append(now)
        self._trim(times, now)
        return len(times)

    def clear(self, credential: str) -> None:
        """An admission ends the streak."""
        self._seen.pop(credential, None)

    def alerting(self, now: float) -> list[str]:
        """Credentials at or above the threshold within the window (forgets stale ones)."""
        hot = []
        for credential, times in list(self._seen.items()):
            self._trim(times, now)
            if not times:
                del self._seen[credential]
            elif len(times) >= self.threshold:
                hot.append(credential)
        return hot

    def _trim(self, times: deque[float], now: float) -> None:
        while times and now - times[0] > self.window_s:
            times.popleft()
