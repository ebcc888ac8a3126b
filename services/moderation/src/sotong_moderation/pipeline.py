"""The moderation pipeline: one comment in, one explainable decision out.

Stages run cheapest and most explainable first: normalization, the policy's rules
(links, word lists, patterns), personal data, repetition, then the trained classifier.
Every stage reports *evidence*: a span of the original text, the clause and rule (or
model version and head) behind it, its score and the threshold it was held against.
Scores of one clause combine as ``1 - prod(1 - score)`` over distinct rules, and the
clause's thresholds turn the combined score into review or removal.  Slander,
defamation, political purposes and copyright are never removed automatically.

Size cap: texts longer than :data:`MAX_TEXT_CHARS` characters are judged on that
prefix only, and the decision is at least ``review`` with evidence rule
``pipeline.truncated`` so a person looks at the rest.  ``decide`` never raises: an
unexpected internal error yields a ``review`` decision with rule ``pipeline.error``
(fail closed to a human, never to publication).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .classifier import Classifier, default_model_dir
from .normalize import normalize
from .personal_data import find_personal_data, mask_spans
from .policy import CLAUSES, NEVER_AUTO_REMOVE, Policy, PolicyStore, default_policy_path
from .repetition import RepetitionState, check_repetition
from .rules import run_rules

__all__ = ["ACTIONS", "MAX_TEXT_CHARS", "Decision", "Evidence", "Pipeline", "RepetitionState"]

MAX_TEXT_CHARS = 20_000
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _printable(text: str) -> str:
    """Lone surrogates (possible in any ``str``) become U+FFFD, one for one.

    Offsets stay valid, and downstream encoders (protobuf, UTF-8 JSON) never fail on a
    decision even when the input was garbage.
    """
    return _SURROGATE_RE.sub("\ufffd", text) if _SURROGATE_RE.search(text) else text


ACTIONS = ("publish", "review", "remove")
_RANK = {"publish": 0, "mask": 0, "review": 1, "remove": 2}


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a clause fired: a span ``[start, end)`` of the *original* text and its source."""

    start: int
    end: int
    clause: str
    rule: str
    score: float
    threshold: float
    text: str

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "clause": self.clause,
            "rule": self.rule,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    content_id: str
    action: str
    categories: list[str]
    evidence: list[Evidence]
    masked_text: str
    policy_version: str
    model_version: str
    clause_scores: dict[str, float] = field(default_factory=dict)
    truncated: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.content_id,
            "action": self.action,
            "categories": list(self.categories),
            "evidence": [e.to_json_dict() for e in self.evidence],
            "masked_text": self.masked_text,
            "policy_version": self.policy_version,
            "model_version": self.model_version,
            "clause_scores": {k: round(v, 4) for k, v in self.clause_scores.items()},
            "truncated": self.truncated,
        }


@dataclass(slots=True)
class _Signal:
    start: int
    end: int
    clause: str
    rule: str
    score: float
    text: str | None = None  # None: quote the original span


