"""Measure the pipeline: ``python -m sotong_moderation.evaluation --datasets DIR --json-out FILE``.

What it reports, and on what:

* **abuse (binary) on BEEP! dev** (offensive or hate vs none; 471 rows, never used for
  training or tuning): the classifier's abuse head at the threshold stored in the model,
  and the full pipeline's ``profanity`` clause with the packaged policy, for comparison.
* **abuse out of domain on K-MHaS test** (``kmhas/kmhas_test.txt``, 21,939 news comments
  from another site and another annotation effort than BEEP!'s entertainment comments;
  hate speech of any class vs ``not_hate``): the same head at the same threshold.  Never
  used for training or tuning (training reads K-MHaS valid only); printed beside the
  in-domain BEEP! dev figure.  K-MHaS is CC BY-SA 4.0 per its dataset card; only scores
  are computed, nothing of it is stored.
* **filler robustness**: the same, after inserting filler characters (``.``, ``1``, a
  space, ...) between Hangul syllables of the abusive dev comments with a fixed seed, as
  an evader would (``시1발``); the drop in F1 is the figure to watch.
* **civic set**: precision, recall and F1 per clause on the project's own labelled set
  (``eval_sets/civic.jsonl``, realistic Seoul civic comments with hard negatives), run
  in order through one repetition state, plus how many clean comments were not simply
  published.  The rules were developed against this set, so its figures are optimistic.
* **held-out civic set** (``eval_sets/civic_heldout.jsonl``): written after the rules
  were frozen and never tuned on; the honest figure for the rule-based clauses.
* **throughput**: decisions per second in this process on the civic comments.

Prints a table and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .classifier import default_model_dir
from .normalize import is_hangul, normalize
from .pipeline import Pipeline, RepetitionState
from .policy import CLAUSES, default_policy_path

__all__ = ["Counts", "default_civic_path", "insert_fillers", "main"]

FILLERS = (".", "1", " ", "*", "_", "-", "~", "^")
FILLER_SEED = 20261124
FILLER_RATE = 0.35


def default_civic_path() -> Path:
    return Path(str(resources.files("sotong_moderation") / "eval_sets" / "civic.jsonl"))


def default_heldout_path() -> Path:
    return Path(str(resources.files("sotong_moderation") / "eval_sets" / "civic_heldout.jsonl"))


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, gold: bool, pred: bool) -> None:
        if gold and pred:
            self.tp += 1
        elif pred:
            self.fp += 1
        elif gold:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "support": self.tp + self.fn,
        }


def insert_fillers(text: str, rng: random.Random, rate: float = FILLER_RATE) -> str:
    """Put a random filler between adjacent Hangul letters with probability ``rate``."""
    out: list[str] = []
    for i, ch in enumerate(text):
        out.append(ch)
        if i + 1 < len(text) and is_hangul(ch) and is_hangul(text[i + 1]) and rng.random() < rate:
            out.append(rng.choice(FILLERS))
    return "".join(out)


def _beep_dev(path: Path) -> tuple[list[str], list[bool], list[bool]]:
    texts: list[str] = []
    abusive: list[bool] = []
    hate: list[bool] = []
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        for row in rows:
            if len(row) >= 4:
                texts.append(row[0])
                abusive.append(row[3] != "none")
                hate.append(row[3] == "hate")
    return texts, abusive, hate


def _kmhas(path: Path) -> tuple[list[str], list[bool]]:
    """Texts and binary labels (any hate class vs not_hate) of a K-MHaS split."""
    texts: list[str] = []
    abusive: list[bool] = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        if "\t" not in line:
            continue
        text, label = line.rsplit("\t", 1)
        try:
            ids = {int(x) for x in label.split(",")}
        except ValueError:
            continue
        texts.append(text.strip('"'))
        abusive.append(8 not in ids)
    return texts, abusive


def _model_block(pipeline: Pipeline, texts: list[str], abusive: list[bool]) -> tuple[Counts, dict[str, float]]:
    """The abuse head at its stored threshold, and how many comments per second it scores in this process."""
    assert pipeline.classifier is not None
    clf = pipeline.classifier
    head = clf.heads.index("abuse")
    counts = Counts()
    start, cpu = time.perf_counter(), time.process_time()
    for text, gold in zip(texts, abusive, strict=True):
        score = clf.predict(normalize(text))[head]
        counts.add(gold, score.probability >= score.threshold)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    speed = {
        "comments": len(texts),
        "comments_per_second": round(len(texts) / wall, 1) if wall > 0 else 0.0,
        "comments_per_cpu_second": round(len(texts) / cpu, 1) if cpu > 0 else 0.0,
        "mean_chars": round(sum(map(len, texts)) / max(1, len(texts)), 1),
    }
    return counts, speed


def _beep_block(pipeline: Pipeline, texts: list[str], abusive: list[bool], hate: list[bool]) -> dict[str, Counts]:
    assert pipeline.classifier is not None
    clf = pipeline.classifier
    heads = {h: i for i, h in enumerate(clf.heads)}
    model_abuse, model_hate, pipe_abuse = Counts(), Counts(), Counts()
    for i, (text, gold, gold_hate) in enumerate(zip(texts, abusive, hate, strict=True)):
        scores = clf.predict(normalize(text))
        a = scores[heads["abuse"]]
        model_abuse.add(gold, a.probability >= a.threshold)
        h = scores[heads["hate"]]
        model_hate.add(gold_hate, h.probability >= h.threshold)
        d = pipeline.decide(f"beep-{i}", text, f"beep-{i}")
        pipe_abuse.add(gold, bool({"profanity", "public_interest", "slander"} & set(d.categories)))
    return {"model_abuse": model_abuse, "model_hate": model_hate, "pipeline_abuse": pipe_abuse}


def _civic(pipeline: Pipeline, path: Path) -> tuple[dict[str, Counts], dict[str, Any], list[dict[str, Any]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    per_clause = {c: Counts() for c in CLAUSES}
    state = RepetitionState()
    clean_total = 0
    clean_flagged = 0
    errors: list[dict[str, Any]] = []
    for r in rows:
        d = pipeline.decide(r["id"], r["text"], r.get("author", ""), state)
        gold = set(r["labels"])
        pred = set(d.categories)
        for c in CLAUSES:
            per_clause[c].add(c in gold, c in pred)
        if not gold:
            clean_total += 1
            if d.action != "publish" or d.categories:
                clean_flagged += 1
        if gold != pred:
            errors.append({"id": r["id"], "text": r["text"], "gold": sorted(gold), "predicted": sorted(pred)})
    summary = {
        "rows": len(rows),
        "clean_rows": clean_total,
        "clean_not_published_as_is": clean_flagged,
        "clean_false_flag_rate": round(clean_flagged / clean_total, 4) if clean_total else 0.0,
    }
    return per_clause, summary, errors


def _throughput(pipeline: Pipeline, texts: list[str], seconds: float = 3.0) -> dict[str, float]:
    state = RepetitionState()
    for i, t in enumerate(texts[:100]):
        pipeline.decide(f"warm{i}", t, "warm", state)
    n = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    while time.perf_counter() - start < seconds:
        for t in texts:
            pipeline.decide(str(n), t, f"a{n % 997}", state)
            n += 1
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    # Wall-clock rate depends on what else the machine runs; the CPU-time rate is what
    # one process achieves with a core to itself, so report both.
    return {
        "decisions": n,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "decisions_per_second": round(n / elapsed, 1),
        "decisions_per_cpu_second": round(n / cpu, 1) if cpu > 0 else 0.0,
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
    }


def _row(name: str, c: Counts, note: str = "") -> str:
    return f"{name:<48} {c.precision:>6.3f} {c.recall:>6.3f} {c.f1:>6.3f} {c.tp + c.fn:>6d}  {note}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m sotong_moderation.evaluation",
        description="Precision/recall/F1 per clause on held-out public data and the project's civic set.",
    )
    p.add_argument("--datasets", type=Path, help="folder with beep/dev.tsv (required unless --speed-only)")
    p.add_argument("--speed-only", action="store_true", help="only measure decisions per second and print them")
    p.add_argument("--json-out", type=Path, default=Path("bench-results/moderation-eval.json"))
    p.add_argument("--policy", type=Path, default=default_policy_path())
    p.add_argument("--model", type=Path, default=default_model_dir())
    p.add_argument("--civic", type=Path, default=default_civic_path(), help="labelled civic JSONL (development set)")
    p.add_argument(
        "--heldout", type=Path, default=default_heldout_path(), help="civic JSONL written after the rules were frozen"
    )
    p.add_argument("--speed-seconds", type=float, default=3.0)
    p.add_argument("--errors", action="store_true", help="print civic rows where labels and decision differ")
    args = p.parse_args(argv)
    if args.datasets is None and not args.speed_only:
        p.error("--datasets is required (or use --speed-only)")

    pipeline = Pipeline.from_files(args.policy, args.model)
    if args.speed_only:
        civic_texts = [json.loads(x)["text"] for x in args.civic.read_text(encoding="utf-8").splitlines() if x.strip()]
        typical = [" ".join(civic_texts[i : i + 3]) for i in range(0, len(civic_texts) - 2)]
        print(json.dumps(_throughput(pipeline, typical, args.speed_seconds)))
        return 0
    texts, abusive, hate = _beep_dev(args.datasets / "beep" / "dev.tsv")
    plain = _beep_block(pipeline, texts, abusive, hate)
    ood_texts, ood_abusive = _kmhas(args.datasets / "kmhas" / "kmhas_test.txt")
    ood, ood_speed = _model_block(pipeline, ood_texts, ood_abusive)
    rng = random.Random(FILLER_SEED)
    noisy_texts = [insert_fillers(t, rng) if a else t for t, a in zip(texts, abusive, strict=True)]
    noisy = _beep_block(pipeline, noisy_texts, abusive, hate)
    civic, civic_summary, errors = _civic(pipeline, args.civic)
    heldout, heldout_summary, heldout_errors = _civic(pipeline, args.heldout)
    civic_texts = [json.loads(x)["text"] for x in args.civic.read_text(encoding="utf-8").splitlines() if x.strip()]
    # Typical comments are 50-200 characters: join three civic sentences per comment.
    typical = [" ".join(civic_texts[i : i + 3]) for i in range(0, len(civic_texts) - 2)]
    speed = _throughput(pipeline, typical, args.speed_seconds)

    lines = [
        f"model {pipeline.model_version}   policy {pipeline.policy_store.current.version}",
        f"{'measure':<48} {'P':>6} {'R':>6} {'F1':>6} {'pos':>6}",
        _row("BEEP! dev abuse (model head, in domain)", plain["model_abuse"], "goal F1>=0.84"),
        _row(
            "K-MHaS test abuse (model head, out of domain)",
            ood,
            f"goal F1>=0.81; never trained or tuned on ({len(ood_texts)} comments)",
        ),
        f"in domain F1 {plain['model_abuse'].f1:.3f}   out of domain F1 {ood.f1:.3f}   "
        f"model scoring {ood_speed['comments_per_second']:.0f} comments/s in one process (goal >= 3000)",
        _row(
            "BEEP! dev abuse + fillers (model head)",
            noisy["model_abuse"],
            f"drop {plain['model_abuse'].f1 - noisy['model_abuse'].f1:+.3f} (goal <= 0.03)",
        ),
        _row("BEEP! dev abuse (pipeline, civic policy)", plain["pipeline_abuse"], "thresholds set for civic traffic"),
        _row(
            "BEEP! dev abuse + fillers (pipeline)",
            noisy["pipeline_abuse"],
            f"drop {plain['pipeline_abuse'].f1 - noisy['pipeline_abuse'].f1:+.3f}",
        ),
        _row("BEEP! dev hate (model head, hate vs rest)", plain["model_hate"]),
    ]
    goals = {"personal_data": "goal P>=0.99 R>=0.95"}
    for c in CLAUSES:
        cnt = civic[c]
        if cnt.tp + cnt.fn + cnt.fp == 0:
            continue
        small = " (small sample)" if cnt.tp + cnt.fn < 10 else ""
        lines.append(_row(f"civic {c}", cnt, goals.get(c, "") + small))
    for c in CLAUSES:
        cnt = heldout[c]
        if cnt.tp + cnt.fn + cnt.fp == 0:
            continue
        small = " (small sample)" if cnt.tp + cnt.fn < 10 else ""
        lines.append(_row(f"held-out civic {c}", cnt, goals.get(c, "") + small))
    lines.append(
        "held-out clean comments not published as is: "
        f"{heldout_summary['clean_not_published_as_is']}/{heldout_summary['clean_rows']}"
    )
    lines.append(
        "civic clean comments not published as is: "
        f"{civic_summary['clean_not_published_as_is']}/{civic_summary['clean_rows']}"
    )
    lines.append(
        f"throughput: {speed['decisions_per_second']:.0f} decisions/s wall, "
        f"{speed['decisions_per_cpu_second']:.0f} per CPU-second (mean {speed['mean_chars']} chars, one process)"
    )
    print("\n".join(lines))
    if args.errors:
        for e in errors + heldout_errors:
            print(json.dumps(e, ensure_ascii=False))

    result = {
        "model_version": pipeline.model_version,
        "policy_version": pipeline.policy_store.current.version,
        "beep_dev": {k: v.to_json() for k, v in plain.items()},
        "kmhas_test_out_of_domain": {"model_abuse": ood.to_json(), "speed": ood_speed},
        "beep_dev_with_fillers": {k: v.to_json() for k, v in noisy.items()},
        "filler_f1_drop": {
            "model_abuse": round(plain["model_abuse"].f1 - noisy["model_abuse"].f1, 4),
            "pipeline_abuse": round(plain["pipeline_abuse"].f1 - noisy["pipeline_abuse"].f1, 4),
        },
        "filler_settings": {"seed": FILLER_SEED, "rate": FILLER_RATE, "fillers": list(FILLERS)},
        "civic": {c: civic[c].to_json() for c in CLAUSES},
        "civic_summary": civic_summary,
        "civic_heldout": {c: heldout[c].to_json() for c in CLAUSES},
        "civic_heldout_summary": heldout_summary,
        "throughput": speed,
        "goals": {
            "beep_dev_abuse_f1>=0.84": plain["model_abuse"].f1 >= 0.84,
            "kmhas_test_abuse_f1>=0.81": ood.f1 >= 0.81,
            "model_comments_per_second>=3000": ood_speed["comments_per_second"] >= 3000,
            "personal_data_precision>=0.99": civic["personal_data"].precision >= 0.99,
            "personal_data_recall>=0.95": civic["personal_data"].recall >= 0.95,
            "heldout_personal_data_precision>=0.99": heldout["personal_data"].precision >= 0.99,
            "heldout_personal_data_recall>=0.95": heldout["personal_data"].recall >= 0.95,
            "filler_f1_drop<=0.03": plain["model_abuse"].f1 - noisy["model_abuse"].f1 <= 0.03,
            "decisions_per_second>=3000": speed["decisions_per_second"] >= 3000,
            "decisions_per_cpu_second>=3000": speed["decisions_per_cpu_second"] >= 3000,
        },
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
