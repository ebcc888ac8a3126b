"""Work per comment grows linearly with its length, whatever a citizen writes (issue 10, item 3).

Counted, not timed: regular expressions by `sotong_common.regex_steps` (a deterministic model of `re`'s
backtracking), the pipeline's own Python by the number of lines it executes (`sys.settrace`). Both compare a
hostile text of n characters with one of 4n: linear work grows about 4 times, quadratic work 16 times. The hostile
texts are generated from each pattern (runs of what its repeats accept, its literal openings followed by such
runs), not a list of inputs that once hurt.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import re
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

import sotong_moderation
from sotong_common.regex_steps import grows_linearly, has_unbounded_repeat
from sotong_moderation.pipeline import Pipeline, RepetitionState
from sotong_moderation.policy import PolicyError, parse_policy


def citizen_text_patterns() -> dict[str, re.Pattern[str]]:
    """Every compiled pattern of the package's modules and of the shipped policy (all of them see comments)."""
    found: dict[str, re.Pattern[str]] = {}
    for info in pkgutil.iter_modules(sotong_moderation.__path__):
        if info.name == "__main__":
            continue
        module = importlib.import_module(f"sotong_moderation.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                found[f"{info.name}.{name}"] = value
    for rule in Pipeline.default().policy_store.current.rules:
        for attr in ("regex", "exceptions", "if_contains_re"):
            value = getattr(rule, attr)
            if value is not None:
                found[f"policy {rule.id}.{attr}"] = value
    return found


PATTERNS = citizen_text_patterns()


def test_the_patterns_are_found() -> None:
    # The collection must see the module patterns and the policy's, or the test below proves nothing.
    assert any(name.startswith("personal_data.") for name in PATTERNS)
    assert any(name.startswith("advertising.") for name in PATTERNS)
    assert sum(name.startswith("policy ") for name in PATTERNS) >= 15


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_pattern_does_linear_work(name: str) -> None:
    pattern = PATTERNS[name]
    if not has_unbounded_repeat(pattern):
        return  # a bounded number of paths per start position: linear by construction
    problems = grows_linearly(pattern)
    assert not problems, f"{name} ({pattern.pattern[:60]!r}) grows faster than linearly: {problems}"


def test_a_policy_pattern_with_an_unbounded_repeat_is_refused() -> None:
    doc = (
        "version: t\nclauses:\n  advertising: {review_at: 0.5}\nrules:\n"
        "  - id: ad.x\n    clause: advertising\n    kind: pattern\n    score: 0.5\n    reason: r\n"
        "    patterns: ['카톡\\s*[:：]\\s*[a-z]+']\n"
    )
    with pytest.raises(PolicyError, match=r"policy.yaml:\d+: .*unbounded repeat"):
        parse_policy(doc, "policy.yaml")


def _lines_executed(call: Callable[[], Any]) -> int:
    """Lines of sotong_moderation executed by `call` (deterministic: same input, same count)."""
    count = 0
    package = sotong_moderation.__path__[0]

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if not frame.f_code.co_filename.startswith(package):
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return count


def _hostile_comments(size: int) -> dict[str, str]:
    """Whole comments built to hit each stage's loops: word lists with their exceptions, personal data, links."""
    units = {
        "exception words": "시발점 ",
        "swear words spaced": "시 발 ",
        "phone numbers": "010-1234-5678 ",
        "hangul digits": "공일공 ",
        "dotted labels": "ab.",
        "link hosts": "a.com/",
        "email-ish": "a@b.",
        "addresses": "세종대로 12 ",
        "units": "301동 1203호 ",
        "messenger": "카톡 ",
        "digits": "1",
        "laughter": "ㅋ",
        "fillers": "가.",
        "mixed script": "가a1.",
    }
    comments = {name: (unit * (size // len(unit) + 1))[:size] for name, unit in units.items()}
    rng = random.Random(size)  # the same alphabet for both sizes, drawn again for each
    alphabet = "가나다시발점새끼 .-@/1234567890abcdekr:ㅋㅅㅂ"
    comments["random"] = "".join(rng.choice(alphabet) for _ in range(size))
    return comments


def test_the_pipeline_does_linear_python_work_per_comment() -> None:
    pipeline = Pipeline.default()
    small, large = _hostile_comments(2_000), _hostile_comments(8_000)
    for text in small.values():  # warm the per-character caches, so both sizes pay the same
        pipeline.decide("warm", text, "a", RepetitionState())
    problems: list[str] = []
    for name in small:
        n = _lines_executed(lambda t=small[name]: pipeline.decide("c", t, "a", RepetitionState()))  # type: ignore[misc]
        n4 = _lines_executed(lambda t=large[name]: pipeline.decide("c", t, "a", RepetitionState()))  # type: ignore[misc]
        if n4 > 5 * n + 200:
            problems.append(f"{name}: {n} lines for 2,000 characters, {n4} for 8,000")
    assert not problems, problems


def test_work_per_comment_is_bounded() -> None:
    # Past the size cap the pipeline judges a fixed prefix: a 100,000-character comment costs what 20,000 do.
    pipeline = Pipeline.default()
    text = "시발점 010-1234-5678 ab." * 5_000  # 110,000 characters
    capped = _lines_executed(lambda: pipeline.decide("c", text[:20_000], "a", RepetitionState()))
    longer = _lines_executed(lambda: pipeline.decide("c", text, "a", RepetitionState()))
    assert longer <= capped * 1.05 + 200
