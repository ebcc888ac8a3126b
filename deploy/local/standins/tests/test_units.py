"""Pure pieces without a server: the ledger's outcomes and the token bucket's arithmetic."""

from __future__ import annotations

from sotong_standins.faults import FaultInjector, FaultPlan
from sotong_standins.ledger import Ledger, Outcome
from sotong_standins.ratelimit import TokenBucket


def test_ledger_outcomes() -> None:
    ledger = Ledger(keep_recent=2)
    assert ledger.record("k1", "sms", "010", "hi")[0] is Outcome.NEW
    assert ledger.record("k1", "sms", "010", "hi") == (Outcome.DUPLICATE, 1)
    assert ledger.record("k1", "sms", "011", "hi")[0] is Outcome.CONFLICT
    assert ledger.record("k2", "sms", "010", "hi")[0] is Outcome.NEW
    ledger.record("k3", "sms", "012", "hi")
    assert (ledger.accepted, ledger.duplicates, ledger.conflicts, ledger.repeated_targets) == (3, 1, 1, 1)
    assert [row["key"] for row in ledger.recent()] == ["k3", "k2"]  # only the newest two are kept


def test_token_bucket_refills_and_says_when() -> None:
    now = [0.0]
    bucket = TokenBucket(rate_per_s=0.5, burst=1, clock=lambda: now[0])
    assert bucket.take()
    assert not bucket.take()
    assert bucket.retry_after_s() == 2
    now[0] = 2.0
    assert bucket.take()


def test_fault_override_expires_back_to_base() -> None:
    now = [0.0]
    faults = FaultInjector("sms", FaultPlan(latency_ms=5), seed=1, clock=lambda: now[0])
    faults.apply({"fail_rate": 1.0, "duration_s": 10})
    assert faults.current().fail_rate == 1.0
    assert faults.current().latency_ms == 5  # the override layers over the base
    now[0] = 10.5
    assert faults.current() == FaultPlan(latency_ms=5)
