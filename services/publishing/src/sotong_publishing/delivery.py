"""Delivering one batch of targets through a channel's route: rate limit, retry, breaker, fallback.

A `Route` is a channel's primary provider and optional fallback, each guarded by its own circuit breaker and
token bucket. `Route.deliver` keeps a batch going until every target is delivered, refused for good, or out
of attempts:
- a health failure that certainly delivered nothing (5xx, connection refused) counts against that provider's
  breaker and the next attempt prefers the other provider at once (fail over without waiting);
- an ambiguous failure (a timeout, a connection lost after sending: the provider may have delivered) also counts
  against the breaker, but the next attempt goes to the same provider after a backoff, with the same key, so
  its idempotency record answers instead of a second message. Only once its breaker opens does the fallback
  take over; targets it then delivers are marked `possibly_duplicated` (counted in
  `sotong_publishing_possible_duplicates_total` and flagged on the receipt), never silently;
- an answer no adapter foresaw (an unexpected exception from the adapter) is treated as ambiguous too;
- a 429 holds the provider's bucket for Retry-After (at most `max_hold_s`: a provider that asks for hours must not
  stall a channel in a disaster; the next 429 holds it again) and counts nothing against its health;
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

from prometheus_client import Counter

from sotong_common import logs
from sotong_publishing.breaker import CircuitBreaker, State
from sotong_publishing.providers.base import (
    ItemResult,
    ItemStatus,
    Job,
    PermanentError,
    Provider,
    TransientError,
    UnexpectedAnswer,
)
from sotong_publishing.ratelimit import TokenBucket
from sotong_publishing.retry import Backoff

POSSIBLE_DUPLICATES = Counter(
    "sotong_publishing_possible_duplicates_total",
    "targets a fallback delivered after another provider failed ambiguously (may have been delivered twice)",
    ["channel"],
)


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
    possibly_duplicated: bool = False


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
        max_hold_s: float = 60.0,
    ) -> None:
        self.kind = primary.kind
        self.backoff = backoff
        self.max_hold_s = max_hold_s
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
        unsure: set[str] = set()  # providers that may have delivered this batch already (ambiguous failures)
        while pending:
            chosen = self._choose(avoid)
            if chosen is None:
                await asyncio.sleep(min(0.5, self._open_wait()))
                continue
            attempts += 1
            last_provider = chosen.provider.name
            await chosen.bucket.take()
            try:
                results = await self._send(chosen.provider, job, pending)
            except TransientError as exc:
                last_error = str(exc)
                if exc.health:
                    chosen.breaker.failure()
                    failures += 1
                else:
                    chosen.breaker.release()
                    asked = exc.retry_after_s if exc.retry_after_s is not None else 1.0
                    chosen.bucket.hold(min(asked, self.max_hold_s))
                if exc.ambiguous:
                    unsure.add(chosen.provider.name)
                if self.backoff.exhausted(attempts):
                    break
                definite = exc.health and not exc.ambiguous
                other_available = definite and any(
                    g is not chosen and g.breaker.state is not State.OPEN for g in self.guarded
                )
                avoid = chosen if definite else None
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
            doubt = bool(unsure - {name})
            if doubt:
                POSSIBLE_DUPLICATES.labels(self.kind).inc(sum(1 for i in results if i.status is ItemStatus.DELIVERED))
                self._log.warning("fallback delivered after an ambiguous failure of another provider",
                                  provider=name, unsure=sorted(unsure), targets=len(results))  # fmt: skip
            if not doubt and all(item.status is ItemStatus.DELIVERED for item in results):
                done.extend([TargetOutcome(item.target, Outcome.DELIVERED, name, attempts) for item in results])
                return done
            for item in results:
                if item.status is ItemStatus.DELIVERED:
                    done.append(TargetOutcome(item.target, Outcome.DELIVERED, name, attempts, "", doubt))
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

    async def _send(self, provider: Provider, job: Job, targets: list[str]) -> list[ItemResult]:
        """The adapter's answer; an exception it did not classify is an unexpected answer (see the module doc),
        and an answer that does not account for every target asks again for the ones it left out."""
        try:
            results = await provider.send(job, targets)
        except (TransientError, PermanentError):
            raise
        except Exception as exc:
            self._log.warning("adapter failed unexpectedly", provider=provider.name, error=repr(exc), exc_info=exc)
            raise UnexpectedAnswer(f"{provider.name}: unexpected {type(exc).__name__}: {exc}"[:500]) from None
        answered = {item.target for item in results}
        missing = [t for t in targets if t not in answered]
        if missing or len(results) != len(targets):
            results = [item for item in results if item.target in set(targets)]
            results += [ItemResult(t, ItemStatus.RETRY, "the provider's answer left this target out") for t in missing]
        return results

    def _open_wait(self) -> float:
        now = time.monotonic()
        waits = [max(0.0, g.breaker.open_s - (now - g.breaker.opened_at)) for g in self.guarded]
        return max(0.01, min(waits))

    def breaker_states(self) -> dict[str, str]:
        return {g.provider.name: g.breaker.state.value for g in self.guarded}


def _cap(retry_after: float | None, cap: float) -> float | None:
    """A Retry-After longer than our backoff cap is honoured only up to the cap: the breaker handles long outages."""
    return None if retry_after is None else min(retry_after, cap)
