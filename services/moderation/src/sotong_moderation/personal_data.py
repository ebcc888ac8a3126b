"""Detectors for personal data that must not be published.

Every detector is a precompiled regular expression on the ``base`` view (NFKC, so
full-width digits count) followed by a validation step that rejects look-alikes: a
resident registration number needs a real date, a possible gender digit and, for
numbers issued before October 2020, a valid check digit; a bank account needs a bank
word nearby; a passport number needs the word 여권/passport nearby.  Precision matters
more than recall here because a masked order number angers the citizen who posted it,
so the validation errs towards not matching, and the labelled set in
``evaluation/`` checks both.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["KINDS", "PiiMatch", "find_personal_data", "mask_spans", "rrn_is_plausible", "rrn_is_valid"]


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One piece of personal data, as a span of the base view."""

    start: int
    end: int
    kind: str
    # How sure the detector is; only the resident/alien number detector says less than 1.0
    # (a mistyped number whose check digit fails is masked all the same, with 0.8).
    confidence: float = 1.0


# Numbers issued from this date on have random final digits (no check digit).
_CHECKSUM_UNTIL = _dt.date(2020, 10, 1)
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
# gender digit -> (century, is_foreign)
_CENTURY = {
    "1": (1900, False), "2": (1900, False), "3": (2000, False), "4": (2000, False),
    "5": (1900, True), "6": (1900, True), "7": (2000, True), "8": (2000, True),
}  # fmt: skip

# 6+7 digits: with a separator (dash-like, dot, ㆍ, underscore, slash or a space; digits
# may be spaced out one by one), or 13 digits in a row.
_RRN_RE = re.compile(
    r"(?<![0-9])(\d(?:[ ]?\d){5})(?:[ ]?[-–—~_.\u318d\u00b7/][ ]?|[ ]{1,2})(\d)((?:[ ]?\d){6})(?![0-9])"
    r"|(?<![0-9])(\d{6})(\d)(\d{6})(?![0-9])"
)
# A word that says the number is one: then any 6+7 digits are masked, whatever date or check digit they carry.
_RRN_CONTEXT = re.compile(r"주민\s?(?:등록)?\s?번호|외국인\s?(?:등록)?\s?번호|rrn|resident registration")
_ALIEN_CONTEXT = re.compile(r"외국인")

_CONTEXT_NEGATIVE = re.compile(
    r"(?:주문|송장|운송장|접수|민원|예약|신청|사건|등기|승인|거래|결제|회원|사업자|고객|관리|상품|모델|일련|시리얼|티켓|쿠폰|영수증)(?:\s{0,2}(?:번호|no|코드))?\s{0,2}[:：#]?\s{0,2}$"
)

