"""Train the packaged classifier: ``python -m sotong_moderation.training --datasets DIR --out DIR``.

Reproducible (fixed seeds, deterministic solvers, sorted inputs, a fixed version name) and
honest about what is held out: BEEP! ``dev.tsv`` (the in-domain evaluation) and K-MHaS
``kmhas_test.txt`` (the out-of-domain evaluation) are never read here; every threshold and
ensemble weight is chosen on cross-validation folds or splits of the *training* data
(BEEP! train, the curse dataset, K-MHaS valid).

Heads and their data (see /work/shared/datasets/README.md for sources and licences):

* ``abuse`` (offensive or hate vs none): an ensemble of (a) NB-weighted logistic
  regression on BEEP! train and (b) logistic regression on BEEP! train that also sees
  the scores of two auxiliary models trained on the curse dataset and on K-MHaS valid.  Pooling
  those corpora directly hurt (their labels mean something different); feeding their
  models' opinions as two extra features lets BEEP! decide how much to trust them.
* ``hate`` (attacks on groups): BEEP! ``hate`` label plus K-MHaS valid's origin, physical,
  age, gender, race and religion labels.
* ``personal_attack``: BEEP! offensive/hate comments without group bias (attacks on one
  person, which is what the slander clause sends to review).
* ``political``: K-MHaS valid's politics label.

All of these are linear in the same hashed features, so the ensemble collapses into one
weight column per head; weights are stored as int8 with a per-head scale (``.npz``,
no pickle) plus JSON metadata and the licence notice of the data.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .classifier import default_model_dir
from .features import DEFAULT_SPEC, FeatureSpec, extract
from .normalize import normalize

__all__ = ["featurize", "load_beep", "load_curse", "load_kmhas", "main"]

SEED = 20261124
# The model's name: fixed (not today's date) so that the same data and code give the same files.
VERSION = "ngram-linear-20261203"
# Evaluation data: never read while training or choosing anything (checked in main).
HELD_OUT = ("beep/dev.tsv", "kmhas/kmhas_test.txt")
TRAINING_FILES = ("beep/train.tsv", "curse/dataset.txt", "kmhas/kmhas_valid.txt")
HEADS = ("abuse", "hate", "personal_attack", "political")
KMHAS_GROUP_HATE = {0, 1, 4, 5, 6, 7}
KMHAS_POLITICS = 2
KMHAS_NOT_HATE = 8

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --- data ---------------------------------------------------------------------------


def load_beep(path: Path) -> tuple[list[str], list[str], list[str]]:
    """Comments, hate label (hate/offensive/none) and bias label of a BEEP! TSV."""
    texts: list[str] = []
    hate: list[str] = []
    bias: list[str] = []
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        for row in rows:
            if len(row) < 4:
                continue
            texts.append(row[0])
            bias.append(row[2])
            hate.append(row[3])
    return texts, hate, bias


def load_curse(path: Path) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    labels: list[int] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "|" not in line:
            continue
        text, label = line.rsplit("|", 1)
        if label.strip() in ("0", "1"):
            texts.append(text)
            labels.append(int(label.strip()))
    return texts, labels


def load_kmhas(paths: Sequence[Path]) -> tuple[list[str], list[set[int]]]:
    texts: list[str] = []
    labels: list[set[int]] = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        for line in lines:
            if "\t" not in line:
                continue
            text, label = line.rsplit("\t", 1)
            try:
                ids = {int(x) for x in label.split(",")}
            except ValueError:
                continue
            texts.append(text.strip('"'))
            labels.append(ids)
    return texts, labels


def featurize(texts: Sequence[str], spec: FeatureSpec = DEFAULT_SPEC) -> Any:
    """CSR matrix of the same features the runtime classifier computes."""
    import scipy.sparse as sp

    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[npt.NDArray[np.float32]] = []
    for i, t in enumerate(texts):
        idx, v = extract(normalize(t), spec)
        rows.append(np.full(idx.size, i, dtype=np.int64))
        cols.append(idx)
        vals.append(v)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(texts), 1 << spec.bits)
    )


# --- models -------------------------------------------------------------------------


class Linear:
    """w·x + b over the hashed features (what every trained piece reduces to)."""

    def __init__(self, w: FloatArray, b: float) -> None:
        self.w = w
        self.b = b

    def score(self, x: Any) -> FloatArray:
        out: FloatArray = np.asarray(x @ self.w).ravel() + self.b
        return out


def _fit_lr(x: Any, y: IntArray, c: float) -> Linear:
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=c, solver="liblinear", max_iter=5000, random_state=SEED)
    m.fit(x, y)
    return Linear(m.coef_.ravel().astype(np.float64), float(m.intercept_[0]))


def _fit_nblr(x: Any, y: IntArray, c: float) -> Linear:
    """Logistic regression on features scaled by their NB log-count ratio (Wang & Manning 2012)."""
    import scipy.sparse as sp

    xb = (x > 0).astype(np.float64)
    p = 1.0 + np.asarray(xb[y == 1].sum(axis=0)).ravel()
    q = 1.0 + np.asarray(xb[y == 0].sum(axis=0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum()))
    inner = _fit_lr(x @ sp.diags(r), y, c)
    return Linear(inner.w * r, inner.b)


def _best_threshold(y: IntArray, s: FloatArray) -> tuple[float, float]:
    """Score threshold maximising F1 (on data the model did not train on)."""
    order = np.argsort(-s)
    ys = y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, ys.size + 1)
    f1 = 2 * tp / (k + ys.sum())
    i = int(np.argmax(f1))
    thr = float((s[order][i] + s[order][min(i + 1, s.size - 1)]) / 2)
    return thr, float(f1[i])


def _platt(s: FloatArray, y: IntArray) -> tuple[float, float]:
    """Calibration a, b so that sigmoid(a*s + b) is a probability (fit on held-out scores)."""
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
    m.fit(s.reshape(-1, 1), y)
    return float(m.coef_[0, 0]), float(m.intercept_[0])


def _folds(y: IntArray, k: int) -> list[tuple[IntArray, IntArray]]:
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=SEED)
    return [(tr.astype(np.int64), te.astype(np.int64)) for tr, te in skf.split(np.zeros(y.size), y)]


def _f1(y: IntArray, pred: npt.NDArray[np.bool_]) -> float:
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


class HeadResult:
    def __init__(self, model: Linear, calib: tuple[float, float], threshold_prob: float, info: dict[str, Any]) -> None:
        self.model = model
        self.calib = calib
        self.threshold_prob = threshold_prob
        self.info = info


def _finish(name: str, model: Linear, oof: FloatArray, y: IntArray, info: dict[str, Any]) -> HeadResult:
    thr, f1 = _best_threshold(y, oof)
    a, b = _platt(oof, y)
    prob_thr = float(1.0 / (1.0 + np.exp(-(a * thr + b))))
    info.update({"heldout_f1": round(f1, 4), "threshold_probability": round(prob_thr, 4)})
    log(f"head {name}: held-out F1 {f1:.4f} at probability {prob_thr:.3f}")
    return HeadResult(model, (a, b), prob_thr, info)


def train_abuse(xb: Any, yb: IntArray, xc: Any, yc: IntArray, xk: Any, yk: IntArray, folds: int) -> HeadResult:
    """The binary abuse head; see the module docstring for the ensemble."""
    log("abuse: auxiliary models on curse and K-MHaS")
    aux_c = _fit_lr(xc, yc, 4.0)
    aux_k = _fit_lr(xk, yk, 4.0)
    aux_scale = 0.1

    def stacked(x: Any) -> Any:
        import scipy.sparse as sp

        extra = np.column_stack([aux_c.score(x), aux_k.score(x)]) * aux_scale
        return sp.hstack([x, sp.csr_matrix(extra)]).tocsr()

    def fit_stack(x: Any, y: IntArray) -> Linear:
        m = _fit_lr(stacked(x), y, 4.0)
        d = x.shape[1]
        w = m.w[:d] + aux_scale * (m.w[d] * aux_c.w + m.w[d + 1] * aux_k.w)
        b = m.b + aux_scale * (m.w[d] * aux_c.b + m.w[d + 1] * aux_k.b)
        return Linear(w, b)

    members: list[Callable[[Any, IntArray], Linear]] = [lambda x, y: _fit_nblr(x, y, 4.0), fit_stack]
    oof = np.zeros((len(members), yb.size))
    for i, (tr, te) in enumerate(_folds(yb, folds)):
        for j, fit in enumerate(members):
            oof[j, te] = fit(xb[tr], yb[tr]).score(xb[te])
        log(f"abuse: fold {i + 1}/{folds} done")
    mu = oof.mean(axis=1)
    sd = oof.std(axis=1)
    ens_oof = ((oof - mu[:, None]) / sd[:, None]).sum(axis=0)
    log("abuse: final fit on all of BEEP! train")
    finals = [fit(xb, yb) for fit in members]
    w = sum(f.w / s for f, s in zip(finals, sd, strict=True))
    b = float(sum((f.b - m) / s for f, m, s in zip(finals, mu, sd, strict=True)))
    assert isinstance(w, np.ndarray)
    member_f1 = [round(_best_threshold(yb, oof[j])[1], 4) for j in range(len(members))]
    info = {"data": "BEEP! train (+ curse, K-MHaS valid via auxiliary models)", "members": ["nb-lr", "stacked-lr"],
            "member_heldout_f1": member_f1, "selection": f"{folds}-fold CV on BEEP! train"}  # fmt: skip
    return _finish("abuse", Linear(w, b), ens_oof, yb, info)


def train_simple(name: str, x: Any, y: IntArray, c: float, info: dict[str, Any]) -> HeadResult:
    """One logistic regression; threshold and calibration from a 20% split of its data."""
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(y.size)
    cut = y.size // 5
    te, tr = perm[:cut], perm[cut:]
    held = _fit_lr(x[tr], y[tr], c).score(x[te])
    model = _fit_lr(x, y, c)
    info["selection"] = "20% split of the head's training data"
    return _finish(name, model, held, y[te], info)


def quantize(w: FloatArray) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """int8 per head; the scale uses a high quantile so a few huge weights do not flatten the rest."""
    scale = np.maximum(np.quantile(np.abs(w), 0.99995, axis=0), 1e-9) / 127.0
    q = np.clip(np.rint(w / scale[None, :]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


NOTICE = """# Model data notice

