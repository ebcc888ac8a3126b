"""Word-list matching with exceptions, the core of the profanity and spam rules.

Word lists run on the *tight* view, where fillers between Hangul are gone, so ``시1발``
and ``시 발`` are caught.  The price is that innocent words collide with a listed word
once spaces are gone: ``시발점`` (starting point), ``새끼발가락`` (little toe),
``그 시 발표``.  Two guards keep precision:

* an exception list per rule (AutoModerator style): a match is dropped when an exception
  match overlaps it, so ``시발점`` and ``발표`` protect the 시발 inside them;
* a spacing guard: a match that only exists because a space was removed, and whose
  last syllable runs on into a longer word in the original (``병 신고``), is dropped
  unless what follows is a typical insult ending (``시 발놈``).

The PyPI package ``korcen`` (1.0.3, Apache-2.0) was measured as an extra signal and left
out: about 100 microseconds per call (a third of our whole per-comment budget), a bare
boolean without spans into the original text, extra dependencies (better_profanity,
colorama), and on our probes it missed ``시1발`` and flagged ``새끼발가락``.  The trained
classifier covers the long tail instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .normalize import View, is_hangul

__all__ = ["find_words"]

# Endings after which a spaced-out swear word is still read as one ("시 발놈", "병 신아").
_INSULT_TAIL = re.compile(
    r"(?:놈|년|새|끼|아|야|같|련|럼|롬|것|거|탱|라|이|들|짓|스|ㅋ|ㅎ|ㅉ|임|인|냐|니|네|도|은|는|을|를|가|가|에|한|하|해)"
)


def find_words(
    view: View,
    original: str,
    regex: re.Pattern[str],
    exceptions: re.Pattern[str] | None,
    spacing_guard: bool = True,
) -> Iterator[tuple[int, int]]:
    """Original-text spans of ``regex`` matches in ``view`` that survive the guards."""
    text = view.text
    matches = [(m.start(), m.end()) for m in regex.finditer(text) if m.end() > m.start()]
    if not matches:
        return
    blocked: list[tuple[int, int]] = []
    if exceptions is not None:
        blocked = [(m.start(), m.end()) for m in exceptions.finditer(text)]
    # Both lists come from finditer: sorted and non-overlapping, so one pointer walks the
    # exceptions alongside the matches (a comment of 7,000 "시발점" stays linear).
    j = 0
    for start, end in matches:
        while j < len(blocked) and blocked[j][1] <= start:
            j += 1
        if j < len(blocked) and blocked[j][0] < end:
            continue
        o_start, o_end = view.original_span(start, end)
        if spacing_guard and _spacing_artifact(original, o_start, o_end, text, end):
            continue
        yield o_start, o_end


def _spacing_artifact(original: str, o_start: int, o_end: int, tight: str, end: int) -> bool:
    segment = original[o_start:o_end]
    if not any(c.isspace() for c in segment):
        return False
    if o_end >= len(original) or not is_hangul(original[o_end]):
        return False
    return _INSULT_TAIL.match(tight, end) is None