# One separator between digit groups: a space, or one of - . – — _ ㆍ · ) / with at most
# one space on each side ("010 - 1234 - 5678", "010)1234-5678", "010ㆍ1234ㆍ5678").
_SEP = r"((?:[ ]?[-.\u2013\u2014_\u318d\u00b7)/][ ]?|[ ])?)"
_MOBILE_RE = re.compile(
    r"(?<![0-9+])(?:\+?82[ .-]?\(?0?\)?[ .-]?|\(?0)1([016789])" + _SEP + r"(\d{3,4})" + _SEP + r"(\d{4})(?![0-9])"
)
_AREA = r"(?:2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70)"
_LANDLINE_RE = re.compile(
    r"(?<![0-9+])(?:(?:\+82[ .-]?\(?0?\)?[ .-]?" + _AREA + r"|0" + _AREA + r")[ .)-]|\(0" + _AREA + r"\)[ ]?)"
    r"\d{3,4}[ .-]\d{4}(?![0-9])"
)
_INSTITUTION_CONTEXT = re.compile(
    r"(?:대표\s?(?:번호|전화)|고객\s?센터|콜\s?센터|상담\s?센터|주민\s?센터|구청|시청|민원실|관리\s?사무소)(?:\s{0,2}(?:번호|전화))?\s{0,2}[:：]?\s{0,2}(?:은|는|이|가)?\s{0,2}$"
)
# A mobile number spelled out in Hangul digits ("공일공 일이삼사 오육칠팔") to dodge filters.
_HD = "[공영일이삼사오육칠팔구]"
_MOBILE_WORDS_RE = re.compile(
    r"(?:공|영)\s?일\s?(?:공|영|일|육|칠|팔|구)(?:(?:[ .-]?" + _HD + r"){7,8}(?!" + _HD + r")"
    r"|[ .-]?[0-9]{3,4}[ .-]?[0-9]{4}(?![0-9]))"
)
# Bounded like the standard's own limits (64-character local part, 63-character labels):
# every pattern here explores a bounded number of paths per start, so matching is linear.
_EMAIL_RE = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,6}\.[a-z]{2,24}(?![a-z])"
)
_PASSPORT_RE = re.compile(r"(?<![a-z0-9])[mrsodg](?:\d{8}|\d{3}[a-z]\d{4})(?![a-z0-9])")
_PASSPORT_CONTEXT = re.compile(r"여권|passport")
_REGION = r"(?:서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산)"
_LICENCE_RE = re.compile(
    r"(?<![0-9])(?:(?:1[1-9]|2[0-8])-\d{2}-\d{6}-\d{2}|" + _REGION + r"[ ]?\d{2}-\d{6}-\d{2})(?![0-9])"
)
_LICENCE_LOOSE_RE = re.compile(r"(?<![0-9])(?:1[1-9]|2[0-8])[ -]?\d{2}[ -]?\d{6}[ -]?\d{2}(?![0-9])")
_LICENCE_CONTEXT = re.compile(r"면허")
_ACCOUNT_RE = re.compile(r"(?<![0-9-])(?:\d{2,6}(?:[ -]\d{2,7}){0,3}[ -]\d{1,7}|\d{10,14})(?![0-9-])")
_BANK_CONTEXT = re.compile(
    r"계좌|은행|입금|송금|이체|예금주|국민|신한|우리|하나|농협|기업|카카오뱅크|카뱅|케이뱅크|토스|새마을|우체국|수협|신협|씨티|sc제일|부산은행|대구은행"
)
_PLATE_HANGUL = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주아바사자배하허호"
_PLATE_RE = re.compile(
    r"(?<![0-9가-힣])(?:" + _REGION + r"[ ]?)?\d{2,3}[ ]?[" + _PLATE_HANGUL + r"][ ]?\d{4}(?![0-9])"
    r"(?![ ]?(?:원|명|개|건|년|대|회|번|km|m|분|초|만|천|세|살|위|등|점|표|석|층|호))"
)
_UNIT_RE = re.compile(r"(?<![0-9])\d{1,4}[ ]?동[ ]?\d{1,4}[ ]?호(?![선실기])")
_ROAD_RE = re.compile(
    r"[가-힣0-9]{0,12}(?:로|길)[ ]?\d{1,4}(?:번?길[ ]?\d{1,4})?(?:-\d{1,4})?(?![0-9가-힣])"
    r"|[가-힣]{1,8}[동리][ ]?\d{1,5}-\d{1,5}(?:번지)?(?![0-9])"
)
# Personal context only: "시청 주소가 세종대로 110" is a public place, "우리 집 ..." is not.
_ADDRESS_CONTEXT = re.compile(
    r"(?:우리|저희|제|내|너희|걔네|그 사람)\s?(?:집|주소)|사는|살고|거주|자택|사시는|산다|살아|댁"
)
# Used with .match(text, pos), which anchors at pos by itself ("^" would not).
_UNIT_AFTER = re.compile(r"[ ,]{0,3}(?:[가-힣a-z]{0,12}[ ]?)?(?:\d{1,4}[ ]?동[ ]?)?\d{1,4}[ ]?(?:호|층)")


def rrn_is_plausible(front: str, gender: str, today: _dt.date | None = None) -> bool:
    """A possible birth date (not in the future) and gender digit, whatever the rest says."""
    century_info = _CENTURY.get(gender)
    if century_info is None or len(front) != 6 or not front.isdigit():
        return False
    try:
        born = _dt.date(century_info[0] + int(front[:2]), int(front[2:4]), int(front[4:6]))
    except ValueError:
        return False
    return born <= (today or _dt.date.today())


