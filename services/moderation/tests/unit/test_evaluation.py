from __future__ import annotations

import json
import random
from collections import Counter

from sotong_moderation.evaluation import Counts, default_civic_path, insert_fillers
from sotong_moderation.normalize import normalize
from sotong_moderation.policy import CLAUSES


def test_civic_set_is_large_labelled_and_covers_required_clauses() -> None:
    rows = [json.loads(x) for x in default_civic_path().read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    labels = Counter(label for r in rows for label in r["labels"])
    assert set(labels) <= set(CLAUSES)
    for clause in ("advertising", "personal_data", "political", "repetition", "defamation"):
        assert labels[clause] >= 10, clause
    assert sum(1 for r in rows if not r["labels"]) >= 100  # clean comments and hard negatives


def test_filler_insertion_is_seeded_and_undone_by_tight_view() -> None:
    text = "이런 시발 구청 같으니"
    a = insert_fillers(text, random.Random(1), rate=1.0)
    b = insert_fillers(text, random.Random(1), rate=1.0)
    assert a == b and a != text
    assert normalize(a).tight.text == normalize(text).tight.text


def test_counts_f1() -> None:
    c = Counts()
    for gold, pred in [(True, True), (True, False), (False, True), (False, False)]:
        c.add(gold, pred)
    assert (c.precision, c.recall, round(c.f1, 3)) == (0.5, 0.5, 0.5)
