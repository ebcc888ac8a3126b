"""Inference for the trained multi-head linear classifier (numpy only).

The model is a matrix of per-bucket weights (one column per head) over the hashed
n-gram features of :mod:`sotong_moderation.features`, a bias and a Platt calibration per
head.  Any ensemble of linear models over the same features (logistic regression plus
an NB-weighted one) collapses into one such matrix at training time, so inference is a
gather and a dot product.  Weights are stored as int8 with a per-head scale in a ``.npz``
loaded with ``allow_pickle=False``; the metadata is JSON.  Nothing here can execute code
from the model files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .features import FeatureSpec, _codepoints, extract, ngram_hashes_by_order
from .normalize import NormalizedText

__all__ = ["Classifier", "HeadScore", "ModelError", "default_model_dir"]


class ModelError(ValueError):
    """Model files that are missing, inconsistent or not in the expected format."""


@dataclass(frozen=True, slots=True)
class HeadScore:
    head: str
    probability: float
    threshold: float


def default_model_dir() -> Path:
    """The model committed inside the package."""
    return Path(str(resources.files("sotong_moderation") / "model"))


class Classifier:
    """A loaded model; immutable and safe to share between threads."""

    def __init__(
        self,
        weights: npt.NDArray[np.int8],
        scale: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        calib_a: npt.NDArray[np.float32],
        calib_b: npt.NDArray[np.float32],
        heads: tuple[str, ...],
        thresholds: dict[str, float],
        spec: FeatureSpec,
        version: str,
    ) -> None:
        if weights.shape != (1 << spec.bits, len(heads)):
            raise ModelError(f"weights shape {weights.shape} does not match {len(heads)} heads and {spec.bits} bits")
        # Kept as int8: a quarter of the memory of float32, so more of the table stays in
        # the CPU cache; the random row gathers are the costliest step of inference.
        self.weights = weights
        self.scale = scale
        self.bias = bias
        self.calib_a = calib_a
        self.calib_b = calib_b
        self.heads = heads
        self.thresholds = thresholds
        self.spec = spec
        self.version = version

    @classmethod
    def load(cls, model_dir: str | Path) -> Classifier:
        d = Path(model_dir)
        try:
            meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
            with np.load(d / "weights.npz", allow_pickle=False) as z:
                q = z["weights"]
                scale = z["scale"].astype(np.float32)
                bias = z["bias"].astype(np.float32)
                calib_a = z["calib_a"].astype(np.float32)
                calib_b = z["calib_b"].astype(np.float32)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"cannot load model from {d}: {exc}") from None
        heads = tuple(str(h) for h in meta["heads"])
        if q.dtype != np.int8 or scale.shape != (q.shape[1],):
            raise ModelError(f"weights must be int8 with one scale per head, got {q.dtype} {scale.shape}")
        weights = np.ascontiguousarray(q)
        thresholds = {str(k): float(v) for k, v in meta["thresholds"].items()}
        return cls(
            weights, scale, bias, calib_a, calib_b, heads, thresholds, FeatureSpec.from_json(meta["features"]),
            str(meta["version"]),
        )  # fmt: skip

    def margins(self, nt: NormalizedText) -> npt.NDArray[np.float32]:
        """Raw linear scores per head (before calibration)."""
        idx, vals = extract(nt, self.spec)
        if idx.size == 0:
            return self.bias.copy()
        # np.take is several times faster than fancy indexing for this row gather.
        rows = np.take(self.weights, idx, axis=0).astype(np.float32)
        out: npt.NDArray[np.float32] = (vals @ rows) * self.scale + self.bias
        return out

    def predict(self, nt: NormalizedText) -> list[HeadScore]:
        """Calibrated probability per head, with the tuned decision threshold."""
        m = self.margins(nt)
        z = self.calib_a * m + self.calib_b
        probs = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        return [HeadScore(h, float(probs[i]), self.thresholds.get(h, 0.5)) for i, h in enumerate(self.heads)]

    def explain(self, nt: NormalizedText, head: str, top: int = 3) -> list[tuple[int, int, float]]:
        """Original-text spans of the character n-grams that pushed ``head`` up the most.

        Only called when a head fires, so its extra hashing cost is paid rarely.  Spans
        are widened to whole words of the original text and merged when they overlap, so
        the moderator sees words ("멍청한"), not fragments ("청한").
        """
        if head not in self.heads or not nt.tight.text:
            return []
        h = self.heads.index(head)
        col = self.weights[:, h]
        tight = nt.tight
        text = tight.text[: self.spec.max_chars]
        codes = _codepoints(text)
        cands: list[tuple[float, int, int]] = []
        orders = tuple(n for n in self.spec.char_orders if n >= 2) or self.spec.char_orders
        for n, hashes in ngram_hashes_by_order(codes, orders, salt=1):
            idx = (hashes >> np.uint64(64 - self.spec.bits)).astype(np.int64)
            weights = col[idx].astype(np.float32) * self.scale[h]
            for pos in np.argsort(-weights)[:top]:
                if weights[pos] > 0:
                    cands.append((float(weights[pos]), int(pos), int(pos) + n))
        cands.sort(reverse=True)
        chosen: list[tuple[int, int, float]] = []
        original = nt.original
        for weight, s, e in cands[: top * 2]:
            os_, oe = _widen_to_words(original, *tight.original_span(s, e))
            for i, (cs, ce, cw) in enumerate(chosen):
                if os_ < ce and cs < oe:
                    chosen[i] = (min(cs, os_), max(ce, oe), max(cw, weight))
                    break
            else:
                chosen.append((os_, oe, weight))
            if len(chosen) >= top:
                break
        merged: list[tuple[int, int, float]] = []
        for s, e, w in sorted(chosen):
            if merged and s < merged[-1][1]:
                ps, pe, pw = merged[-1]
                merged[-1] = (ps, max(pe, e), max(pw, w))
            else:
                merged.append((s, e, w))
        return merged


def _widen_to_words(text: str, start: int, end: int, limit: int = 20) -> tuple[int, int]:
    """Grow ``[start, end)`` to the surrounding whitespace (at most ``limit`` each way)."""
    lo = start
    while lo > 0 and start - lo < limit and not text[lo - 1].isspace():
        lo -= 1
    hi = end
    while hi < len(text) and hi - end < limit and not text[hi].isspace():
        hi += 1
    return lo, hi
