"""The two-person rule compares people, not spellings (issue 10, items 6 and 7).

`alice` drafted; `Alice`, `alice `, `ALICE` and `alice` + U+200B each approved. Tokens with such subjects are now
refused at the door (sotong_common.auth), and the rule itself compares canonical ids, so ids stored before that
check (or written by hand) cannot pass as a second person either. Variants are generated, not listed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest

from sotong_alerting.approval import Person, approval_refusals
from sotong_alerting.cap import Status

from .factories import make_alert

DRAFTERS = ("alice", "kim.minsu", "김민수", "josé", "duty-officer-3")


def spellings(base: str) -> Iterator[str]:
    yield base.upper()
    yield base.title()
    for space in (" ", "\t", "\u00a0", "\u3000", "\u2003"):
        yield base + space
        yield space + base
    for mark in ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e"):
        yield base + mark
        yield base[:1] + mark + base[1:]
    yield "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in base)
    yield unicodedata.normalize("NFD", base)


CASES = sorted({(base, other) for base in DRAFTERS for other in spellings(base) if other != base})


@pytest.mark.parametrize(("drafted_by", "approved_by"), CASES)
@pytest.mark.parametrize("status", [Status.ACTUAL, Status.EXERCISE, Status.TEST])
def test_another_spelling_of_the_drafter_is_not_a_second_person(
    drafted_by: str, approved_by: str, status: Status
) -> None:
    reasons = approval_refusals(
        make_alert(status=status),
        Person(drafted_by, frozenset({"approver"})),
        Person(approved_by, frozenset({"approver"})),
    )
    assert any("second person" in reason for reason in reasons), (drafted_by, approved_by, reasons)


def test_different_people_remain_second_persons() -> None:
    for a in DRAFTERS:
        for b in DRAFTERS:
            if a != b:
                assert approval_refusals(make_alert(), Person(a), Person(b, frozenset({"approver"}))) == []
