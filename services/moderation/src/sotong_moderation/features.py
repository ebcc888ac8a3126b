"""Hashed character, jamo and word n-gram features shared by training and inference.

The same function builds the features when the model is trained and when a comment is
judged, so the two can never drift apart.  Hashing is a polynomial rolling hash over
code points computed with numpy ``uint64`` arithmetic: deterministic across processes
(unlike ``hash(str)``), free of a vocabulary file, and vectorized, which keeps feature
extraction in the tens of microseconds for a typical comment.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

from .normalize import NormalizedText

__all__ = ["DEFAULT_SPEC", "FeatureSpec", "extract"]

_P = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)


class FeatureSpec:
    """Which n-grams to hash into how many buckets; stored in the model metadata."""

    __slots__ = ("bits", "char_orders", "jamo_orders", "max_chars", "word_orders")

    def __init__(
        self,
        bits: int = 20,
        char_orders: tuple[int, ...] = (1, 2, 3, 4, 5),
        jamo_orders: tuple[int, ...] = (2, 3, 4, 5, 6),
        word_orders: tuple[int, ...] = (),
        max_chars: int = 2000,
    ) -> None:
        self.bits = bits
        self.char_orders = char_orders
        self.jamo_orders = jamo_orders
        self.word_orders = word_orders
        self.max_chars = max_chars

    def to_json(self) -> dict[str, object]:
        return {
            "bits": self.bits,
            "char_orders": list(self.char_orders),
            "jamo_orders": list(self.jamo_orders),
            "word_orders": list(self.word_orders),
            "max_chars": self.max_chars,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FeatureSpec:
        def orders(key: str) -> tuple[int, ...]:
            raw = data.get(key, [])
            assert isinstance(raw, list)
            return tuple(int(x) for x in raw)

        bits = data.get("bits", 20)
        max_chars = data.get("max_chars", 2000)
        assert isinstance(bits, int) and isinstance(max_chars, int)
        return cls(
            bits=bits,
            char_orders=orders("char_orders"),
            jamo_orders=orders("jamo_orders"),
            word_orders=orders("word_orders"),
            max_chars=max_chars,
        )


DEFAULT_SPEC = FeatureSpec()


def _codepoints(text: str) -> npt.NDArray[np.uint64]:
    # utf-32 with surrogatepass keeps lone surrogates instead of raising.
    raw = text.encode("utf-32-le", "surrogatepass")
    return np.frombuffer(raw, dtype=np.uint32).astype(np.uint64)


def _ngram_hashes(codes: npt.NDArray[np.uint64], orders: tuple[int, ...], salt: int) -> list[npt.NDArray[np.uint64]]:
    out: list[npt.NDArray[np.uint64]] = []
    if not orders or codes.size == 0:
        return out
    top = max(orders)
    raw: list[npt.NDArray[np.uint64]] = []
    salts: list[int] = []
    h = codes
    for n in range(1, top + 1):
        if n > 1:
            if h.size <= 1:
                break
            h = h[:-1] * _P + codes[n - 1 :]
        if n in orders:
            raw.append(h)
            salts.append(salt * 1_000_003 + n)
    if not raw:
        return out
    # Salt and mix all orders in one pass: fewer numpy calls, same values as per order.
    lengths = [r.size for r in raw]
    salt_vec = np.repeat(np.array(salts, dtype=np.uint64), lengths)
    out.append((np.concatenate(raw) ^ salt_vec) * _MIX)
    return out


def ngram_hashes_by_order(
    codes: npt.NDArray[np.uint64], orders: tuple[int, ...], salt: int
) -> list[tuple[int, npt.NDArray[np.uint64]]]:
    """The same hashes as ``_ngram_hashes``, one array per order (position = start index)."""
    out: list[tuple[int, npt.NDArray[np.uint64]]] = []
    h = codes
    for n in range(1, max(orders, default=0) + 1):
        if n > 1:
            if h.size <= 1:
                break
            h = h[:-1] * _P + codes[n - 1 :]
        if n in orders:
            out.append((n, (h ^ np.uint64(salt * 1_000_003 + n)) * _MIX))
    return out


def _word_hashes(text: str, orders: tuple[int, ...]) -> list[npt.NDArray[np.uint64]]:
    words = text.split()
    if not words or not orders:
        return []
    codes = np.fromiter(
        (zlib.crc32(w.encode("utf-8", "surrogatepass")) + 1 for w in words),
        dtype=np.uint64,
        count=len(words),
    )
    return _ngram_hashes(codes, orders, salt=3)


def extract(
    nt: NormalizedText, spec: FeatureSpec = DEFAULT_SPEC
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Bucket indices (repeats allowed) and their values for one comment.

    Character n-grams run on the tight view (fillers removed, repeats squeezed) and jamo
    n-grams on the jamo view, so ``시1발`` and ``시발`` share every feature; word n-grams
    run on the base view because spacing still carries meaning there.
    """
    tight_codes = _codepoints(nt.tight.text[: spec.max_chars])
    # str.translate with a syllable table beats a numpy decomposition here (measured).
    jamo_codes = _codepoints(nt.jamo_text[: spec.max_chars * 3])
    base = nt.base.text[: spec.max_chars]
    parts = _ngram_hashes(tight_codes, spec.char_orders, salt=1)
    parts += _ngram_hashes(jamo_codes, spec.jamo_orders, salt=2)
    parts += _word_hashes(base, spec.word_orders)
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    allh = np.concatenate(parts)
    idx = (allh >> np.uint64(64 - spec.bits)).astype(np.int64)
    # Every occurrence counts once and the vector is scaled by 1/sqrt(n): no sort or
    # unique needed at inference (repeated buckets simply add up in the dot product),
    # and cross-validation showed no loss against log-counts with exact L2 norms.
    vals = np.full(idx.size, 1.0 / np.sqrt(idx.size), dtype=np.float32)
    return idx, vals
