"""The front desk every provider stand-in shares: auth, rate limit, injected faults, ledger and counters.

Each provider differs only in its URL shapes, validation and error bodies. What a reliability test relies on —
401 without the token, 429 with Retry-After, a timed 503 outage, a dropped connection after the work was done,
and one idempotency record — is the same everywhere, so it lives here once and each provider passes its requests
through its own ``ProviderDesk``. The desk renders rejections with the provider's own error renderer so a 429
from the SNS stand-in still looks like the SNS API's error body.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from .faults import FaultInjector, FaultPlan
from .ledger import Ledger
from .ratelimit import TokenBucket

IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was turned away before the provider looked at it; HTTP status terms for every protocol."""

    status: int
    code: str
    message: str
    retry_after_s: int | None = None


class ErrorRenderer(Protocol):
    """Builds the provider's own error body for a status, a machine code and a human message."""

    def __call__(self, status: int, code: str, message: str) -> web.Response: ...


class ProviderDesk:
    """Shared per-provider state and the admission path each request takes before the provider's handler."""

    def __init__(
        self,
        name: str,
        render_error: ErrorRenderer,
        *,
        token: str | None,
        base_plan: FaultPlan,
        seed: int | None,
        keep_recent: int,
        allow_unkeyed: bool,
    ) -> None:
        self.name = name
        self.render_error = render_error
        self.token = token
        self._expected_auth = None if token is None else f"Bearer {token}"
        self.seed = seed
        self.allow_unkeyed = allow_unkeyed
        self.ledger = Ledger(keep_recent)
        self.faults = FaultInjector(name, base_plan, seed)
        self._bucket: TokenBucket | None = None
        self._bucket_version = -1
        self.extra_stats: Callable[[], Mapping[str, Any]] | None = None
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.requests = 0
        self.rejected: Counter[int] = Counter()
        self.item_failures: Counter[str] = Counter()
        self.dropped = 0

    def reset(self) -> None:
        """Forget deliveries, counters and injected faults; the base settings stay."""
        self.ledger.reset()
        self.faults.reset(self.seed)
        self._bucket = None
        self._bucket_version = -1
        self._reset_counters()

    def _current_bucket(self, plan: FaultPlan) -> TokenBucket | None:
        version = self.faults.version
        if version != self._bucket_version:
            self._bucket_version = version
            rate = plan.rate_limit_per_s
            self._bucket = None if rate is None else TokenBucket(rate, plan.burst)
        return self._bucket

    def reject(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
        """Count a refusal by status and answer in the provider's own error shape."""
        self.rejected[status] += 1
        response = self.render_error(status, code, message)
        if headers:
            response.headers.update(headers)
        return response

    async def screen(self, authorized: bool) -> Refusal | None:
        """Run auth, rate limit, latency and outage checks for any protocol; a refusal means stop here."""
        self.requests += 1
        if not authorized:
            return Refusal(401, "unauthorized", "missing or invalid bearer token")
        plan = self.faults.current()
        bucket = self._current_bucket(plan)
        if bucket is not None and not bucket.take():
            return Refusal(
                429,
                "rate_limited",
                f"rate limit of {bucket.rate_per_s:g} requests/s exceeded",
                bucket.retry_after_s(),
            )
        delay = self.faults.delay_s(plan)
        if delay > 0:
            await asyncio.sleep(delay)
        if self.faults.should_fail(plan):
            retry_after = plan.retry_after_s
            if retry_after is None:
                seconds_left = self.faults.seconds_left()
                if seconds_left is not None:
                    retry_after = max(1, round(seconds_left))
            return Refusal(plan.fail_status, "injected_failure", "injected provider failure", retry_after)
        return None

    async def admit(self, request: web.Request) -> web.Response | None:
        """``screen`` for an HTTP request, answering a refusal in the provider's own error shape."""
        authorized = self._expected_auth is None or request.headers.get("Authorization") == self._expected_auth
        refusal = await self.screen(authorized)
        if refusal is None:
            return None
        headers: dict[str, str] = {}
        if refusal.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="sotong-standins"'
        if refusal.retry_after_s is not None:
            headers["Retry-After"] = str(refusal.retry_after_s)
        return self.reject(refusal.status, refusal.code, refusal.message, headers)

    def idempotency_key(self, request: web.Request) -> str | None:
        """The request's key, a never-repeating one when unkeyed requests are allowed, else None."""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key:
            return key
        if self.allow_unkeyed:
            return self.ledger.next_unkeyed_key()
        return None

    def missing_key(self) -> web.Response:
        return self.reject(
            400, "missing_idempotency_key", f"the {IDEMPOTENCY_HEADER} header is required by the stand-in"
        )

    def key_conflict(self, key: str) -> web.Response:
        """A key reused for a different target or text: refuse like Stripe-style APIs do (422)."""
        return self.reject(
            422,
            "idempotency_key_reused",
            f"idempotency key {key!r} was already used for a different delivery",
        )

    def should_drop(self) -> bool:
        """Decide once, after the work is recorded, whether to lose the connection instead of answering."""
        if self.faults.should_drop(self.faults.current()):
            self.dropped += 1
            return True
        return False

    def stats(self) -> dict[str, Any]:
        ledger = self.ledger
        plan = self.faults.current()
        stats: dict[str, Any] = {
            "requests": self.requests,
            "accepted": ledger.accepted,
            "unique_keys": ledger.unique_keys,
            "duplicates": ledger.duplicates,
            "key_conflicts": ledger.conflicts,
            "repeated_targets": ledger.repeated_targets,
            "rejected": {str(status): count for status, count in sorted(self.rejected.items())},
            "item_failures": dict(self.item_failures),
            "dropped": self.dropped,
            "faults": plan.as_json() | {"seconds_left": self.faults.seconds_left(), "seed": self.faults.seed},
        }
        if self.extra_stats is not None:
            stats["extra"] = dict(self.extra_stats())
        return stats
