"""Near-duplicate scoring for citizen reports.

When a water main bursts, dozens of citizens report it within minutes, in their own words, from a few metres
apart, through different channels. Staff should see one issue with many reporters, not forty tickets. A pair of
reports is a candidate duplicate when they are

- in the same category (uncategorised reports only compare with each other),
- within `radius_m` of each other (haversine), or, lacking points, at the same place key (neighbourhood or
  district code from the gazetteer),
- within `window` of each other in time,

and the score then combines how similar the texts are with how close they are in space and time. Scores are
for ranking and a threshold; the decision to merge stays with staff or a later rule.

Korean text needs care before comparing: spacing is inconsistent ("도로가 파였어요" / "도로가파였어요"),
particles attach to words, and chat adds ㅋㅋ, ㅠㅠ, emoji and repeated punctuation. The text is therefore
normalized (NFKC, lower case, URLs/mentions/jamo/emoji/punctuation removed, all whitespace dropped) and
compared as sets of character 2- and 3-grams (Jaccard), which is robust to all of these without a
morphological analyser.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sotong_common.geo import haversine_m

_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@[\w.]+")
_JAMO = re.compile(r"[\u1100-\u11ff\u3130-\u318f]+")  # ㅋㅋ, ㅠㅠ, ㅎㅎ: sentiment, not content
_REPEAT = re.compile(r"(.)\1{2,}")
_KEEP = re.compile(r"[^0-9a-z가-힣]")


def normalize(text: str) -> str:
    """Reduce text to the characters that carry its content (see module doc)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _JAMO.sub(" ", text)
    text = _KEEP.sub("", text)  # drops punctuation, emoji, '#' and every kind of space
    return _REPEAT.sub(r"\1\1", text)


@functools.lru_cache(maxsize=8192)
def shingles(text: str) -> frozenset[str]:
    """Character 2- and 3-grams of the normalized text; a 1-character text is its own shingle.

    Remembered for the latest texts: a report is scored against each of its candidates (and a stored report
    against each new one near it), and computing its n-grams again per pair was a fifth of the storing worker's
    time in a surge. The result is immutable, so sharing it is safe.
    """
    norm = normalize(text)
    if len(norm) < 2:
        return frozenset({norm}) if norm else frozenset()
    grams = {norm[i : i + 2] for i in range(len(norm) - 1)}
    grams.update(norm[i : i + 3] for i in range(len(norm) - 2))
    return frozenset(grams)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def text_similarity(a: str, b: str) -> float:
    return jaccard(shingles(a), shingles(b))


@dataclass(frozen=True, slots=True)
class ReportSignature:
    """What duplicate scoring needs of a report; `grams` is computed once so a report is compared cheaply."""

    id: str
    category: str | None
    at: datetime
    text: str
    lat: float | None = None
    lng: float | None = None
    place_key: str | None = None
    grams: frozenset[str] = field(default=frozenset(), compare=False)

    @classmethod
    def of(
        cls,
        id: str,
        category: str | None,
        at: datetime,
        text: str,
        lat: float | None = None,
        lng: float | None = None,
        place_key: str | None = None,
    ) -> ReportSignature:
        return cls(id, category, at, text, lat, lng, place_key, shingles(text))


@dataclass(frozen=True, slots=True)
class DuplicateRule:
    """Tunable limits and weights; defaults suit street-level reports (potholes, dumping, flooding)."""

    radius_m: float = 200.0
    window: timedelta = timedelta(hours=24)
    threshold: float = 0.55
    text_weight: float = 0.5
    distance_weight: float = 0.3
    time_weight: float = 0.2
    place_key_proximity: float = 0.5
    """Proximity credited to two point-less reports at the same place key (a neighbourhood is not a spot)."""

    def __post_init__(self) -> None:
        if self.radius_m <= 0 or self.window <= timedelta(0):
            raise ValueError("radius_m and window must be positive")
        if abs(self.text_weight + self.distance_weight + self.time_weight - 1.0) > 1e-9:
            raise ValueError("weights must add up to 1")


@dataclass(frozen=True, slots=True)
class DuplicateScore:
    other_id: str
    score: float
    text_similarity: float
    distance_m: float | None
    seconds_apart: float


def score_pair(report: ReportSignature, other: ReportSignature, rule: DuplicateRule) -> DuplicateScore | None:
    """The pair's score, or None when category, place or time rule them out before text is compared."""
    if report.id == other.id or report.category != other.category:
        return None
    seconds = abs((report.at - other.at).total_seconds())
    window = rule.window.total_seconds()
    if seconds > window:
        return None
    distance: float | None = None
    if report.lat is not None and report.lng is not None and other.lat is not None and other.lng is not None:
        distance = haversine_m(report.lat, report.lng, other.lat, other.lng)
        if distance > rule.radius_m:
            return None
        proximity = 1.0 - distance / rule.radius_m
    elif report.place_key is not None and report.place_key == other.place_key:
        proximity = rule.place_key_proximity
    else:
        return None
    similarity = jaccard(report.grams or shingles(report.text), other.grams or shingles(other.text))
    score = rule.text_weight * similarity + rule.distance_weight * proximity + rule.time_weight * (1 - seconds / window)
    return DuplicateScore(other.id, round(score, 6), round(similarity, 6), distance, seconds)


def find_duplicates(
    report: ReportSignature, recent: Iterable[ReportSignature], rule: DuplicateRule | None = None
) -> list[DuplicateScore]:
    """Candidates at or above the rule's threshold, best first (ties: nearest in time first)."""
    rule = rule or DuplicateRule()
    scored = (score_pair(report, other, rule) for other in recent)
    found = [s for s in scored if s is not None and s.score >= rule.threshold]
    return sorted(found, key=lambda s: (-s.score, s.seconds_apart, s.other_id))
