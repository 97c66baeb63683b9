"""Failed logins per client address: a guesser spraying many usernames from one address.

The account lockout (:mod:`collector.auth.login`) stops guessing one account; it does nothing
against one password tried on every username, and each try of an unknown username still costs
a full argon2 verification, so a loop of bad logins can also keep the collector's cores busy.
This keeps, per address, the times of its failed logins within ``ip_window_minutes``; at
``ip_max_failures`` the address gets HTTP 429 until the oldest failure leaves the window,
without a password check.

Successful logins do not clear an address: a guesser could interleave its own account. The
limit is generous because a trading centre's staff often share one NAT address. The counts
live in the collector process (one configured instance in the runtime) and start empty on a
restart, which costs a guesser no more than one window.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from collector.auth.errors import AuthError
from collector.auth.policy import AuthPolicy

MAX_ADDRESSES = 10_000  # addresses tracked at once; the least recently failing are dropped


class TooManyAttempts(AuthError):
    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"登录失败次数过多，请于 {retry_after_s} 秒后重试")


class LoginThrottle:
    def __init__(self, policy: AuthPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = policy.ip_max_failures
        self._window = policy.ip_window_minutes * 60
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, ip: str) -> None:
        """Raise :class:`TooManyAttempts` while ``ip`` is over its limit."""
        if not ip:
            return
        with self._lock:
            now = self._clock()
            times = self._recent(ip, now)
            if times is None or len(times) < self._limit:
                return
            wait = times[0] + self._window - now
        raise TooManyAttempts(max(1, int(wait + 0.999)))

    def failed(self, ip: str) -> None:
        if not ip:
            return
        with self._lock:
            now = self._clock()
            times = self._recent(ip, now)
            if times is None:
                times = self._failures[ip] = deque()
                if len(self._failures) > MAX_ADDRESSES:
                    self._failures.popitem(last=False)
            self._failures.move_to_end(ip)
            times.append(now)
            while len(times) > self._limit:
                times.popleft()

    def _recent(self, ip: str, now: float) -> deque[float] | None:
        """The failures of ``ip`` still in the window (None when there are none)."""
        times = self._failures.get(ip)
        if times is None:
            return None
        horizon = now - self._window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[ip]
            return None
        return times
