"""When the ledger tells the opinion statistics of supports: the sum waits in the proposal's row until it is
older than the interval or from an earlier hour, so one fact stands for many batches and never straddles the
statistics' buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sotong_community.ledger import announce_due_at, unannounced_after
from sotong_community.opinion import window_start

EVERY = timedelta(seconds=1)
T = datetime(2026, 12, 3, 10, 30, 0, tzinfo=UTC)


def row(waiting: int, since: datetime | None) -> dict[str, Any]:
    return {"supports_unannounced": waiting, "supports_unannounced_since": since}


def test_a_sum_younger_than_the_interval_in_the_same_hour_waits() -> None:
    assert not announce_due_at(T, T + timedelta(milliseconds=999), EVERY)
    assert announce_due_at(T, T + EVERY, EVERY)


def test_a_sum_from_an_earlier_hour_is_announced_however_young() -> None:
    since = datetime(2026, 12, 3, 10, 59, 59, 900_000, tzinfo=UTC)
    now = datetime(2026, 12, 3, 11, 0, 0, 100_000, tzinfo=UTC)
    assert announce_due_at(since, now, EVERY)
    # Seoul's hours are UTC's (UTC+9): the hour, day and week buckets of `since` are the ones every support in
    # the sum belongs to.
    for window in ("hour", "day", "week"):
        assert window_start(since, window) == window_start(since + timedelta(milliseconds=99), window)


def test_the_first_support_starts_a_sum_at_its_time() -> None:
    got = unannounced_after(row(0, None), 7, T, EVERY)
    assert (got.sum, got.since, got.due) == (7, T, None)


def test_a_batch_within_the_interval_adds_to_the_sum() -> None:
    got = unannounced_after(row(7, T), 5, T + timedelta(milliseconds=400), EVERY)
    assert (got.sum, got.since, got.due) == (12, T, None)


def test_a_batch_after_the_interval_announces_the_earlier_sum_and_starts_its_own() -> None:
    now = T + timedelta(seconds=2)
    got = unannounced_after(row(12, T), 3, now, EVERY)
    assert got.due == (12, T)
    assert (got.sum, got.since) == (3, now)


def test_withdrawals_subtract_and_a_batch_without_supports_keeps_the_sum_waiting() -> None:
    got = unannounced_after(row(4, T), -4, T + timedelta(milliseconds=10), EVERY)
    assert (got.sum, got.since, got.due) == (0, T, None)
    got = unannounced_after(row(4, T), 0, T + timedelta(milliseconds=10), EVERY)
    assert (got.sum, got.since, got.due) == (4, T, None)


def test_a_batch_without_supports_announces_a_due_sum_and_leaves_none_waiting() -> None:
    got = unannounced_after(row(9, T), 0, T + timedelta(seconds=5), EVERY)
    assert (got.sum, got.since, got.due) == (0, None, (9, T))
