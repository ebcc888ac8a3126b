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

from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .policy import RepetitionConfig

__all__ = ["RepetitionFinding", "RepetitionState", "check_repetition", "signature"]

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE = 4
BUCKET_CAP = 16
AUTHOR_CAP = 20
MAX_CANDIDATES = 48
MAX_AUTHORS = 200_000
_rng = np.random.default_rng(20261124)
_A = _rng.integers(1, 1 << 63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 1 << 63, size=NUM_PERM, dtype=np.uint64)
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
    # Multiply-shift hashing (odd multipliers, keep the high bits): one independent
    # permutation per column without a modulo, which numpy does slowly on uint64.
    sig: npt.NDArray[np.uint64] = ((h[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)).min(axis=0)
    return sig


_BAND_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5], dtype=np.uint64)


def _bands(sig: npt.NDArray[np.uint64]) -> list[int]:
    """One integer key per band (band number in the top bits, so bands never collide)."""
    keys = (sig.reshape(BANDS, ROWS) * _BAND_MIX[None, :ROWS]).sum(axis=1) >> np.uint64(8)
    return [int(k) | (b << 56) for b, k in enumerate(keys.tolist())]


@dataclass(slots=True, eq=False)  # identity: removal from buckets must not compare signatures
class _Post:
    seq: int
    author: str
    content_id: str
    exact: str
    sig: npt.NDArray[np.uint64]
    bands: list[int]


@dataclass(slots=True)
class RepetitionState:
    """Recent posts of one pipeline run; pass the same object to every ``decide`` call.

    Memory and time are bounded: the site window holds ``site_window`` posts, each LSH
    bucket keeps its :data:`BUCKET_CAP` newest posts (a flood of copies cannot make a
    lookup slow), and each author's :data:`AUTHOR_CAP` newest posts are compared
    directly so an author's own repeats are found even inside such a flood.
    """

    seq: int = 0
    window: deque[_Post] = field(default_factory=deque)
    by_band: dict[int, deque[_Post]] = field(default_factory=dict)
    by_exact: dict[str, list[_Post]] = field(default_factory=dict)
    by_author: OrderedDict[str, deque[_Post]] = field(default_factory=OrderedDict)

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
        if bucket is not None and post in bucket:
            bucket.remove(post)
            if not bucket:
                del state.by_band[key]
    same = state.by_exact.get(post.exact)
    if same is not None and post in same:
        same.remove(post)
        if not same:
            del state.by_exact[post.exact]
    mine = state.by_author.get(post.author)
    if mine is not None and post in mine:
        mine.remove(post)
        if not mine:
            del state.by_author[post.author]


def _similarities(posts: list[_Post], sig: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    if not posts:
        return np.zeros(0)
    sims: npt.NDArray[np.float64] = (np.stack([p.sig for p in posts]) == sig[None, :]).mean(axis=1)
    return sims


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

    mine = list(state.by_author.get(author, ()))
    same_author_exact = next((p for p in mine if p.exact == text), None)
    if same_author_exact is not None:
        finding = RepetitionFinding(
            "repetition.exact_author", cfg.exact_author_score, same_author_exact.content_id, 1.0
        )
    elif mine:
        sims = _similarities(mine, sig)
        best = int(np.argmax(sims))
        if sims[best] >= cfg.near_duplicate:
            finding = RepetitionFinding(
                "repetition.near_author", cfg.near_author_score, mine[best].content_id, float(sims[best])
            )
    if finding is None:
        # Exact copies by others first: a dict lookup, no signatures to compare.
        exact_others = {p.author: p for p in state.by_exact.get(text, ()) if p.author != author}
        if len(exact_others) + 1 >= cfg.site_authors:
            first = next(iter(exact_others.values()))
            finding = RepetitionFinding("repetition.site_wide", cfg.site_score, first.content_id, 1.0)
        else:
            seen: dict[int, _Post] = {}
            for key in bands:
                for p in state.by_band.get(key, ()):
                    if p.author != author:
                        seen[p.seq] = p
                if len(seen) >= MAX_CANDIDATES:
                    break
            others = list(seen.values())
            sims = _similarities(others, sig)
            close = [(float(s), p) for s, p in zip(sims, others, strict=True) if s >= cfg.near_duplicate]
            if close and len({p.author for _, p in close}) + 1 >= cfg.site_authors:
                sim, p = max(close, key=lambda x: x[0])
                finding = RepetitionFinding("repetition.site_wide", cfg.site_score, p.content_id, sim)

    state.seq += 1
    post = _Post(state.seq, author, content_id, text, sig, bands)
    state.window.append(post)
    for key in bands:
        bucket = state.by_band.get(key)
        if bucket is None:
            bucket = state.by_band[key] = deque(maxlen=BUCKET_CAP)
        bucket.append(post)
    state.by_exact.setdefault(text, []).append(post)
    mine_q = state.by_author.get(author)
    if mine_q is None:
        mine_q = state.by_author[author] = deque(maxlen=AUTHOR_CAP)
        if len(state.by_author) > MAX_AUTHORS:
            state.by_author.popitem(last=False)
    else:
        state.by_author.move_to_end(author)
    mine_q.append(post)
    while len(state.window) > cfg.site_window:
        _forget(state, state.window.popleft())
    return finding
