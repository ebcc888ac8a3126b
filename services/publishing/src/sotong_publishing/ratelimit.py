"""A token bucket per provider, shared by every delivery to it, that also obeys the provider's 429 Retry-After.

The bucket keeps us under the rate we agreed with the provider; when the provider still says "slow down",
`hold` stops every caller (not just the one that got the 429) until the provider's Retry-After has passed.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """`rate_per_s` tokens a second up to `burst`; `rate_per_s` None means no limit of our own."""

    def __init__(self, rate_per_s: float | None, burst: float | None = None) -> None:
        self.rate = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s or 1.0)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._held_until = 0.0
        self._lock = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        """The provider answered 429 (or 503 with Retry-After): nobody calls it before `seconds` from now."""
        self._held_until = max(self._held_until, time.monotonic() + seconds)

    def wait_time(self, cost: float = 1.0, now: float | None = None) -> float:
        """Seconds until `cost` tokens are available (0 = now), without taking them."""
        now = time.monotonic() if now is None else now
        held = max(0.0, self._held_until - now)
        if self.rate is None:
            return held
        tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        short = max(0.0, min(cost, self.capacity) - tokens)
        return max(held, short / self.rate)

    def try_take(self, cost: float = 1.0, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self._held_until:
            return False
        if self.rate is None:
            return True
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        cost = min(cost, self.capacity)
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    async def take(self, cost: float = 1.0) -> None:
        """Wait until `cost` tokens (requests) may be spent, then spend them."""
        async with self._lock:
            while not self.try_take(cost):
                await asyncio.sleep(max(0.001, self.wait_time(cost)))
