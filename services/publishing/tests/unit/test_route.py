"""Route.deliver against scripted providers: failover, Retry-After, permanent refusals, per-item retries,
dead targets. No network: the providers here answer what each case needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_publishing.delivery import Outcome, Route
from sotong_publishing.providers.base import ItemResult, ItemStatus, Job, PermanentError, TransientError
from sotong_publishing.retry import Backoff

Script = Callable[[list[str]], list[ItemResult]]


class Scripted:
    kind = "sms"
    max_batch = 100

    def __init__(self, name: str, script: Script) -> None:
        self.name = name
        self.script = script
        self.calls: list[list[str]] = []
        self.at: list[float] = []

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        self.calls.append(list(targets))
        self.at.append(time.monotonic())
        return self.script(targets)

    async def close(self) -> None:
        return None


def ok(targets: list[str]) -> list[ItemResult]:
    return [ItemResult(t, ItemStatus.DELIVERED) for t in targets]


def down(_: list[str]) -> list[ItemResult]:
    raise TransientError("HTTP 503", retry_after_s=30)


JOB = Job(pb.DispatchRequested(dispatch_id="d-1", channel=pb.CHANNEL_SMS))
FAST = Backoff(base_s=0.001, cap_s=0.01, max_attempts=4)


async def test_a_failing_primary_fails_over_at_once_and_the_breaker_keeps_traffic_on_the_fallback() -> None:
    primary, fallback = Scripted("p", down), Scripted("f", ok)
    route = Route(primary, fallback, FAST, breaker_failures=2, breaker_open_s=60)
    started = time.monotonic()
    for n in range(5):
        outcomes = await route.deliver(JOB, [f"t{n}"])
        assert [(o.outcome, o.provider) for o in outcomes] == [(Outcome.DELIVERED, "f")]
    assert time.monotonic() - started < 1.0, "fail-over does not wait out the primary's Retry-After"
    assert len(primary.calls) == 2  # then the circuit is open and the primary is left alone
    assert route.breaker_states() == {"p": "open", "f": "closed"}


async def test_without_a_fallback_retries_back_off_and_then_the_targets_are_dead() -> None:
    primary = Scripted("p", down)
    route = Route(primary, None, FAST, breaker_failures=100)
    outcomes = await route.deliver(JOB, ["a", "b"])
    assert {(o.target, o.outcome, o.attempts) for o in outcomes} == {("a", Outcome.DEAD, 4), ("b", Outcome.DEAD, 4)}
    assert "503" in outcomes[0].error and len(primary.calls) == 4


async def test_429_holds_the_provider_for_retry_after_without_counting_against_its_health() -> None:
    answers = iter([TransientError("HTTP 429", retry_after_s=0.3, health=False)])

    def limited(targets: list[str]) -> list[ItemResult]:
        error = next(answers, None)
        if error is not None:
            raise error
        return ok(targets)

    primary, fallback = Scripted("p", limited), Scripted("f", ok)
    route = Route(primary, fallback, FAST, breaker_failures=1)
    outcomes = await route.deliver(JOB, ["a"])
    assert outcomes[0].provider == "p" and outcomes[0].attempts == 2
    assert primary.at[1] - primary.at[0] >= 0.29  # waited for Retry-After instead of hammering
    assert route.breaker_states()["p"] == "closed" and not fallback.calls


async def test_a_retry_after_of_hours_holds_the_provider_no_longer_than_max_hold() -> None:
    """A provider that asks for 10^9 s once must not stall the channel for 31 years (CI hung on exactly this)."""
    answers = iter([TransientError("HTTP 429", retry_after_s=1e9, health=False)])

    def limited(targets: list[str]) -> list[ItemResult]:
        error = next(answers, None)
        if error is not None:
            raise error
        return ok(targets)

    primary = Scripted("p", limited)
    route = Route(primary, None, FAST, max_hold_s=0.2)
    outcomes = await asyncio.wait_for(route.deliver(JOB, ["a"]), timeout=5)
    assert [(o.outcome, o.attempts) for o in outcomes] == [(Outcome.DELIVERED, 2)]
    assert 0.19 <= primary.at[1] - primary.at[0] < 2.0


async def test_permanent_refusal_fails_the_batch_without_retrying() -> None:
    def refuse(_: list[str]) -> list[ItemResult]:
        raise PermanentError("HTTP 400: content has emoji")

    primary = Scripted("p", refuse)
    outcomes = await Route(primary, None, FAST).deliver(JOB, ["a", "b"])
    assert {o.outcome for o in outcomes} == {Outcome.FAILED} and len(primary.calls) == 1
    assert "emoji" in outcomes[0].error


async def test_only_the_items_that_failed_transiently_are_sent_again() -> None:
    first = True

    def partial(targets: list[str]) -> list[ItemResult]:
        nonlocal first
        if first:
            first = False
            return [
                ItemResult("a", ItemStatus.DELIVERED),
                ItemResult("b", ItemStatus.RETRY, "UNAVAILABLE"),
                ItemResult("c", ItemStatus.FAILED, "UNREGISTERED"),
            ]
        return ok(targets)

    primary = Scripted("p", partial)
    outcomes = await Route(primary, None, FAST).deliver(JOB, ["a", "b", "c"])
    assert primary.calls == [["a", "b", "c"], ["b"]]
    assert {o.target: o.outcome for o in outcomes} == {
        "a": Outcome.DELIVERED,
        "b": Outcome.DELIVERED,
        "c": Outcome.FAILED,
    }


async def test_both_providers_down_dead_letters_after_max_attempts() -> None:
    primary, fallback = Scripted("p", down), Scripted("f", down)
    route = Route(primary, fallback, FAST, breaker_failures=50)
    outcomes = await route.deliver(JOB, ["a"])
    assert outcomes[0].outcome is Outcome.DEAD and outcomes[0].attempts == 4
    assert primary.calls and fallback.calls
