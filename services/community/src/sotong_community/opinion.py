"""Opinion by district (task 4): which counts an event adds to which buckets.

The stream job counts, per district, category and window (hour, day, week), what citizens said: intake's
opinions and complaints, community's proposals, supports (net of withdrawals), poll responses and comments. A
bucket starts at the window's start in Seoul time (weeks start on Monday). Each fact adds to three buckets, one
per window. Pure; the store adds them up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

SEOUL = timezone(timedelta(hours=9), "KST")
WINDOWS = ("hour", "day", "week")
COUNTS = ("opinions", "complaints", "proposals", "supports", "poll_responses", "comments")
CITYWIDE = ""  # district code of facts about the whole city


def window_start(at: datetime, window: str) -> datetime:
    local = at.astimezone(SEOUL)
    if window == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif window == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif window == "week":
        start = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        raise ValueError(f"unknown window {window!r}")
    return start.astimezone(UTC)


def window_length(window: str) -> timedelta:
    return {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[window]


@dataclass(frozen=True)
class Fact:
    """One thing counted: `delta` of `count` in a district and category at a time."""

    count: str
    district_code: str
    category: str
    at: datetime
    delta: int = 1


@dataclass(frozen=True)
class BucketKey:
    window: str
    start: datetime
    district_code: str
    category: str

    def kafka_key(self) -> str:
        return f"{self.district_code or '-'}|{self.category or '-'}|{self.window}|{self.start.isoformat()}"


def add_up(facts: list[Fact]) -> dict[BucketKey, dict[str, int]]:
    """The deltas of every bucket these facts touch (three per fact: hour, day, week)."""
    out: dict[BucketKey, dict[str, int]] = {}
    for fact in facts:
        if fact.count not in COUNTS:
            raise ValueError(f"unknown count {fact.count!r}")
        for window in WINDOWS:
            key = BucketKey(window, window_start(fact.at, window), fact.district_code, fact.category)
            bucket = out.setdefault(key, dict.fromkeys(COUNTS, 0))
            bucket[fact.count] += fact.delta
    return out
