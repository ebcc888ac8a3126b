"""Text normalization with an offset map back into the original text.

Every rule and model in the pipeline looks at a *view* of the comment, never at the raw
string: a view is the normalized text plus, for each of its characters, the index of the
original character it came from.  Evidence found in any view can therefore always be
reported as ``(start, end)`` indices into the text the citizen actually wrote, which is
what a moderator sees and what masking rewrites.

Views, from the cheapest to the most aggressive:

* ``base``   NFKC (per character, so offsets stay exact) and lower case.  Hangul
  compatibility jamo (ㅅ, ㅂ, ㅋ) are kept as they are: NFKC would turn them into
  conjoining jamo, which nobody types and which breaks patterns such as ``ㅅㅂ``.
* ``tight``  ``base`` with runs of one character squeezed to two (``ㅋㅋㅋㅋ`` ->
  ``ㅋㅋ``) and *filler* characters between Hangul removed: anything that is not a
  Hangul letter (spaces, digits, punctuation, symbols, Latin) in a run of at most
  three characters with Hangul on both sides.  ``시1발``, ``시.발`` and ``시 발`` all
  become ``시발`` here, and loose jamo are recomposed (``씨ㅂㅏㄹ`` -> ``씨발``).
  Spaces between Hangul words disappear too, which is why word
  lists that run on this view carry exceptions (``시발점``, ``발표``).
* ``jamo``   ``tight`` with every Hangul syllable decomposed into compatibility jamo
  (``발`` -> ``ㅂㅏㄹ``), so that ``씨ㅂㅏㄹ`` and ``ㅆㅣ발`` meet the same pattern and
  the classifier sees sub-syllable n-grams.
* ``latin``  ``base`` for romanised and English swear words: Cyrillic and Greek look-alikes
  become Latin letters (``fuсk`` with a Cyrillic ``с``), letters written one by one with
  separators are joined (``f u c k``, ``s.h.i.t``, ``s-i-b-a-l``), digits used as letters
  are read as letters (``sh1t``, ``b1tch``) and repeats squeezed to one (``ssibal`` ->
  ``sibal``, ``fuuuck`` -> ``fuck``).  Words written normally keep their spaces, so
  ``this hit`` never becomes ``shit``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import compress

import numpy as np
import numpy.typing as npt

__all__ = ["NormalizedText", "View", "decompose_syllable", "is_hangul", "normalize"]

_S_BASE = 0xAC00
_S_LAST = 0xD7A3
_CHOSEONG = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_JUNGSEONG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_JONGSEONG = ("", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ", "ㄿ",
              "ㅀ", "ㅁ", "ㅂ", "ㅄ", "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ")  # fmt: skip

# Longest run of filler characters that is still read as "inserted between letters".
MAX_FILLER_RUN = 3
# Runs of the same character longer than this are squeezed in the tight view.
MAX_REPEAT = 2

# Per-character NFKC results.  Comments reuse a small alphabet, so a bounded cache turns
# the slow path (a text that is not already NFKC) into one dict lookup per character.
_CHAR_CACHE: dict[str, str] = {}
_CHAR_CACHE_LIMIT = 65_536


def is_hangul(ch: str) -> bool:
    """Hangul syllable or compatibility jamo: the letters a filler can hide between."""
    o = ord(ch)
    return _S_BASE <= o <= _S_LAST or 0x3131 <= o <= 0x318E


def decompose_syllable(ch: str) -> str:
    """Compatibility-jamo spelling of one Hangul syllable (other characters unchanged)."""
    o = ord(ch)
    if not _S_BASE <= o <= _S_LAST:
        return ch
    idx = o - _S_BASE
    cho, rest = divmod(idx, 588)
    jung, jong = divmod(rest, 28)
    return _CHOSEONG[cho] + _JUNGSEONG[jung] + _JONGSEONG[jong]


def _nfkc_char(ch: str) -> str:
    cached = _CHAR_CACHE.get(ch)
    if cached is not None:
        return cached
    o = ord(ch)
    keep = 0x3131 <= o <= 0x318E or 0xD800 <= o <= 0xDFFF
    out = ch if keep else unicodedata.normalize("NFKC", ch).lower()
    if len(_CHAR_CACHE) < _CHAR_CACHE_LIMIT:
        _CHAR_CACHE[ch] = out
    return out


@dataclass(frozen=True, slots=True)
class View:
    """A normalized string and, per character, the original index it came from."""

    text: str
    source: Sequence[int] | npt.NDArray[np.int64]
    original_length: int

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of this view onto the original text.

        One original character may expand to several view characters (NFKC of ``㈜``,
        jamo of ``발``), so the end is the end of the original character behind the last
        view character, never the middle of one.
        """
        if end <= start or not self.text:
            pos = int(self.source[start]) if start < len(self.source) else self.original_length
            return pos, pos
        return int(self.source[start]), int(self.source[end - 1]) + 1


