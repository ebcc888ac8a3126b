"""The step-counting model of `re` finds what `re` finds, and tells linear patterns from quadratic ones."""

from __future__ import annotations

import random
import re

import pytest

from sotong_common.regex_steps import (
    Unsupported,
    count_steps,
    grows_linearly,
    has_unbounded_repeat,
    hostile_texts,
    simulate,
)

PATTERNS = [
    r"[a-z0-9.-]+",
    r"(.)\1{2,}",
    r"(?<![0-9])\d{2,3}[ -]?\d{3,4}(?![0-9])",
    r"(?:ab|a)c?",
    r"a+?b",
    r"(?:x|y)*+z",
    r"(?>a+)b",
    r"\bcat\b",
    r"(?<=[가-힣])[^가-힣]{1,3}(?=[가-힣])",
    r"^(?:@[\w.]+\s*)+",
    r"[^@\s]+@[^@\s]+\.[^@\s]+$",
    r"(a|b)*c",
]


@pytest.mark.parametrize("source", PATTERNS)
def test_the_model_finds_the_same_matches_as_re(source: str) -> None:
    pattern = re.compile(source)
    rng = random.Random(source)
    alphabet = "ab.c1 2-@xyz가나ㅋcat\n"
    for _ in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        expected = [m.span() for m in pattern.finditer(text)]
        assert simulate(pattern, text)[1] == expected, (source, text)
        first = pattern.search(text)
        assert simulate(pattern, text, "search")[1] == ([first.span()] if first else []), (source, text)
        whole = pattern.fullmatch(text)
        assert simulate(pattern, text, "fullmatch")[1] == ([whole.span()] if whole else []), (source, text)


def test_a_quadratic_pattern_is_caught_and_a_linear_one_is_not() -> None:
    link = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|kr)")
    assert count_steps(link, "ab." * 160) > 10 * count_steps(link, "ab." * 40)
    assert grows_linearly(link, size=100)
    assert not grows_linearly(re.compile(r"[a-z0-9.-]+"))
    nested = re.compile(r"카톡\s*[:：]?\s*$")
    assert grows_linearly(nested)  # two \s* around an optional: every split of a run of spaces is tried


def test_bounded_patterns_are_linear_by_construction() -> None:
    assert not has_unbounded_repeat(re.compile(r"(?:카톡|텔레)\s{0,3}[:：]\s{0,3}[a-z0-9_.]{3,32}"))
    assert has_unbounded_repeat(re.compile(r"a(?:b|c+)"))
    assert has_unbounded_repeat(re.compile(r"(?=a*)b"))


def test_hostile_texts_come_from_the_pattern() -> None:
    texts = hostile_texts(re.compile(r"(?:카톡|텔레)\s*[:：]\s*[a-z]+"), 50)
    assert any(t.startswith("카톡 ") for t in texts) and any(set(t) == {"z", " "} for t in texts)


def test_flags_the_model_does_not_interpret_are_refused() -> None:
    with pytest.raises(Unsupported):
        count_steps(re.compile("a", re.IGNORECASE), "A")
