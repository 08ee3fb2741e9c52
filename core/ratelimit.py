"""Token buckets for records-per-second and bandwidth limits, shared by the tasks of one job.

One ``RateLimiter`` per job and per unit (records or bytes): every task draws from it, so the
limit holds for the whole job however many tasks run. A bucket holds at most one second of
tokens and starts empty, so a pause never turns into a burst above the limit. A draw larger than the bucket goes
into debt and the next caller waits it out, so huge batches are throttled too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter", "Throttle"]


class RateLimiter:
    """Blocks callers so that at most ``rate`` units pass per second (0: no limit)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        cancelled: threading.Event | None = None,
    ) -> None:
        self.rate = float(rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = 0.0  # start empty: n units take n / rate seconds from the first one
        self._last = clock()
        self._cancelled = cancelled

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, n: float) -> None:
        """Take ``n`` units, sleeping until they are available (returns early if cancelled)."""
        if self.rate <= 0 or n <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            if self._cancelled is not None:
                self._cancelled.wait(wait)
            else:
                time.sleep(wait)


class Throttle:
    """A records limiter and a bytes limiter used together (either may be off)."""

    def __init__(self, records_per_second: float, bytes_per_second: float,
                 cancelled: threading.Event | None = None) -> None:
        self.records = RateLimiter(records_per_second, cancelled=cancelled)
        self.bytes = RateLimiter(bytes_per_second, cancelled=cancelled)

    @property
    def enabled(self) -> bool:
        return self.records.enabled or self.bytes.enabled

    def acquire(self, records: int, nbytes: int) -> None:
        self.records.acquire(records)
        self.bytes.acquire(nbytes)
