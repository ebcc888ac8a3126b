"""Repeated posts: exact and near-duplicates, per author and across the site.

The state is an object the caller owns (:class:`RepetitionState`): a CLI run carries one
across the lines it reads, a stream worker one per process (or per partition).  Nothing
here is global, so two pipelines never see each other's history.

Near-duplicates use MinHash over character 4-gram shingles of the tight view (spacing and
fillers do not make a copy look new) with locality-sensitive hashing in bands, over a
sliding window of the most recent posts: memory stays bounded however long the process
runs, and a lookup touches only the few earlier posts that share a band.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .policy import RepetitionConfig

__all__ = ["RepetitionFinding", "RepetitionState", "check_repetition", "signature"]

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE = 4
_PRIME = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20261124)
_A = _rng.integers(1, 1 << 31, size=NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, 1 << 31, size=NUM_PERM, dtype=np.uint64)
_P = np.uint64(0x100000001B3)


def signature(text: str) -> npt.NDArray[np.uint64]:
    """MinHash signature of the character shingles of ``text``."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    if codes.size < SHINGLE:
        h = np.array([int(codes.sum()) + 1], dtype=np.uint64)
    else:
        h = codes[: codes.size - SHINGLE + 1].copy()
        for k in range(1, SHINGLE):
            h = h * _P + codes[k : codes.size - SHINGLE + 1 + k]
        h = np.unique(h)
    h = (h & np.uint64((1 << 31) - 1))[:, None]
    sig: npt.NDArray[np.uint64] = ((h * _A[None, :] + _B[None, :]) % _PRIME).min(axis=0)
    return sig


def _bands(sig: npt.NDArray[np.uint64]) -> list[bytes]:
    raw = sig.tobytes()
    step = ROWS * 8
    return [bytes([b]) + raw[b * step : (b + 1) * step] for b in range(BANDS)]


@dataclass(slots=True)
class _Post:
    seq: int
    author: str
    content_id: str
    exact: str
    sig: npt.NDArray[np.uint64]
    bands: list[bytes]


@dataclass(slots=True)
class RepetitionState:
    """Recent posts of one pipeline run; pass the same object to every ``decide`` call."""

    seq: int = 0
    window: deque[_Post] = field(default_factory=deque)
    by_band: dict[bytes, list[_Post]] = field(default_factory=dict)
    by_exact: dict[str, list[_Post]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.window)


@dataclass(frozen=True, slots=True)
class RepetitionFinding:
    rule: str
    score: float
    similar_to: str
    similarity: float


def _forget(state: RepetitionState, post: _Post) -> None:
    for key in post.bands:
        bucket = state.by_band.get(key)
        if bucket is not None:
            try:
                bucket.remove(post)
            except ValueError:
                pass
            if not bucket:
                del state.by_band[key]
    same = state.by_exact.get(post.exact)
    if same is not None:
        try:
            same.remove(post)
        except ValueError:
            pass
        if not same:
            del state.by_exact[post.exact]


def check_repetition(
    state: RepetitionState, cfg: RepetitionConfig, content_id: str, author: str, tight_text: str
) -> RepetitionFinding | None:
    """Compare one post with the window, then remember it.

    A repeat by the same author counts from the second copy; the same text from several
    different authors (a copy-paste campaign) counts once ``site_authors`` of them are
    seen.  Short texts (``감사합니다``) are never repetition: people legitimately say them
    many times.
    """
    text = "".join(tight_text.split())
    if len(text) < cfg.min_chars:
        return None
    sig = signature(text)
    bands = _bands(sig)
    finding: RepetitionFinding | None = None

    exact_prev = state.by_exact.get(text, [])
    same_author_exact = next((p for p in exact_prev if p.author == author), None)
    if same_author_exact is not None:
        finding = RepetitionFinding(
            "repetition.exact_author", cfg.exact_author_score, same_author_exact.content_id, 1.0
        )
    else:
        candidates: dict[int, _Post] = {}
        for key in bands:
            for p in state.by_band.get(key, ()):
                candidates[p.seq] = p
        best_author: tuple[float, _Post] | None = None
        similar_authors: set[str] = set()
        best_site: tuple[float, _Post] | None = None
        for p in candidates.values():
            sim = float(np.count_nonzero(p.sig == sig)) / NUM_PERM
            if sim < cfg.near_duplicate:
                continue
            if p.author == author:
                if best_author is None or sim > best_author[0]:
                    best_author = (sim, p)
            else:
                similar_authors.add(p.author)
                if best_site is None or sim > best_site[0]:
                    best_site = (sim, p)
        if best_author is not None:
            finding = RepetitionFinding(
                "repetition.near_author", cfg.near_author_score, best_author[1].content_id, best_author[0]
            )
        elif best_site is not None and len(similar_authors) + 1 >= cfg.site_authors:
            finding = RepetitionFinding("repetition.site_wide", cfg.site_score, best_site[1].content_id, best_site[0])

    state.seq += 1
    post = _Post(state.seq, author, content_id, text, sig, bands)
    state.window.append(post)
    for key in bands:
        state.by_band.setdefault(key, []).append(post)
    state.by_exact.setdefault(text, []).append(post)
    while len(state.window) > cfg.site_window:
        _forget(state, state.window.popleft())
    return finding
