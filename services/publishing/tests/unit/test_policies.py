"""Backoff, token bucket, circuit breaker, keys and audience resolution: the engine's pure policies."""

from __future__ import annotations

import random

import pytest

from sotong_publishing import directory, idempotency, settings
from sotong_publishing.breaker import CircuitBreaker, State
from sotong_publishing.ratelimit import TokenBucket
from sotong_publishing.retry import Backoff


def test_backoff_grows_exponentially_within_full_jitter_and_honours_retry_after() -> None:
    backoff = Backoff(base_s=0.1, cap_s=2.0, max_attempts=4)
    rng = random.Random(7)
    for failures, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (6, 2.0), (30, 2.0)):
        delays = [backoff.delay(failures, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range
    assert backoff.delay(1, retry_after_s=3.0, rng=rng) == 3.0
    assert not backoff.exhausted(3) and backoff.exhausted(4)


def test_token_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate_per_s=10, burst=2)
    now = 1000.0
    bucket._updated = now
    assert bucket.try_take(now=now) and bucket.try_take(now=now)
    assert not bucket.try_take(now=now)
    assert bucket.wait_time(now=now) == pytest.approx(0.1)
    assert bucket.try_take(now=now + 0.1)


def test_token_bucket_hold_stops_everyone_until_retry_after() -> None:
    bucket = TokenBucket(rate_per_s=None)
    bucket.hold(60)
    assert not bucket.try_take()
    assert bucket.wait_time() > 59


def test_breaker_opens_after_consecutive_failures_and_probes_once_when_half_open() -> None:
    breaker = CircuitBreaker("sms-primary", failure_threshold=3, open_s=5)
    for _ in range(2):
        assert breaker.allow(now=0)
        breaker.failure(now=0)
    breaker.success(now=0)  # a success resets the count
    for _ in range(3):
        breaker.failure(now=1)
    assert breaker.state is State.OPEN and not breaker.allow(now=5.9)
    assert breaker.allow(now=6.1)  # half-open: one probe
    assert breaker.state.value == "half_open" and not breaker.allow(now=6.2)
    breaker.failure(now=6.3)  # the probe failed: open again
    assert breaker.state is State.OPEN and not breaker.allow(now=11.0)
    assert breaker.allow(now=11.4)
    breaker.success(now=11.5)
    assert breaker.state.value == "closed" and breaker.allow(now=11.6)
    assert [s for _, s in breaker.transitions] == [
        State.OPEN,
        State.HALF_OPEN,
        State.OPEN,
        State.HALF_OPEN,
        State.CLOSED,
    ]


def test_a_released_probe_lets_the_next_one_through() -> None:
    breaker = CircuitBreaker("x", failure_threshold=1, open_s=1)
    breaker.failure(now=0)
    assert breaker.allow(now=2) and not breaker.allow(now=2)
    breaker.release()
    assert breaker.allow(now=2)


def test_keys_are_derived_from_dispatch_and_target_and_match_what_batch_apis_build() -> None:
    assert idempotency.delivery_key("d-1", "01012345678") == "d-1:01012345678"
    # A multicast/SENS batch keys each item <base>:<target>: the same key a single send uses.
    assert f"{idempotency.base_key('d-1')}:tok" == idempotency.delivery_key("d-1", "tok")
    assert idempotency.base_key("d 1/ä") == "d_1__"
    assert idempotency.message_id("d-1", "seoul.go.kr") == "<d-1@seoul.go.kr>"


def test_segments_are_deterministic_and_district_slices_partition_the_directory() -> None:
    book = directory.Subscribers(push_devices=1000)
    everyone = book.segment("push", "all")
    assert len(everyone) == 1000 and everyone.member(0) == "fcm-device-00000000"
    assert everyone.slice(998, 2000) == ["fcm-device-00000998", "fcm-device-00000999"]
    codes = directory.district_codes()
    parts = [book.segment("push", f"districts:{code}") for code in codes]
    members = [m for part in parts for m in part.slice(0, len(part))]
    assert sorted(members) == everyone.slice(0, 1000)  # every device in exactly one district
    two = book.segment("push", f"districts:{codes[3]},{codes[0]}")
    assert len(two) == len(parts[0]) + len(parts[3])
    assert book.segment("sms", "all").member(5) == "01000000005"


@pytest.mark.parametrize(
    ("channel", "segment"), [("push", "everyone"), ("push", "districts:99999"), ("push", "districts:"), ("sns", "all")]
)
def test_unknown_segments_are_refused_with_the_field_named(channel: str, segment: str) -> None:
    with pytest.raises(directory.AudienceError):
        directory.Subscribers().segment(channel, segment)


def test_explicit_targets_drop_blanks_and_repeats_in_order() -> None:
    assert directory.explicit(["b", " a ", "", "b", "c"]) == ["b", "a", "c"]


def test_settings_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="unknown channels"):
        settings.parse_endpoints('{"fax": "http://x"}')
    with pytest.raises(ValueError, match="smtp://"):
        settings.parse_endpoints('{"mail": "http://x"}')
    assert settings.parse_channels("sms, push,sms") == ("sms", "push")
    with pytest.raises(ValueError):
        settings.parse_channels("sms,telegram")
    with pytest.raises(ValueError):
        settings.parse_rates('{"sms": 0}')
