"""Every regular expression intake applies to what citizens send does linear work (issue 10, item 3).

Counted with `sotong_common.regex_steps` (a deterministic model of `re`'s backtracking) on hostile texts generated
from each pattern, n against 4n characters; see services/moderation/tests/unit/test_linear_work.py for the same
check on moderation's patterns and policy.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import sotong_intake
import sotong_intake.channels
from sotong_common.regex_steps import grows_linearly, has_unbounded_repeat
from sotong_intake.category import LATIN_KEYWORDS

# How each pattern is applied where it is used; anything not listed is searched through the whole text.
MODES = {
    "channels.kakao._SECURE_URLS": "fullmatch",
    "submission._PRINTABLE_ID": "match",
    "submission._EMAIL": "match",
    "submission._PHONE": "match",
    "channels.sns._LEADING_MENTIONS": "match",
}


def intake_patterns() -> dict[str, re.Pattern[str]]:
    found: dict[str, re.Pattern[str]] = {}
    for package in (sotong_intake, sotong_intake.channels):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            short = module.__name__.removeprefix("sotong_intake.")
            for name, value in vars(module).items():
                if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                    found[f"{short}.{name}"] = value
    for keyword, pattern in LATIN_KEYWORDS.items():
        found[f"category keyword {keyword}"] = pattern
    return found


PATTERNS = intake_patterns()


def test_the_patterns_are_found() -> None:
    assert "duplicates._URL" in PATTERNS and "channels.sns._HASHTAG" in PATTERNS
    assert any(name.startswith("category keyword") for name in PATTERNS)
    assert set(MODES) <= set(PATTERNS)


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_pattern_does_linear_work(name: str) -> None:
    pattern = PATTERNS[name]
    if not has_unbounded_repeat(pattern):
        return  # a bounded number of paths per start position: linear by construction
    problems = grows_linearly(pattern, mode=MODES.get(name, "finditer"))
    assert not problems, f"{name} ({pattern.pattern[:60]!r}) grows faster than linearly: {problems}"