def _base(text: str) -> View:
    n = len(text)
    if text.isascii():
        return View(text.lower(), range(n), n)
    try:
        fast = unicodedata.is_normalized("NFKC", text)
    except ValueError:
        fast = False
    if not fast and _COMPAT_JAMO_RE.search(text) is not None:
        # ㅋㅋ and ㅠㅠ make NFKC checks fail although we keep them as they are: check the rest.
        try:
            fast = unicodedata.is_normalized("NFKC", _COMPAT_JAMO_RE.sub("", text))
        except ValueError:
            fast = False
    if fast:
        low = text.lower()
        if len(low) == n:
            return View(low, range(n), n)
    parts: list[str] = []
    source: list[int] = []
    for i, ch in enumerate(text):
        out = _nfkc_char(ch)
        if len(out) == 1:
            parts.append(out)
            source.append(i)
        elif out:
            parts.append(out)
            source.extend([i] * len(out))
    return View("".join(parts), source, n)


_H = "\uac00-\ud7a3\u3131-\u318e"
_FILLER_RE = re.compile(f"(?<=[{_H}])[^{_H}]{{1,{MAX_FILLER_RUN}}}(?=[{_H}])")
_REPEAT_RE = re.compile(r"(.)\1{" + str(MAX_REPEAT) + ",}", re.DOTALL)
_LOOSE_SYLLABLE_RE = re.compile("[\u3131-\u314e][\u314f-\u3163]")
_COMPAT_JAMO_RE = re.compile("[\u3131-\u318e]")


def _drop(
    text: str, src: Sequence[int] | npt.NDArray[np.int64], spans: list[tuple[int, int]]
) -> tuple[str, Sequence[int] | npt.NDArray[np.int64]]:
    """Remove ``spans`` (sorted, not overlapping) from ``text`` and its offset map together.

    One keep-mask and ``itertools.compress`` (C loops) instead of a Python loop per kept character.
    """
    if not spans:
        return text, src
    keep = bytearray(b"\x01") * len(text)
    for a, b in spans:
        keep[a:b] = bytes(b - a)
    return "".join(compress(text, keep)), list(compress(src, keep))


def _tight(base: View) -> View:
    text, src = _drop(base.text, base.source, [m.span() for m in _FILLER_RE.finditer(base.text)])
    text, src = _drop(text, src, [(m.start() + MAX_REPEAT, m.end()) for m in _REPEAT_RE.finditer(text)])
    view = View(text, src, base.original_length)
    if _LOOSE_SYLLABLE_RE.search(text) is None:
        return view
    return _recompose(view)


_CHO_INDEX = {c: i for i, c in enumerate(_CHOSEONG)}
_JUNG_INDEX = {c: i for i, c in enumerate(_JUNGSEONG)}
_JONG_INDEX = {c: i for i, c in enumerate(_JONGSEONG) if c}


def _recompose(view: View) -> View:
    """Join loose compatibility jamo back into syllables (``씨ㅂㅏㄹ`` -> ``씨발``).

    Spelling a word out in jamo is a common way to slip past word lists; after this
    step the same list catches it.  A final consonant is only attached when no vowel
    follows it, exactly as a Korean reader would group the letters.
    """
    text = view.text
    out: list[str] = []
    source: list[int] = []
    src = view.source
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch in _CHO_INDEX and i + 1 < n and text[i + 1] in _JUNG_INDEX:
            cho, jung = _CHO_INDEX[ch], _JUNG_INDEX[text[i + 1]]
            jong = 0
            step = 2
            if i + 2 < n and text[i + 2] in _JONG_INDEX and not (i + 3 < n and text[i + 3] in _JUNG_INDEX):
                jong = _JONG_INDEX[text[i + 2]]
                step = 3
            out.append(chr(_S_BASE + (cho * 21 + jung) * 28 + jong))
            source.append(src[i])
            i += step
            continue
        out.append(ch)
        source.append(src[i])
        i += 1
    return View("".join(out), source, view.original_length)


_JAMO_TABLE = {cp: decompose_syllable(chr(cp)) for cp in range(_S_BASE, _S_LAST + 1)}


