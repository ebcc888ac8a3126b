"""사업자등록번호 (Korean business registration number): ten digits whose last one is a check digit.

The check (국세청's published rule, used by every Korean shop system): weights 1,3,7,1,3,7,1,3,5 on the first
nine digits, plus the integer part of (ninth digit × 5) / 10; the check digit is (10 - sum mod 10) mod 10.
The number is written 123-45-67890 (office, kind, serial + check); dashes and spaces are accepted and dropped.
"""

from __future__ import annotations

_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


class BusinessNumberError(ValueError):
    """Not a business registration number; the message says why in Korean, for the merchant."""


def check_digit(first_nine: str) -> int:
    """The check digit of the first nine digits."""
    digits = [int(c) for c in first_nine]
    if len(digits) != 9:
        raise ValueError("the check digit is computed from nine digits")
    total = sum(d * w for d, w in zip(digits, _WEIGHTS, strict=True)) + (digits[8] * 5) // 10
    return (10 - total % 10) % 10


def normalize(raw: str) -> str:
    """The ten digits of a valid number; raises `BusinessNumberError` naming what is wrong."""
    digits = "".join(c for c in raw if c not in "- ")
    if not digits:
        raise BusinessNumberError("사업자등록번호를 입력해 주세요")
    if not (digits.isascii() and digits.isdigit()):
        raise BusinessNumberError("사업자등록번호는 숫자 10자리입니다 (예: 123-45-67890)")
    if len(digits) != 10:
        raise BusinessNumberError(f"사업자등록번호는 숫자 10자리입니다 ({len(digits)}자리를 입력했습니다)")
    if check_digit(digits[:9]) != int(digits[9]):
        raise BusinessNumberError("사업자등록번호의 검증번호(마지막 자리)가 맞지 않습니다. 번호를 다시 확인해 주세요")
    return digits


def formatted(digits: str) -> str:
    """123-45-67890."""
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