def rrn_is_valid(front: str, gender: str, back6: str, today: _dt.date | None = None) -> bool:
    """Whether ``front``-``gender back6`` can be a resident or alien registration number.

    The date and the gender digit are always checked.  The check digit is only checked
    for birth dates before October 2020: numbers issued since then end in random digits,
    and we use the birth date as the best available proxy for the date of issue.
    """
    century_info = _CENTURY.get(gender)
    if century_info is None or len(front) != 6 or len(back6) != 6:
        return False
    century, foreign = century_info
    try:
        born = _dt.date(century + int(front[:2]), int(front[2:4]), int(front[4:6]))
    except ValueError:
        return False
    if born > (today or _dt.date.today()):
        return False
    if born >= _CHECKSUM_UNTIL:
        return True
    digits = front + gender + back6
    total = sum(int(d) * w for d, w in zip(digits[:12], _RRN_WEIGHTS, strict=True))
    expected = ((13 if foreign else 11) - total % 11) % 10
    return expected == int(digits[12])


def _near(pattern: re.Pattern[str], text: str, start: int, end: int, radius: int) -> bool:
    return pattern.search(text, max(0, start - radius), min(len(text), end + radius)) is not None


def _negative_context(text: str, start: int) -> bool:
    return _CONTEXT_NEGATIVE.search(text[max(0, start - 14) : start]) is not None


def _rrn(text: str) -> Iterator[PiiMatch]:
    """Resident and alien registration numbers.

    A leaked number with a typo is still a leak: with a context word nearby (주민번호,
    외국인등록번호, ...) any 6+7 digits are masked; without one, the 6+7 shape with a
    separator is masked when its date and gender digit are possible, whatever the check
    digit says.  The check digit only sets the confidence (1.0 valid, 0.8 not).  Thirteen
    digits in a row without a context word still need a valid number (order and parcel
    numbers look like that).
    """
    for m in _RRN_RE.finditer(text):
        separated = m.group(1) is not None
        if separated:
            front, gender, back = m.group(1).replace(" ", ""), m.group(2), m.group(3).replace(" ", "")
        else:
            front, gender, back = m.group(4), m.group(5), m.group(6)
        context = _near(_RRN_CONTEXT, text, m.start(), m.end(), 20)
        valid = rrn_is_valid(front, gender, back)
        if not context:
            if not separated and (not valid or _negative_context(text, m.start())):
                continue
            if separated and not rrn_is_plausible(front, gender):
                continue
        foreign = gender in "5678" or (context and _near(_ALIEN_CONTEXT, text, m.start(), m.end(), 20))
        kind = "alien_registration" if foreign else "resident_registration"
        yield PiiMatch(m.start(), m.end(), kind, 1.0 if valid else 0.8)


def _mobile(text: str) -> Iterator[PiiMatch]:
    for m in _MOBILE_RE.finditer(text):
        if m.group(1) == "0" and len(m.group(3)) != 4:
            continue  # 010 numbers have had four-digit middles since 2004
        if not m.group(2) and not m.group(4) and _negative_context(text, m.start()):
            continue
        yield PiiMatch(m.start(), m.end(), "phone")


def _landline(text: str) -> Iterator[PiiMatch]:
    for m in _LANDLINE_RE.finditer(text):
        if _INSTITUTION_CONTEXT.search(text[max(0, m.start() - 16) : m.start()]):
            continue  # an office's published number is not personal data
        yield PiiMatch(m.start(), m.end(), "phone")


def _mobile_in_words(text: str) -> Iterator[PiiMatch]:
    for m in _MOBILE_WORDS_RE.finditer(text):
        yield PiiMatch(m.start(), m.end(), "phone")


def _email(text: str) -> Iterator[PiiMatch]:
    if "@" not in text:
        return
    for m in _EMAIL_RE.finditer(text):
        yield PiiMatch(m.start(), m.end(), "email")


def _passport(text: str) -> Iterator[PiiMatch]:
    for m in _PASSPORT_RE.finditer(text):
        if _near(_PASSPORT_CONTEXT, text, m.start(), m.end(), 20):
            yield PiiMatch(m.start(), m.end(), "passport")


def _licence(text: str) -> Iterator[PiiMatch]:
    for m in _LICENCE_RE.finditer(text):
        yield PiiMatch(m.start(), m.end(), "driver_licence")
    for m in _LICENCE_LOOSE_RE.finditer(text):
        if _near(_LICENCE_CONTEXT, text, m.start(), m.end(), 20):
            yield PiiMatch(m.start(), m.end(), "driver_licence")


