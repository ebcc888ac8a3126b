"""What each idea for the out-of-domain goal is worth, by 5-fold cross-validation on the training data only.

    python services/moderation/evaluation/ood_ideas.py --datasets /work/shared/datasets [variant ...]

Reads BEEP! train, the curse dataset and K-MHaS valid; never BEEP! dev or K-MHaS test (the two evaluation sets).
Folds are stratified by (corpus, label). For each variant it prints one JSON line: per corpus the F1 of the
out-of-fold scores at that corpus's best threshold, and at one shared threshold (the one maximising BEEP + K-MHaS
F1), which is what a deployed model has. Variants: beep_only, pooled, pooled_weighted, pooled_lr, experts,
words, morph (needs kiwipiepy and kiwipiepy_model), constrained (BEEP model + weighted K-MHaS expert with the
threshold held where BEEP F1 stays at the shipped model's level), diagnose (precision and recall on K-MHaS valid
of a BEEP-trained model at BEEP's threshold), oracle_gate (each corpus scored by its own expert at its own
threshold, as if a router always knew which site a comment came from: the most any routing of these members can
give, and the K-MHaS expert's figure is this model family's in-domain ceiling on K-MHaS).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from sotong_moderation import training as T
from sotong_moderation.features import FeatureSpec

Fit = Callable[[Any, Any, Any], T.Linear]


def f1_at(y: Any, s: Any, t: float) -> float:
    return T._f1(y, s >= t)


def report(name: str, oof: Any, y: Any, src: Any) -> None:
    out: dict[str, Any] = {"variant": name}
    for s in ("beep", "kmhas", "curse"):
        sel = src == s
        out[f"{s}_best"] = round(T._best_threshold(y[sel], oof[sel])[1], 4)
    b, k = src == "beep", src == "kmhas"
    cands = np.quantile(oof, np.linspace(0.1, 0.9, 241))
    t = max(cands, key=lambda c: f1_at(y[b], oof[b], c) + f1_at(y[k], oof[k], c))
    for s in ("beep", "kmhas", "curse"):
        sel = src == s
        out[f"{s}_at_one_threshold"] = round(f1_at(y[sel], oof[sel], t), 4)
    print(json.dumps(out), flush=True)


def morph_features(texts: Sequence[str], bits: int = 18) -> Any:
    from kiwipiepy import Kiwi

    kiwi = Kiwi(num_workers=2)
    rows: list[int] = []
    cols: list[int] = []
    for i, tokens in enumerate(kiwi.tokenize(list(texts))):
        forms = [f"{t.form}/{t.tag[:2]}" for t in tokens]
        grams = forms + [a + "|" + b for a, b in itertools.pairwise(forms)]
        for g in grams:
            rows.append(i)
            cols.append(zlib.crc32(g.encode()) & ((1 << bits) - 1))
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), 1 << bits))
    m.data[:] = 1.0
    n = np.asarray(m.sum(axis=1)).ravel()
    n[n == 0] = 1
    return sp.diags(1 / np.sqrt(n)) @ m


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", type=Path, required=True)
    p.add_argument("variants", nargs="*", default=["beep_only", "pooled", "pooled_lr", "experts", "constrained"])
    args = p.parse_args(argv)
    ds: Path = args.datasets
    bt, bh, _ = T.load_beep(ds / "beep" / "train.tsv")
    ct, cy = T.load_curse(ds / "curse" / "dataset.txt")
    kt, ky = T.load_kmhas([ds / "kmhas" / "kmhas_valid.txt"])
    texts = [*bt, *kt, *ct]
    y = np.concatenate(
        [
            np.array([h != "none" for h in bh], dtype=np.int64),
            np.array([8 not in s for s in ky], dtype=np.int64),
            np.array(cy, dtype=np.int64),
        ]
    )
    src = np.array(["beep"] * len(bt) + ["kmhas"] * len(kt) + ["curse"] * len(ct))
    x = T.featurize(texts)
    strat = np.array([f"{s}{v}" for s, v in zip(src, y, strict=True)])
    folds = list(StratifiedKFold(5, shuffle=True, random_state=T.SEED).split(np.zeros(y.size), strat))

    def oof(fit: Fit, xm: Any = x) -> Any:
        out = np.zeros(y.size)
        for tr, te in folds:
            out[te] = fit(xm[tr], y[tr], src[tr]).score(xm[te])
        return out

    def z(v: Any) -> Any:
        return (v - v.mean()) / v.std()

    def nblr(c: float = 4.0) -> Fit:
        return lambda xs, ys, ss: T._fit_nblr(xs, ys, c)

    def only(corpus: str) -> Fit:
        return lambda xs, ys, ss: T._fit_nblr(xs[ss == corpus], ys[ss == corpus], 4.0)

    def weighted(w: dict[str, float]) -> Fit:
        def fit(xs: Any, ys: Any, ss: Any) -> T.Linear:
            xb = (xs > 0).astype(np.float64)
            pos = 1.0 + np.asarray(xb[ys == 1].sum(axis=0)).ravel()
            neg = 1.0 + np.asarray(xb[ys == 0].sum(axis=0)).ravel()
            r = np.log((pos / pos.sum()) / (neg / neg.sum()))
            m = LogisticRegression(C=4.0, solver="liblinear", max_iter=5000, random_state=T.SEED)
            m.fit(xs @ sp.diags(r), ys, sample_weight=np.array([w.get(v, 1.0) for v in ss]))
            return T.Linear(m.coef_.ravel() * r, float(m.intercept_[0]))

        return fit

    for variant in args.variants:
        if variant == "beep_only":
            report("NB-LR on BEEP! only (other corpora out of domain)", oof(only("beep")), y, src)
        elif variant == "pooled":
            for c in (2.0, 4.0, 8.0):
                report(f"NB-LR pooled, C={c}", oof(nblr(c)), y, src)
        elif variant == "pooled_weighted":
            report("NB-LR pooled, BEEP! weight 2", oof(weighted({"beep": 2.0})), y, src)
        elif variant == "pooled_lr":
            a = oof(nblr())
            b = oof(lambda xs, ys, ss: T._fit_lr(xs, ys, 4.0))
            report("NB-LR + LR pooled (z-score sum)", z(a) + z(b), y, src)
        elif variant == "experts":
            a, eb, ek = oof(nblr()), oof(only("beep")), oof(only("kmhas"))
            report("pooled + BEEP! expert + K-MHaS expert (z-score sum)", z(a) + z(eb) + z(ek), y, src)
            report("max of BEEP! and K-MHaS experts (z)", np.maximum(z(eb), z(ek)), y, src)
        elif variant == "words":
            xw = T.featurize(texts, FeatureSpec(word_orders=(1, 2)))
            report("NB-LR pooled + word 1-2-grams", oof(nblr(), xw), y, src)
        elif variant == "morph":
            xm = sp.hstack([x, morph_features(texts)]).tocsr()
            report("NB-LR pooled + kiwipiepy morpheme 1-2-grams", oof(nblr(), xm), y, src)
        elif variant == "constrained":
            eb, ek = oof(only("beep")), oof(only("kmhas"))
            b, k = src == "beep", src == "kmhas"
            for w in (0.0, 0.25, 0.5, 1.0):
                s = (eb - eb[b].mean()) / eb[b].std() + w * (ek - ek[k].mean()) / ek[k].std()
                ok = [
                    (f1_at(y[k], s[k], t), f1_at(y[b], s[b], t))
                    for t in np.quantile(s, np.linspace(0.1, 0.9, 321))
                    if f1_at(y[b], s[b], t) >= 0.785
                ]
                best = max(ok) if ok else (None, None)
                print(json.dumps({"variant": f"BEEP! model + {w} x K-MHaS expert, BEEP! F1 held >= 0.785",
                                  "kmhas": best[0], "beep": best[1]}), flush=True)  # fmt: skip
        elif variant == "oracle_gate":
            eb, ek = oof(only("beep")), oof(only("kmhas"))
            b, k = src == "beep", src == "kmhas"
            kt_best, kf1 = T._best_threshold(y[k], ek[k])
            pred = ek[k] >= kt_best
            tp = float(np.sum(pred & (y[k] == 1)))
            print(json.dumps({"variant": "oracle gate: BEEP! expert on BEEP!, K-MHaS expert on K-MHaS, own thresholds",
                              "beep": round(T._best_threshold(y[b], eb[b])[1], 4), "kmhas": round(kf1, 4),
                              "kmhas_precision": round(tp / max(1, pred.sum()), 3),
                              "kmhas_recall": round(tp / max(1, y[k].sum()), 3)}), flush=True)  # fmt: skip
        elif variant == "diagnose":
            b, k = src == "beep", src == "kmhas"
            eb = oof(only("beep"))
            t = T._best_threshold(y[b], eb[b])[0]
            pred = eb[k] >= t
            tp = float(np.sum(pred & (y[k] == 1)))
            print(json.dumps({"variant": "BEEP!-trained model on K-MHaS valid at BEEP!'s threshold",
                              "precision": round(tp / max(1, pred.sum()), 3),
                              "recall": round(tp / max(1, y[k].sum()), 3)}), flush=True)  # fmt: skip
        else:
            print(f"unknown variant {variant}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
