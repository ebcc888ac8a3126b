"""Opinion groups of a debate, Polis style: who votes alike, what each group stands for, what everyone shares.

Citizens vote agree / disagree / pass on a debate's statements. The votes form a participant × statement matrix;
PCA projects it to two dimensions, k-means (k from 2 to 5, chosen by silhouette) finds groups, and for each group
the statements it votes on most differently from the rest (representative, Polis's repness) are listed, beside
the statements most of everyone agrees or disagrees with (consensus). red-dwarf (PyPI) implements Polis's
pipeline; this module feeds it and reads its answer.

Reproducible: the input is the stored votes, sorted, with participants numbered in sorted order, and k-means gets
a fixed seed, so the same votes and seed always give the same groups. `digest` fingerprints the input, and the
stored result carries it and the seed.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

AGREE, DISAGREE, PASS = 1, -1, 0
MIN_PARTICIPANTS = 4
POLIS_MIN_VOTES = 7  # Polis clusters only participants with at least this many votes (fewer statements: all)


@dataclass(frozen=True, order=True)
class Vote:
    participant: str
    statement_id: int
    vote: int


def digest(votes: list[Vote]) -> str:
    h = hashlib.sha256()
    for v in sorted(votes):
        h.update(f"{v.participant}\t{v.statement_id}\t{v.vote}\n".encode())
    return h.hexdigest()


def compute(votes: list[Vote], seed: int) -> dict[str, Any]:
    """Groups, representative and consensus statements of `votes` (JSON-ready; same input and seed, same output)."""
    ordered = sorted(votes)
    participants = sorted({v.participant for v in ordered})
    statements = sorted({v.statement_id for v in ordered})
    result: dict[str, Any] = {"participants": len(participants), "groups": [], "consensus": []}
    if len(participants) < MIN_PARTICIPANTS or len(statements) < 2:
        return result
    number = {p: i for i, p in enumerate(participants)}
    raw = [
        {"participant_id": number[v.participant], "statement_id": v.statement_id, "vote": v.vote, "modified": i}
        for i, v in enumerate(ordered)
    ]
    logging.getLogger("reddwarf").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic's and scikit-learn's warnings about red-dwarf's own code
        from reddwarf.implementations.polis import run_pipeline

        run = run_pipeline(
            votes=raw,
            random_state=seed,
            min_user_vote_threshold=min(POLIS_MIN_VOTES, len(statements)),
        )
    labels = [int(x) for x in run.clusterer.labels_] if run.clusterer is not None else []
    sizes = Counter(labels)
    for group_id in sorted(sizes):
        picked = run.repness.get(group_id, []) if run.repness else []
        result["groups"].append(
            {
                "group_id": group_id,
                "members": sizes[group_id],
                "representative": [
                    {
                        "statement_id": int(s["tid"]),
                        "direction": str(s["repful-for"]),
                        "probability": round(float(s["p-success"]), 6),
                        "repness": round(float(s["repness"]), 6),
                    }
                    for s in picked
                ],
            }
        )
    for direction in ("agree", "disagree"):
        for s in (run.consensus or {}).get(direction, []):
            result["consensus"].append(
                {"statement_id": int(s["tid"]), "direction": direction, "probability": round(float(s["p-success"]), 6)}
            )
    return result
