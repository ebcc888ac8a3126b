"""Runs the policy's matching rules over the views of one comment."""

from __future__ import annotations

from dataclasses import dataclass

from .advertising import find_links, link_matches
from .normalize import NormalizedText
from .policy import Policy
from .profanity import find_words

__all__ = ["RuleHit", "run_rules"]


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that matched, with the span in the original text that made it match."""

    start: int
    end: int
    clause: str
    rule: str
    score: float
    reason: str
    action: str | None = None


def run_rules(policy: Policy, nt: NormalizedText) -> list[RuleHit]:
    """Every hit of every rule; views a policy does not use are never built."""
    hits: list[RuleHit] = []
    original = nt.original
    for view_name, rules in policy.rules_by_view.items():
        if not rules or (view_name == "latin" and not nt.has_latin):
            continue
        view = nt.view(view_name)
        grams: set[str] | None = None
        links: list[tuple[int, int, str]] | None = None
        for rule in rules:
            if rule.prefixes:
                if grams is None:
                    t = view.text
                    grams = {t[i : i + 2] for i in range(len(t) - 1)}
                    grams.update(t)
                if rule.prefixes.isdisjoint(grams):
                    continue
            if rule.if_contains_re is not None and rule.if_contains_re.search(view.text) is None:
                continue
            if rule.kind == "link_domain":
                if links is None:
                    links = list(find_links(view.text))
                assert rule.link is not None
                for start, end, host in links:
                    if link_matches(host, rule.link) is not None:
                        o_start, o_end = view.original_span(start, end)
                        hits.append(RuleHit(o_start, o_end, rule.clause, rule.id, rule.score, rule.reason, rule.action))
                continue
            assert rule.regex is not None
            for o_start, o_end in find_words(
                view, original, rule.regex, rule.exceptions, spacing_guard=view_name != "base"
            ):
                hits.append(RuleHit(o_start, o_end, rule.clause, rule.id, rule.score, rule.reason, rule.action))
    return hits
