"""Token buckets per key (a client address, a citizen): who may call now, and when the others may try again.

A bucket holds up to `burst` tokens and gains `rate` tokens a second; a call takes one. An empty bucket answers
with the time until the next token, which the gateway sends back as retry information (RetryInfo, Retry-After).
Buckets live in this replica's memory: with N replicas behind a load balancer a caller gets up to N times the
rate, which is the price of keeping the edge free of a shared store on every call (README, "Rate limits").
A bucket that refilled to `burst` is indistinguishable from a new one, so idle buckets are dropped; the number
kept is bounded, so a flood of distinct keys costs bounded memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Refusal:
    """A call over the limit: which limit, and how long until the bucket holds a token again."""

    limit: str
    retry_after_s: float


class Buckets:
    """Token buckets of one limit (`name`), keyed by caller."""

    def __init__(
        self,
        name: str,
        rate: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.name = name
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._clock = clock
        # key -> (tokens, when they were counted); least recently used first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> Refusal | None:
        """Take a token for `key`: None when the call may go on, else the refusal with its retry time."""
        now = self._clock()
        found = self._buckets.get(key)
        if found is None:
            tokens = float(self.burst)
        else:
            tokens = min(float(self.burst), found[0] + (now - found[1]) * self.rate)
            self._buckets.move_to_end(key)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return Refusal(self.name, (1.0 - tokens) / self.rate)
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self._max_keys:
            self._forget_idle(now)
        return None

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that refilled; if too many are busy, the least recently used ones, down to 90 % of the
        bound so that a flood of new keys does not scan every bucket on every call."""
        full_after = self.burst / self.rate
        for key, (_, counted) in list(self._buckets.items()):
            if now - counted >= full_after:
                del self._buckets[key]
        while len(self._buckets) > self._max_keys * 0.9:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
