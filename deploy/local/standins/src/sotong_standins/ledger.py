"""The idempotency record: what each provider stand-in has really delivered.

Sotong promises "nothing lost, nothing sent twice". The only place a test can check the second half is on the
far side of the adapters, so every stand-in writes each delivery here under the idempotency key the adapter sent.
A repeated key is acknowledged (the caller cannot tell a retry from a first try) but is not counted again; a key
reused for a *different* target or text is a bug in the adapter's key derivation and is counted separately; and
the same text reaching the same target under two different keys (the adapter minted a fresh key on retry) is
counted as a repeated target, which is exactly the "sent twice" a reliability test wants to catch.

Per-item cost matters: the push stand-in records a million deliveries in seconds, so the hot path is one dict
lookup, one hash and a tuple append, and only the last ``keep_recent`` deliveries keep their text.
"""

from __future__ import annotations

import enum
import time
from array import array
from collections import deque
from collections.abc import Mapping
from typing import Any


class Outcome(enum.Enum):
    """What recording a key meant: first time, a retry, or a key reused for something else."""

    NEW = "new"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


# (seq, unix time, kind, key, target, text, detail) kept as a plain tuple: this is created once per delivery
# on the million-recipient path, and a tuple is the cheapest record Python has.
RecentDelivery = tuple[int, float, str, str, str, str, Mapping[str, Any] | None]


# The answer to one ``record`` call: the outcome and the delivery's number (the original's for a retry), as a
# bare tuple because a frozen dataclass costs more to build than the rest of the hot path together.
Recorded = tuple[Outcome, int]


class Ledger:
    """Deliveries by idempotency key for one provider."""

    def __init__(self, keep_recent: int = 10_000) -> None:
        self._keep_recent = keep_recent
        self.reset()

    def reset(self) -> None:
        """Forget everything, as if the provider were a fresh account."""
        # key -> delivery number; the fingerprint of delivery n is _fingerprints[n - 1]. A flat array instead of a
        # (fingerprint, seq) tuple per key saves about 90 bytes a delivery, which is 90 MB at a million.
        self._entries: dict[str, int] = {}
        self._fingerprints = array("q")
        self._seen_targets: set[int] = set()
        self._recent: deque[RecentDelivery] = deque(maxlen=self._keep_recent)
        self._seq = 0
        self.accepted = 0
        self.duplicates = 0
        self.conflicts = 0
        self.repeated_targets = 0

    def next_unkeyed_key(self) -> str:
        """A key that can never repeat, for callers allowed to send without one (they get no dedup)."""
        return f"unkeyed:{self._seq + 1}:{time.monotonic_ns()}"

    def record(
        self,
        key: str,
        kind: str,
        target: str,
        text: str,
        detail: Mapping[str, Any] | None = None,
    ) -> Recorded:
        """Record one delivery of ``text`` to ``target`` under ``key`` and say whether it was new."""
        fingerprint = hash((target, text))
        seq = self._entries.get(key)
        if seq is not None:
            if self._fingerprints[seq - 1] == fingerprint:
                self.duplicates += 1
                return (Outcome.DUPLICATE, seq)
            self.conflicts += 1
            return (Outcome.CONFLICT, seq)
        self._seq += 1
        seq = self._seq
        self._entries[key] = seq
        self._fingerprints.append(fingerprint)
        self.accepted += 1
        if fingerprint in self._seen_targets:
            self.repeated_targets += 1
        else:
            self._seen_targets.add(fingerprint)
        self._recent.append((seq, time.time(), kind, key, target, text, detail))
        return (Outcome.NEW, seq)

    def would_conflict(self, key: str, target: str, text: str) -> bool:
        """True when ``key`` is already recorded for another target or text; lets a multi-recipient request
        refuse as a whole before recording any recipient."""
        seq = self._entries.get(key)
        return seq is not None and self._fingerprints[seq - 1] != hash((target, text))

    @property
    def unique_keys(self) -> int:
        return len(self._entries)

    def recent(
        self, limit: int = 100, target: str | None = None, key_prefix: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest deliveries first, optionally only those to one target or under one key prefix."""
        rows: list[dict[str, Any]] = []
        for seq, at, kind, key, row_target, text, detail in reversed(self._recent):
            if target is not None and row_target != target:
                continue
            if key_prefix is not None and not key.startswith(key_prefix):
                continue
            row: dict[str, Any] = {
                "seq": seq,
                "at": at,
                "kind": kind,
                "key": key,
                "target": row_target,
                "text": text,
            }
            if detail:
                row["detail"] = dict(detail)
            rows.append(row)
            if len(rows) >= limit:
                break
        return rows