def _jamo(tight: View) -> View:
    text = tight.text.translate(_JAMO_TABLE)
    if len(text) == len(tight.text):
        return View(text, tight.source, tight.original_length)
    codes = np.frombuffer(tight.text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    syllable = (codes >= _S_BASE) & (codes <= _S_LAST)
    lengths = np.where(syllable, 2 + ((codes - _S_BASE) % 28 != 0), 1)
    source = np.repeat(np.asarray(tight.source, dtype=np.int64), lengths)
    return View(text, source, tight.original_length)


# Look-alikes a spammer swaps in so a word list misses the word (one character each, so offsets stay).
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k", "і": "i", "ѕ": "s",
        "ј": "j", "һ": "h", "ԁ": "d", "ɡ": "g", "α": "a", "ο": "o", "ν": "v", "τ": "t", "ι": "i", "κ": "k",
        "ρ": "p", "ε": "e", "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
    }
)  # fmt: skip
# Three or more single letters, each followed by one to three separators: "f u c k", "s.h.i.t", "f-u-c-k".
_SPELLED_RE = re.compile(r"(?<![a-z])[a-z](?:[^a-z가-힣\n]{1,3}[a-z](?![a-z])){2,}")
_SEPARATOR_RE = re.compile(r"[^a-z]")
# Punctuation inside a Latin word ("ssi-bal", "gae.sae.ki", "f*ck" keeps its star as a letter gap).
_INWORD_RE = re.compile(r"(?<=[a-z])[-._~^+/*'\"]{1,2}(?=[a-z])")
_LATIN_REPEAT_RE = re.compile(r"([a-z])\1+")


# "sh!t", "b|tch": a bang or bar between letters stands for an i (one character for one: offsets stay).
_BANG_RE = re.compile(r"(?<=[a-z])[!|](?=[a-z])")


_LATIN_HINT_RE = re.compile("[a-z\u0370-\u03ff\u0400-\u04ff\u0500-\u052f\u0261]")


# Whether the look-alike table can change anything that matters: a Cyrillic, Greek or symbol
# look-alike, or a digit touching a Latin letter ("sh1t"). str.translate over a whole Hangul
# comment costs more than the rest of this view, so most comments skip it.
_CONFUSABLE_HINT_RE = re.compile("[\u0370-\u052f\u0261@$]|[a-z][0-9]|[0-9][a-z]")


def _latin(base: View) -> View:
    text = base.text
    if _CONFUSABLE_HINT_RE.search(text) is not None:
        text = text.translate(_CONFUSABLES)
    if "!" in text or "|" in text:
        text = _BANG_RE.sub("i", text)
    drops: list[tuple[int, int]] = []
    for m in _SPELLED_RE.finditer(text):
        drops.extend((m.start() + s.start(), m.start() + s.end()) for s in _SEPARATOR_RE.finditer(m.group()))
    drops.extend(m.span() for m in _INWORD_RE.finditer(text))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(drops):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    text, src = _drop(text, base.source, merged)
    text, src = _drop(text, src, [(m.start() + 1, m.end()) for m in _LATIN_REPEAT_RE.finditer(text)])
    return View(text, src, base.original_length)


class NormalizedText:
    """The views of one comment, each computed on first use.

    Cheap stages (links, personal data) only ever touch ``base``; the tight and jamo
    views are built when a stage asks for them, so a comment that is removed early never
    pays for them.
    """

    __slots__ = ("__dict__", "original")

    def __init__(self, original: str) -> None:
        self.original = original

    @cached_property
    def base(self) -> View:
        return _base(self.original)

    @cached_property
    def tight(self) -> View:
        return _tight(self.base)

    @cached_property
    def jamo(self) -> View:
        return _jamo(self.tight)

    @cached_property
    def latin(self) -> View:
        return _latin(self.base)

    @cached_property
    def has_latin(self) -> bool:
        """Whether the latin view can differ from nothing: Latin letters or look-alikes in the text.

        Most civic comments are Hangul, digits and punctuation only; rules on the latin view skip
        them without building the view.
        """
        return _LATIN_HINT_RE.search(self.base.text) is not None

    @cached_property
    def jamo_text(self) -> str:
        """The jamo view's text without its offset map (all the classifier needs)."""
        if "jamo" in self.__dict__:
            return self.jamo.text
        return self.tight.text.translate(_JAMO_TABLE)

    def view(self, name: str) -> View:
        """Look a view up by the name a policy rule uses (``base``, ``tight``, ``jamo``)."""
        if name == "base":
            return self.base
        if name == "tight":
            return self.tight
        if name == "jamo":
            return self.jamo
        if name == "latin":
            return self.latin
        raise KeyError(name)


def normalize(text: str) -> NormalizedText:
    """Wrap ``text`` so stages can ask for its views lazily."""
    return NormalizedText(text)
