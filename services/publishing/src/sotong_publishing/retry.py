"""Exponential backoff with full jitter, so that many deliveries failing together do not retry in lockstep."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1 after n failures: uniform in [0, min(cap, base * 2**(n-1))] (AWS "full jitter").

    A provider's Retry-After is a floor: retrying earlier only earns another 429 or 503.
    """

    base_s: float = 0.1
    cap_s: float = 5.0
    max_attempts: int = 8

    def delay(self, failures: int, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, failures - 1))
        jittered = (rng or _RNG).uniform(0, ceiling)
        if retry_after_s is not None:
            return max(jittered, retry_after_s)
        return jittered

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


_RNG = random.Random()