def _account(text: str) -> Iterator[PiiMatch]:
    for m in _ACCOUNT_RE.finditer(text):
        digits = sum(c.isdigit() for c in m.group())
        if 10 <= digits <= 16 and _near(_BANK_CONTEXT, text, m.start(), m.end(), 15):
            yield PiiMatch(m.start(), m.end(), "bank_account")


def _plate(text: str) -> Iterator[PiiMatch]:
    for m in _PLATE_RE.finditer(text):
        yield PiiMatch(m.start(), m.end(), "car_plate")


def _address(text: str) -> Iterator[PiiMatch]:
    # Road address with its unit first: "세종대로 12 301동 1203호" is masked whole (the building number
    # and the unit together point at one home), and the unit alone only where no road precedes it.
    for m in _ROAD_RE.finditer(text):
        tail = _UNIT_AFTER.match(text, m.end())
        if tail is not None:
            yield PiiMatch(m.start(), tail.end(), "address")
        elif m.group()[0] in "로길":
            continue  # a road without its name ("…로 12") counts only with a unit after it
        elif _ADDRESS_CONTEXT.search(text, max(0, m.start() - 15), min(len(text), m.end() + 8)):
            yield PiiMatch(m.start(), m.end(), "address")
    for m in _UNIT_RE.finditer(text):
        yield PiiMatch(m.start(), m.end(), "address")


# Ordered from most to least specific: when spans overlap the earlier kind wins.
KINDS: dict[str, Callable[[str], Iterator[PiiMatch]]] = {
    "resident_registration": _rrn,
    "email": _email,
    "passport": _passport,
    "driver_licence": _licence,
    "phone": lambda t: _chain(_mobile(t), _landline(t), _mobile_in_words(t)),
    "bank_account": _account,
    "car_plate": _plate,
    "address": _address,
}


def _chain(*its: Iterator[PiiMatch]) -> Iterator[PiiMatch]:
    for it in its:
        yield from it


# Fewest digits each detector can match: counting digits once (in C) lets most comments
# skip most detectors without running their expressions.
_MIN_DIGITS = {
    "resident_registration": 13, "email": 0, "passport": 7, "driver_licence": 10, "phone": 9,
    "bank_account": 10, "car_plate": 6, "address": 1,
}  # fmt: skip
_DIGIT_RE = re.compile(r"[0-9]")
_HANGUL_DIGITS_HINT = re.compile(r"(?:공|영)\s?일\s?(?:공|영)")
_ADDRESS_HINT = re.compile(r"(?:로|길)[ ]?[0-9]|[동리][ ]?[0-9]{1,5}-[0-9]|[0-9][ ]?동[ ]?[0-9]")


def find_personal_data(text: str, enabled: frozenset[str] | None = None) -> list[PiiMatch]:
    """Non-overlapping personal-data spans in ``text`` (a base view), in text order."""
    digits = len(_DIGIT_RE.findall(text))
    has_at = "@" in text
    if _HANGUL_DIGITS_HINT.search(text) is not None:
        digits = max(digits, _MIN_DIGITS["phone"])  # let the phone detector see spelled-out numbers
    if digits == 0 and not has_at:
        return []  # every detector needs a digit or an at sign
    found: list[PiiMatch] = []
    # Characters already inside a match: an overlap test costs the span's length, not the
    # number of matches so far (a comment of a thousand phone numbers stays linear).
    taken = bytearray(len(text))
    for kind, detect in KINDS.items():
        if digits < _MIN_DIGITS[kind] or (kind == "email" and not has_at):
            continue
        if kind == "address" and _ADDRESS_HINT.search(text) is None:
            continue
        if (
            enabled is not None
            and kind not in enabled
            and not (kind == "resident_registration" and "alien_registration" in enabled)
        ):
            continue
        for m in detect(text):
            if enabled is not None and m.kind not in enabled:
                continue
            if any(taken[m.start : m.end]):
                continue
            taken[m.start : m.end] = b"\x01" * (m.end - m.start)
            found.append(m)
    found.sort(key=lambda m: m.start)
    return found


def mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace letters and digits inside ``spans`` with ``*``, keeping separators.

    Separators stay so that a reader still sees *that* a phone number or address was
    there, which keeps the comment readable, while the value itself is gone.
    """
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        for i in range(max(0, start), min(len(chars), end)):
            if chars[i].isalnum():
                chars[i] = "*"
    return "".join(chars)
