from __future__ import annotations

import os
from pathlib import Path

import pytest

from sotong_moderation.policy import PolicyError, PolicyStore, default_policy_path, load_policy, parse_policy

MINIMAL = """\
version: "t1"
clauses:
  profanity: {review_at: 0.5, remove_at: 0.8}
  slander: {review_at: 0.5}
rules:
  - id: p.words
    clause: profanity
    kind: words
    score: 0.9
    reason: test
    words: [나쁜말]
"""


def test_default_policy_loads_and_covers_every_clause() -> None:
    policy = load_policy(default_policy_path())
    assert set(policy.clauses) == {
        "advertising", "copyright", "profanity", "slander", "defamation", "political", "repetition",
        "personal_data", "public_interest",
    }  # fmt: skip
    assert any(r.kind == "link_domain" for r in policy.rules)
    assert {r.kind for r in policy.personal_data} >= {"resident_registration", "phone", "email", "address"}


@pytest.mark.parametrize(
    ("broken", "line"),
    [
        (MINIMAL.replace("    score: 0.9", "    score: 9"), 9),
        (MINIMAL.replace("    kind: words", "    kind: wordz"), 8),
        (MINIMAL.replace("    clause: profanity", "    clause: nope"), 7),
        (MINIMAL.replace("words: [나쁜말]", "words: [나쁜말\n  - oops: ["), 12),
        (
            MINIMAL
            + "  - id: p.re\n    clause: profanity\n    kind: pattern\n    score: 0.5\n    reason: r\n"
            + "    patterns:\n      - 'ok'\n      - '(unclosed'\n",
            19,
        ),
        (MINIMAL.replace("  slander: {review_at: 0.5}", "  slander: {review_at: 0.5, remove_at: 0.9}"), 4),
    ],
)
def test_malformed_policy_is_refused_with_the_line(broken: str, line: int) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(broken, "policy.yaml")
    assert f"policy.yaml:{line}:" in str(exc.value)


def test_duplicate_rule_id_is_refused() -> None:
    doc = (
        MINIMAL
        + "  - id: p.words\n    clause: profanity\n    kind: words\n    score: 0.5\n    reason: r\n    words: [x]\n"
    )
    with pytest.raises(PolicyError, match=r":12: duplicate rule id"):
        parse_policy(doc, "policy.yaml")


def test_reload_keeps_previous_policy_when_new_file_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    store = PolicyStore(path)
    assert store.current.version == "t1"
    path.write_text(MINIMAL.replace('"t1"', '"t2"').replace("score: 0.9", "score: high"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"policy.yaml:9:"):
        store.reload()
    assert store.current.version == "t1"
    assert store.last_error is not None


def test_hot_reload_changes_decisions_without_restart(tmp_path: Path) -> None:
    from sotong_moderation.pipeline import Pipeline

    path = tmp_path / "policy.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    pipe = Pipeline.from_files(path, None)
    assert pipe.decide("1", "이건 새말 입니다", "a").action == "publish"
    path.write_text(MINIMAL.replace('"t1"', '"t2"').replace("[나쁜말]", "[나쁜말, 새말]"), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert pipe.policy_store.reload_if_changed()
    decision = pipe.decide("1", "이건 새말 입니다", "a")
    assert decision.action == "remove"
    assert decision.policy_version == "t2"


def test_pattern_rule_pre_check_skips_expression_unless_a_hint_occurs() -> None:
    doc = MINIMAL + (
        "  - id: p.pat\n    clause: profanity\n    kind: pattern\n    score: 0.9\n    reason: r\n"
        "    if_contains: [xyz]\n    patterns: ['ab{1,5}c']\n"
    )
    policy = parse_policy(doc, "policy.yaml")
    rule = next(r for r in policy.rules if r.id == "p.pat")
    assert rule.if_contains_re is not None
    from sotong_moderation.normalize import normalize
    from sotong_moderation.rules import run_rules

    assert [h.rule for h in run_rules(policy, normalize("abbc"))] == []
    assert [h.rule for h in run_rules(policy, normalize("abbc xyz"))] == ["p.pat"]


def test_rule_action_forces_the_clause_and_is_refused_for_never_remove_clauses(tmp_path: Path) -> None:
    from sotong_moderation.pipeline import Pipeline

    doc = MINIMAL + (
        "  - id: p.soft\n    clause: profanity\n    kind: words\n    score: 0.1\n    reason: r\n"
        "    action: review\n    words: [약한말]\n"
    )
    path = tmp_path / "policy.yaml"
    path.write_text(doc, encoding="utf-8")
    decision = Pipeline.from_files(path, None).decide("1", "이건 약한말 이에요", "a")
    assert decision.action == "review" and decision.categories == ["profanity"]
    bad = MINIMAL + (
        "  - id: s.x\n    clause: slander\n    kind: words\n    score: 0.1\n    reason: r\n"
        "    action: remove\n    words: [x]\n"
    )
    with pytest.raises(PolicyError, match=r"policy.yaml:17: .*never removed"):
        parse_policy(bad, "policy.yaml")
