"""사업자등록번호: the check digit and the messages a merchant reads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sotong_partner.business_number import BusinessNumberError, check_digit, formatted, normalize


@pytest.mark.parametrize("number", ["220-81-62517", "124-81-00998", "104-81-53114", "2208162517", " 220 81 62517 "])
def test_published_numbers_pass(number: str) -> None:
    assert len(normalize(number)) == 10


def test_a_wrong_check_digit_is_refused_naming_the_last_digit() -> None:
    with pytest.raises(BusinessNumberError, match="검증번호"):
        normalize("220-81-62518")


@pytest.mark.parametrize(
    ("raw", "why"), [("", "입력"), ("22081625", "8자리"), ("220-81-6251A", "숫자"), ("２２０８１６２５１７", "숫자")]
)
def test_malformed_numbers_say_what_is_wrong(raw: str, why: str) -> None:
    with pytest.raises(BusinessNumberError, match=why):
        normalize(raw)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_last_digit_is_right(first_nine: str) -> None:
    good = [d for d in "0123456789" if _passes(first_nine + d)]
    assert good == [str(check_digit(first_nine))]
    assert formatted(first_nine + good[0]).count("-") == 2


def _passes(number: str) -> bool:
    try:
        normalize(number)
    except BusinessNumberError:
        return False
    return True
