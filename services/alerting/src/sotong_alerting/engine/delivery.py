"""Delivering one batch of targets through a channel's route: rate limit, retry, breaker, fallback.

A `Route` is a channel's primary provider and optional fallback, each guarded by its own circuit breaker and
token bucket. `Route.deliver` keeps a batch going until every target is delivered, refused for good, or out
of attempts:
- a health failure (5xx, timeout, dropped connection) counts against that provider's breaker and the next
  attempt prefers the other provider at once (fail over without waiting), else waits a jittered backoff;
- a 429 holds the provider's bucket for Retry-After and counts nothing against its health;
- a permanent refusal fails the batch's remaining targets (a receipt says why);
- targets still pending after `max_attempts` come back as dead, for the dead-letter topic.
Every attempt of a target carries the same idempotency key, whichever provider takes it.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from dataclasses import dataclass
from typing import NamedTuple

from sotong_alerting.engine.breaker import CircuitBreaker, State
from sotong_alerting.engine.providers.base import ItemStatus, Job, PermanentError, Provider, TransientError
from sotong_alerting.engine.ratelimit import TokenBucket
from sotong_alerting.engine.retry import Backoff
from sotong_common import logs


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"


class TargetOutcome(NamedTuple):
    """How one target ended; a tuple for the same reason as `ItemResult`."""

    target: str
    outcome: Outcome
    provider: str
    attempts: int
    error: str = ""


@dataclass
class Guarded:
    provider: Provider
    breaker: CircuitBreaker
    bucket: TokenBucket


class Route:
    def __init__(
        self,
        primary: Provider,
        fallback: Provider | None,
        backoff: Backoff,
        breaker_failures: int = 5,
        breaker_open_s: float = 5.0,
        rate_per_s: float | None = None,
    ) -> None:
        self.kind = primary.kind
        self.backoff = backoff
        self.guarded = [
            Guarded(p, CircuitBreaker(p.name, breaker_failures, breaker_open_s), TokenBucket(rate_per_s))
            for p in (primary, fallback)
            if p is not None
        ]
        self.max_batch = primary.max_batch
        self._log = logs.get("alerting.dispatch")
        self._rng = random.Random()

    @property
    def primary(self) -> Provider:
        return self.guarded[0].provider

    async def close(self) -> None:
        for g in self.guarded:
            await g.provider.close()

    def _choose(self, avoid: Guarded | None) -> Guarded | None:
        """The provider for the next attempt: the primary unless its breaker is open (or it just failed and the
        fallback can take it); None when every breaker refuses for now."""
        candidates = [g for g in self.guarded if g is not avoid] + ([avoid] if avoid is not None else [])
        for g in candidates:
            if g.breaker.allow():
                return g
        return None

    async def deliver(self, job: Job, targets: list[str]) -> list[TargetOutcome]:
        pending = list(targets)
        done: list[TargetOutcome] = []
        attempts = 0
        failures = 0
        avoid: Guarded | None = None
        last_error = ""
        last_provider = self.primary.name
        while pending:
            chosen = self._choose(avoid)
            if chosen is None:
                await asyncio.sleep(min(0.5, self._open_wait()))
                continue
            attempts += 1
            last_provider = chosen.provider.name
            await chosen.bucket.take()
            try:
                results = await chosen.provider.send(job, pending)
            except TransientError as exc:
                last_error = str(exc)
                if exc.health:
                    chosen.breaker.failure()
                    failures += 1
                else:
                    chosen.breaker.release()
                    chosen.bucket.hold(exc.retry_after_s if exc.retry_after_s is not None else 1.0)
                if self.backoff.exhausted(attempts):
                    break
                other_available = exc.health and any(
                    g is not chosen and g.breaker.state is not State.OPEN for g in self.guarded
                )
                avoid = chosen if exc.health else None
                if not other_available:
                    retry_after = exc.retry_after_s if exc.health else None
                    delay = self.backoff.delay(failures or attempts, _cap(retry_after, self.backoff.cap_s), self._rng)
                    self._log.info(
                        "delivery retry", provider=chosen.provider.name, attempt=attempts, delay_s=round(delay, 3)
                    )
                    await asyncio.sleep(delay)
                continue
            except PermanentError as exc:
                chosen.breaker.release()
                done.extend(TargetOutcome(t, Outcome.FAILED, chosen.provider.name, attempts, str(exc)) for t in pending)
                return done
            chosen.breaker.success()
            avoid = None
            retry: list[str] = []
            name = chosen.provider.name
            if all(item.status is ItemStatus.DELIVERED for item in results):
                done.extend([TargetOutcome(item.target, Outcome.DELIVERED, name, attempts) for item in results])
                return done
            for item in results:
                if item.status is ItemStatus.DELIVERED:
                    done.append(TargetOutcome(item.target, Outcome.DELIVERED, chosen.provider.name, attempts))
                elif item.status is ItemStatus.FAILED:
                    done.append(TargetOutcome(item.target, Outcome.FAILED, chosen.provider.name, attempts, item.error))
                else:
                    retry.append(item.target)
                    last_error = item.error
            pending = retry
            if pending:
                if self.backoff.exhausted(attempts):
                    break
                await asyncio.sleep(self.backoff.delay(attempts, None, self._rng))
        done.extend(TargetOutcome(t, Outcome.DEAD, last_provider, attempts, last_error) for t in pending)
        return done

    def _open_wait(self) -> float:
        now = time.monotonic()
        waits = [max(0.0, g.breaker.open_s - (now - g.breaker.opened_at)) for g in self.guarded]
        return max(0.01, min(waits))

    def breaker_states(self) -> dict[str, str]:
        return {g.provider.name: g.breaker.state.value for g in self.guarded}


def _cap(retry_after: float | None, cap: float) -> float | None:
    """A Retry-After longer than our backoff cap is honoured only up to the cap: the breaker handles long outages."""
    return None if retry_after is None else min(retry_after, cap)
