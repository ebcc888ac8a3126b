"""A circuit breaker per provider: stop hammering a provider that is down, and let the fallback carry traffic.

closed --(N consecutive failures: 5xx, timeouts, dropped connections)--> open
open --(after open_s)--> half-open: one probe request at a time goes to the primary
half-open --(probe succeeds)--> closed;  --(probe fails)--> open again (for open_s)

4xx answers are the caller's fault, not the provider's, and 429 is flow control, so neither counts.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    name: str
    failure_threshold: int = 5
    open_s: float = 5.0
    state: State = State.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False
    transitions: list[tuple[float, State]] = field(default_factory=list)

    def allow(self, now: float | None = None) -> bool:
        """May a request go to this provider now? In half-open only one probe is in flight at a time."""
        now = time.monotonic() if now is None else now
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            if now - self.opened_at < self.open_s:
                return False
            self._move(State.HALF_OPEN, now)
        if self.probing:
            return False
        self.probing = True
        return True

    def success(self, now: float | None = None) -> None:
        self.failures = 0
        self.probing = False
        if self.state is not State.CLOSED:
            self._move(State.CLOSED, time.monotonic() if now is None else now)

    def failure(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.probing = False
        self.failures += 1
        if self.state is State.HALF_OPEN or (self.state is State.CLOSED and self.failures >= self.failure_threshold):
            self.opened_at = now
            self._move(State.OPEN, now)

    def release(self) -> None:
        """A probe ended without telling anything about the provider's health (e.g. a 4xx or 429)."""
        self.probing = False

    def _move(self, state: State, now: float) -> None:
        self.state = state
        self.transitions.append((now, state))