The files `weights.npz` and `model.json` in this directory are a statistical model
(hashed n-gram weights) trained by `python -m sotong_moderation.training` on:

* **BEEP! Korean hate speech dataset** (kocohub/korean-hate-speech, `labeled/train.tsv`),
  by Jihyung Moon, Won Ik Cho and Junbum Lee, licensed **CC BY-SA 4.0**
  (https://creativecommons.org/licenses/by-sa/4.0/).
* **K-MHaS** (adlnlp/K-MHaS, `kmhas_valid.txt` only: `kmhas_test.txt` is kept for the
  out-of-domain evaluation and never used in training), by Jean Lee, Taejun Lim, Heejun Lee,
  Bogeun Jo, Yangsok Kim, Heegeun Yoon and Soyeon Caren Han, licensed **CC BY-SA 4.0** (per
  the dataset card, jeanlee/kmhas_korean_hate_speech).
* **Curse-detection-data** (2runo/Curse-detection-data, `dataset.txt`), licensed **MIT**,
  Copyright (c) 2020 2runo.  The MIT licence text: Permission is hereby granted, free of
  charge, to any person obtaining a copy of this software and associated documentation
  files, to deal in the Software without restriction, subject to the condition that the
  above copyright notice and this permission notice shall be included in all copies or
  substantial portions of the Software.  THE SOFTWARE IS PROVIDED "AS IS", WITHOUT
  WARRANTY OF ANY KIND.

Because the model is derived from CC BY-SA 4.0 material, these model files are shared
under **CC BY-SA 4.0** as well (attribution above; changes: the texts were normalized,
hashed into n-gram features and used to fit linear classifiers; no text is stored in the
model).  This notice must travel with the model files.  The surrounding source code is
under the project's own licence.
"""


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m sotong_moderation.training",
        description="Train the moderation classifier from the public datasets (BEEP! dev is never read).",
    )
    p.add_argument("--datasets", type=Path, required=True, help="folder with beep/, curse/ and kmhas/")
    p.add_argument("--out", type=Path, default=default_model_dir(), help="model directory to write")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds for the abuse head")
    p.add_argument("--bits", type=int, default=DEFAULT_SPEC.bits, help="log2 of the number of hash buckets")
    args = p.parse_args(argv)
    np.random.seed(SEED)
    spec = FeatureSpec(bits=args.bits)
    ds: Path = args.datasets

    log("loading data")
    bt, bh, bbias = load_beep(ds / "beep" / "train.tsv")
    ct, cy = load_curse(ds / "curse" / "dataset.txt")
    assert not set(TRAINING_FILES) & set(HELD_OUT)
    kt, ky = load_kmhas([ds / "kmhas" / "kmhas_valid.txt"])
    log(
        f"BEEP! train {len(bt)}, curse {len(ct)}, K-MHaS valid {len(kt)} (held out and not read: {', '.join(HELD_OUT)})"
    )
    log("extracting features")
    xb, xc, xk = featurize(bt, spec), featurize(ct, spec), featurize(kt, spec)

    yb = np.array([h != "none" for h in bh], dtype=np.int64)
    yc = np.array(cy, dtype=np.int64)
    yk_abuse = np.array([KMHAS_NOT_HATE not in s for s in ky], dtype=np.int64)
    results: dict[str, HeadResult] = {}
    results["abuse"] = train_abuse(xb, yb, xc, yc, xk, yk_abuse, args.folds)

    import scipy.sparse as sp

    log("hate head")
    y_hate = np.concatenate(
        [
            np.array([h == "hate" for h in bh], dtype=np.int64),
            np.array([bool(s & KMHAS_GROUP_HATE) for s in ky], dtype=np.int64),
        ]
    )
    results["hate"] = train_simple(
        "hate", sp.vstack([xb, xk]).tocsr(), y_hate, 4.0, {"data": "BEEP! hate label + K-MHaS valid group labels"}
    )
    log("personal_attack head")
    y_pa = np.array([h != "none" and b == "none" for h, b in zip(bh, bbias, strict=True)], dtype=np.int64)
    results["personal_attack"] = train_simple(
        "personal_attack", xb, y_pa, 4.0, {"data": "BEEP! offensive/hate without group bias"}
    )
    log("political head")
    y_pol = np.array([KMHAS_POLITICS in s for s in ky], dtype=np.int64)
    results["political"] = train_simple("political", xk, y_pol, 4.0, {"data": "K-MHaS valid politics label"})

    w = np.column_stack([results[h].model.w for h in HEADS])
    q, scale = quantize(w)
    # Check that int8 storage does not move the abuse head's decisions.
    deq = q.astype(np.float64) * scale[None, :].astype(np.float64)
    agree = float(np.mean((xb @ deq[:, 0] > -results["abuse"].model.b) == (xb @ w[:, 0] > -results["abuse"].model.b)))
    log(f"int8 weights: abuse decisions unchanged on {agree:.4%} of BEEP! train")

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    version = VERSION
    np.savez_compressed(
        out / "weights.npz",
        weights=q,
        scale=scale,
        bias=np.array([results[h].model.b for h in HEADS], dtype=np.float32),
        calib_a=np.array([results[h].calib[0] for h in HEADS], dtype=np.float32),
        calib_b=np.array([results[h].calib[1] for h in HEADS], dtype=np.float32),
    )
    meta = {
        "version": version,
        "heads": list(HEADS),
        "thresholds": {h: round(results[h].threshold_prob, 6) for h in HEADS},
        "features": spec.to_json(),
        "training": {h: results[h].info for h in HEADS},
        "seed": SEED,
        "int8_agreement_abuse": round(agree, 6),
        "licence": "CC BY-SA 4.0 (derived from BEEP! and K-MHaS valid); see NOTICE.md",
        "held_out": list(HELD_OUT),
    }
    (out / "model.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "NOTICE.md").write_text(NOTICE, encoding="utf-8")
    size = (out / "weights.npz").stat().st_size
    log(f"wrote {out}/weights.npz ({size / 1e6:.2f} MB), model.json, NOTICE.md; version {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
