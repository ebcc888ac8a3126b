from __future__ import annotations

import pytest

from sotong_gateway.ratelimit import Buckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_with_the_time_to_wait() -> None:
    clock = Clock()
    buckets = Buckets("citizen", rate=2.0, burst=3, clock=clock)
    assert [buckets.take("kim") for _ in range(3)] == [None, None, None]
    refusal = buckets.take("kim")
    assert refusal is not None and refusal.limit == "citizen"
    assert refusal.retry_after_s == pytest.approx(0.5)
    clock.now += 0.25
    later = buckets.take("kim")
    assert later is not None and later.retry_after_s == pytest.approx(0.25)
    clock.now += 0.25
    assert buckets.take("kim") is None


def test_callers_have_their_own_buckets() -> None:
    buckets = Buckets("citizen", rate=1.0, burst=1, clock=Clock())
    assert buckets.take("kim") is None
    assert buckets.take("kim") is not None
    assert buckets.take("lee") is None


def test_a_refused_call_does_not_dig_the_bucket_deeper() -> None:
    clock = Clock()
    buckets = Buckets("client", rate=1.0, burst=1, clock=clock)
    buckets.take("a")
    for _ in range(100):
        assert buckets.take("a") is not None
    clock.now += 1.0
    assert buckets.take("a") is None


def test_memory_stays_bounded_under_a_flood_of_keys() -> None:
    clock = Clock()
    buckets = Buckets("client", rate=1.0, burst=5, max_keys=100, clock=clock)
    for i in range(10_000):
        buckets.take(f"addr-{i}")
        clock.now += 0.001
    assert len(buckets) <= 100


def test_idle_buckets_are_forgotten_first() -> None:
    clock = Clock()
    buckets = Buckets("client", rate=1.0, burst=2, max_keys=3, clock=clock)
    buckets.take("busy")
    buckets.take("busy")
    buckets.take("idle-1")
    buckets.take("idle-2")
    clock.now += 10  # everything refilled: idle buckets equal new ones
    buckets.take("busy")
    buckets.take("busy")
    buckets.take("new")
    assert buckets.take("busy") is not None  # the busy caller's empty bucket was kept


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        Buckets("x", rate=0, burst=1)
    with pytest.raises(ValueError):
        Buckets("x", rate=1, burst=0)