class Pipeline:
    """Policy + model; ``decide`` is safe to call from many threads (state aside)."""

    def __init__(self, policy_store: PolicyStore, classifier: Classifier | None) -> None:
        self.policy_store = policy_store
        self.classifier = classifier

    @classmethod
    def default(cls) -> Pipeline:
        """The packaged policy and model."""
        return cls.from_files(default_policy_path(), default_model_dir())

    @classmethod
    def from_files(
        cls, policy_path: str | os.PathLike[str], model_dir: str | os.PathLike[str] | None = None
    ) -> Pipeline:
        """A pipeline from a policy file and a model directory (``None``: rules only)."""
        classifier = Classifier.load(Path(model_dir)) if model_dir is not None else None
        return cls(PolicyStore(policy_path), classifier)

    def reload_policy(self) -> Policy:
        """Reload the policy file; on error the previous policy stays and PolicyError is raised."""
        return self.policy_store.reload()

    @property
    def model_version(self) -> str:
        return self.classifier.version if self.classifier is not None else "none"

    def decide(self, content_id: str, text: str, author: str, state: RepetitionState | None = None) -> Decision:
        """Judge one comment.  ``state`` carries repetition history; ``None`` skips that stage."""
        policy = self.policy_store.current
        try:
            return self._decide(
                policy, str(content_id), text if isinstance(text, str) else str(text), str(author), state
            )
        except Exception as exc:
            return Decision(
                content_id=str(content_id),
                action="review",
                categories=[],
                evidence=[Evidence(0, 0, "pipeline", "pipeline.error", 1.0, 1.0, type(exc).__name__)],
                masked_text="",
                policy_version=policy.version,
                model_version=self.model_version,
            )

    def _decide(
        self, policy: Policy, content_id: str, text: str, author: str, state: RepetitionState | None
    ) -> Decision:
        truncated = len(text) > MAX_TEXT_CHARS
        judged = text[:MAX_TEXT_CHARS] if truncated else text
        nt = normalize(judged)
        signals: list[_Signal] = []
        forced: dict[str, str] = {}  # clause -> strictest action a matching rule demands

        for hit in run_rules(policy, nt):
            signals.append(_Signal(hit.start, hit.end, hit.clause, hit.rule, hit.score))
            if hit.action is not None and _RANK[hit.action] > _RANK[forced.get(hit.clause, "publish")]:
                forced[hit.clause] = hit.action

        mask: list[tuple[int, int]] = []
        if policy.personal_data:
            by_kind = policy.personal_data_by_kind
            base = nt.base
            for m in find_personal_data(base.text, policy.personal_data_kinds):
                rule = by_kind.get(m.kind)
                if rule is None:
                    continue
                start, end = base.original_span(m.start, m.end)
                mask.append((start, end))
                signals.append(
                    _Signal(
                        start,
                        end,
                        "personal_data",
                        rule.id,
                        m.confidence,
                        mask_spans(text[start:end], [(0, end - start)]),
                    )
                )
                if rule.action != "mask" and _RANK.get(rule.action, 0) > _RANK.get(
                    forced.get("personal_data", "publish"), 0
                ):
                    forced["personal_data"] = rule.action

        if state is not None and "repetition" in policy.clauses:
            found = check_repetition(state, policy.repetition, content_id, author, nt.tight.text)
            if found is not None:
                signals.append(_Signal(0, len(judged), "repetition", found.rule, found.score,
                                       f"similar to {found.similar_to} ({found.similarity:.2f})"))  # fmt: skip

        head_thresholds: dict[str, tuple[float, float | None]] = {}
        if self.classifier is not None and policy.heads and nt.tight.text:
            scores = {s.head: s for s in self.classifier.predict(nt)}
            for head in policy.heads:
                hs = scores.get(head.head)
                if hs is None or head.clause not in policy.clauses:
                    continue
                review_at = head.review_at if head.review_at is not None else hs.threshold
                if hs.probability < review_at:
                    continue
                head_rule = f"model:{self.classifier.version}:{head.head}"
                head_thresholds[head_rule] = (review_at, head.remove_at)
                spans = self.classifier.explain(nt, head.head) or [(0, len(judged), 0.0)]
                for start, end, _w in spans:
                    signals.append(_Signal(start, end, head.clause, head_rule, hs.probability))

        # Combine per clause: strongest evidence per rule, noisy-or across rules.
        per_rule: dict[str, dict[str, float]] = defaultdict(dict)
        for s in signals:
            rules = per_rule[s.clause]
            rules[s.rule] = max(rules.get(s.rule, 0.0), s.score)
        clause_scores: dict[str, float] = {}
        clause_action: dict[str, tuple[str, float]] = {}
        for clause_name, rules in per_rule.items():
            clause = policy.clauses.get(clause_name)
            if clause is None:
                continue
            # Model heads carry their own thresholds, so only rules feed the clause's.
            keep = 1.0
            for rule_id, sc in rules.items():
                if rule_id not in head_thresholds:
                    keep *= 1.0 - sc
            combined = 1.0 - keep
            clause_scores[clause_name] = max([combined, *(sc for r, sc in rules.items() if r in head_thresholds)])
            action, threshold = "publish", clause.review_at
            if clause_name == "personal_data":
                # Personal data is masked; the detector's rule decides whether a person
                # must look as well.  Its clause thresholds do not apply.
                action, threshold = forced.get(clause_name, "mask"), 1.0
            elif clause.remove_at is not None and combined >= clause.remove_at:
                action, threshold = "remove", clause.remove_at
            elif combined >= clause.review_at:
                action = "review"
            # A model head may have its own thresholds (tuned per head, not per clause).
            for rule_id, sc in rules.items():
                ht = head_thresholds.get(rule_id)
                if ht is None:
                    continue
                if ht[1] is not None and sc >= ht[1] and _RANK[action] < _RANK["remove"]:
                    action, threshold = "remove", ht[1]
                elif sc >= ht[0] and action == "publish":
                    action, threshold = "review", ht[0]
            demanded = forced.get(clause_name)
            if clause_name != "personal_data" and demanded is not None and _RANK[demanded] > _RANK[action]:
                action, threshold = demanded, 0.0  # 0: the rule's action applies whenever it matches
            if clause_name in NEVER_AUTO_REMOVE and action == "remove":
                action = "review"
            clause_action[clause_name] = (action, threshold)

        categories = [c for c in CLAUSES if c in clause_action and clause_action[c][0] != "publish"]
        final = "publish"
        for c in categories:
            a = clause_action[c][0]
            a = "publish" if a == "mask" else a
            if _RANK[a] > _RANK[final]:
                final = a

        evidence: list[Evidence] = []
        for s in sorted(signals, key=lambda s: (s.start, s.end, s.clause)):
            if s.clause not in categories:
                continue
            threshold = clause_action[s.clause][1]
            ht = head_thresholds.get(s.rule)
            if ht is not None:  # model evidence is held against the head's own thresholds
                threshold = ht[1] if ht[1] is not None and s.score >= ht[1] else ht[0]
            quote = s.text if s.text is not None else judged[s.start : s.end]
            evidence.append(Evidence(s.start, s.end, s.clause, s.rule, s.score, threshold, _printable(quote)))
        if truncated:
            note = f"text has {len(text)} characters; judged the first {MAX_TEXT_CHARS}"
            evidence.append(Evidence(MAX_TEXT_CHARS, len(text), "pipeline", "pipeline.truncated", 1.0, 1.0, note))
            if final == "publish":
                final = "review"

        return Decision(
            content_id=_printable(content_id),
            action=final,
            categories=categories,
            evidence=evidence,
            masked_text=_printable(mask_spans(text, mask)),
            policy_version=policy.version,
            model_version=self.model_version,
            clause_scores=clause_scores,
            truncated=truncated,
        )
