"""Per-user rate limits: a token bucket per key, in this process.

Each key (an openid, or a client address before login) may make ``burst``
requests at once and ``per_minute`` a minute on average; beyond that the
API answers 429 with ``Retry-After``. The buckets live in the process
(several replicas each allow the rate: the limit is per replica), which is
enough to stop a looping client or a script; the least recently used keys
are dropped beyond ``max_keys``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and burst")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, cost: float = 1.0) -> float | None:
        """Use ``cost`` from ``key``'s bucket: None if allowed, else the seconds
        to wait before it would be."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            self._trim()
            return None
        self._buckets[key] = (tokens, now)
        self._trim()
        return (cost - tokens) / self.rate

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))

    def _trim(self) -> None:
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
