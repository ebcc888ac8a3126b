"""Token-bucket rate limits, as the real providers enforce them.

The publishing engine must back off on 429 and honour Retry-After; a stand-in that never throttles would let an
adapter that hammers the provider pass every test. A token bucket (steady rate plus a burst allowance) is how
most of the real APIs describe their limits, and it gives a precise Retry-After instead of a guess.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up; one request costs one token."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None and burst >= 1 else max(1.0, rate_per_s)
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    def take(self, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; never blocks, because a real provider does not wait."""
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def retry_after_s(self, cost: float = 1.0) -> int:
        """Whole seconds until ``cost`` tokens are back, at least 1, as an HTTP Retry-After header wants."""
        self._refill()
        missing = max(0.0, cost - self._tokens)
        return max(1, math.ceil(missing / self.rate_per_s))
