"""Top terms per district: the nouns citizens use, from a Korean morphological analyser, not whitespace.

Korean attaches particles and endings to words (가로등이, 가로등을, 가로등은 are one noun), so splitting on
spaces counts the same word many times over. Kiwi (kiwipiepy, with its model from the PyPI package
kiwipiepy_model) tags morphemes; common nouns (NNG) of two characters or more count, minus a short list of words
every civic text uses, and proper nouns (NNP) only when they name a place (망원동, 마포구, 합정역, 세종대로,
한강공원, 광장시장): a person's name is a proper noun too, and a district's top terms must never list people.
Texts reach this only after moderation published them (personal data masked); masked tokens are dropped.

The analyser loads its model once per process (about a second and ~100 MB), on first use.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from typing import Any

STOPWORDS = frozenset(
    {"서울", "서울시", "시민", "제안", "의견", "생각", "문제", "우리", "정도", "부분", "때문", "경우", "이번",
     "지금", "오늘", "내용", "관련", "정말", "진짜", "사람", "여기", "거기", "하나", "모두", "이것", "그것"}
)  # fmt: skip
PLACE_SUFFIXES = ("동", "구", "역", "로", "길", "공원", "시장", "천", "강", "산", "교", "광장", "거리", "터널")
MAX_CHARS = 5_000

_lock = threading.Lock()


@functools.cache
def _kiwi() -> Any:
    from kiwipiepy import Kiwi

    return Kiwi()


def nouns(text: str) -> list[str]:
    """The counted nouns of a text, in order (repeats kept)."""
    if not text.strip():
        return []
    with _lock:  # one analyser per process, used from the worker's threads one call at a time
        tokens = _kiwi().tokenize(text[:MAX_CHARS])
    out = []
    for token in tokens:
        form = token.form
        if len(form) < 2 or form in STOPWORDS or "*" in form:
            continue
        if token.tag == "NNG" or (token.tag == "NNP" and form.endswith(PLACE_SUFFIXES)):
            out.append(form)
    return out


def count(texts: list[str]) -> Counter[str]:
    """Each noun once per text (a text repeating a word does not outweigh many citizens saying it)."""
    found: Counter[str] = Counter()
    for text in texts:
        found.update(set(nouns(text)))
    return found
