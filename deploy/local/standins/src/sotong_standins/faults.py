"""Injected misbehaviour: latency, 5xx outages, dropped connections and per-item failures.

Reliability tests need a provider that is slow, down for a while, or that does the work and then loses the
connection (the case that makes at-least-once delivery send twice unless keys are honoured). The plan is set at
run time through the control API, layered over the provider's base settings and reverting to them when its
``duration_s`` runs out, so a test can say "503 for two seconds" and then watch recovery without a second call.

Every random choice comes from a per-provider ``random.Random`` seeded from the run's seed and the provider's
name, with one stream per kind of decision, so a given seed and request order always fail the same requests.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

HTTP_FAILURE_STATUSES = frozenset({500, 502, 503, 504})


class FaultPlanError(ValueError):
    """A control request asked for something the stand-in cannot do; the message names the field."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """How a provider should misbehave; the defaults are a healthy, unthrottled provider."""

    fail_status: int = 503
    fail_rate: float = 0.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit_per_s: float | None = None
    burst: float | None = None
    retry_after_s: int | None = None
    drop_rate: float = 0.0
    item_fail_rate: float = 0.0

    def merged(self, changes: Mapping[str, Any]) -> FaultPlan:
        """This plan with the control request's fields applied, validated as a whole."""
        known = {f.name for f in fields(FaultPlan)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FaultPlanError(f"unknown fault field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            values[name] = _coerce(name, value)
        plan = replace(self, **values)
        plan.check()
        return plan

    def check(self) -> None:
        if self.fail_status not in HTTP_FAILURE_STATUSES:
            raise FaultPlanError(f"fail_status must be one of {sorted(HTTP_FAILURE_STATUSES)}")
        for name in ("fail_rate", "drop_rate", "item_fail_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise FaultPlanError(f"{name} must be between 0 and 1")
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise FaultPlanError("latency_ms and jitter_ms must not be negative")
        if self.rate_limit_per_s is not None and self.rate_limit_per_s <= 0:
            raise FaultPlanError("rate_limit_per_s must be positive, or null for no limit")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(name: str, value: Any) -> Any:
    if name in ("rate_limit_per_s", "burst", "retry_after_s") and (value is None or value == 0):
        return None
    if name in ("fail_status", "retry_after_s"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise FaultPlanError(f"{name} must be an integer")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultPlanError(f"{name} must be a number")
    return float(value)


class FaultInjector:
    """The live plan for one provider: base settings, a timed override, and seeded dice."""

    def __init__(
        self,
        provider: str,
        base: FaultPlan,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self._base = base
        self._clock = clock
        self._override: FaultPlan | None = None
        self._override_until: float | None = None
        self._version = 0
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the dice; with a seed, the same request order meets the same faults every run."""
        self.seed = seed

        def stream(purpose: str) -> random.Random:
            return random.Random(None if seed is None else f"{seed}:{self._provider}:{purpose}")

        self._fail_dice = stream("fail")
        self._drop_dice = stream("drop")
        self._item_dice = stream("item")
        self._jitter_dice = stream("jitter")

    @property
    def version(self) -> int:
        """Changes whenever the effective plan may have changed, so a rate limiter knows to rebuild."""
        self.current()
        return self._version

    def current(self) -> FaultPlan:
        if self._override is not None:
            if self._override_until is None or self._clock() < self._override_until:
                return self._override
            self._override = None
            self._override_until = None
            self._version += 1
        return self._base

    def seconds_left(self) -> float | None:
        """How long the override still runs, or None when it runs until reset (or there is none)."""
        self.current()
        if self._override_until is None:
            return None
        return max(0.0, self._override_until - self._clock())

    def apply(self, changes: Mapping[str, Any]) -> FaultPlan:
        """Layer a control request over the current plan; ``duration_s`` bounds the whole override."""
        changes = dict(changes)
        duration = changes.pop("duration_s", None)
        seed = changes.pop("seed", None)
        plan = self.current().merged(changes)
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0
        ):
            raise FaultPlanError("duration_s must be a positive number")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise FaultPlanError("seed must be an integer")
            self.reseed(seed)
        self._override = plan
        self._override_until = None if duration is None else self._clock() + float(duration)
        self._version += 1
        return plan

    def reset(self, seed: int | None) -> None:
        self._override = None
        self._override_until = None
        self._version += 1
        self.reseed(seed)

    def delay_s(self, plan: FaultPlan) -> float:
        if plan.latency_ms <= 0 and plan.jitter_ms <= 0:
            return 0.0
        jitter = self._jitter_dice.random() * plan.jitter_ms if plan.jitter_ms > 0 else 0.0
        return (plan.latency_ms + jitter) / 1000.0

    def should_fail(self, plan: FaultPlan) -> bool:
        return plan.fail_rate > 0 and self._fail_dice.random() < plan.fail_rate

    def should_drop(self, plan: FaultPlan) -> bool:
        return plan.drop_rate > 0 and self._drop_dice.random() < plan.drop_rate

    def item_dice(self) -> Callable[[], float]:
        """The per-item stream, handed out as a bound method so a batch loop pays no attribute lookups."""
        return self._item_dice.random
