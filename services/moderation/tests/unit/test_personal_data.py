from __future__ import annotations

import datetime as dt

import pytest

from sotong_moderation.normalize import normalize
from sotong_moderation.personal_data import find_personal_data, mask_spans, rrn_is_valid

WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


def with_check(twelve: str, foreign: bool = False) -> str:
    total = sum(int(d) * w for d, w in zip(twelve, WEIGHTS, strict=True))
    return twelve + str(((13 if foreign else 11) - total % 11) % 10)


def kinds(text: str) -> list[tuple[str, str]]:
    base = normalize(text).base.text  # the view the pipeline gives the detectors
    return [(m.kind, base[m.start : m.end]) for m in find_personal_data(base)]


def test_rrn_with_valid_checksum_is_found() -> None:
    n = with_check("900101123456")
    assert kinds(f"제 번호는 {n[:6]}-{n[6:]} 입니다") == [("resident_registration", f"{n[:6]}-{n[6:]}")]


def test_rrn_with_wrong_checksum_is_masked_in_the_6_7_shape_and_only_then() -> None:
    # Issue 17: a mistyped number is still a leak. The check digit sets the confidence only.
    n = with_check("900101123456")
    bad = n[:-1] + str((int(n[-1]) + 1) % 10)
    assert kinds(f"{bad[:6]}-{bad[6:]}") == [("resident_registration", f"{bad[:6]}-{bad[6:]}")]
    assert [m.confidence for m in find_personal_data(f"{bad[:6]}-{bad[6:]}")] == [0.8]
    assert [m.confidence for m in find_personal_data(f"{n[:6]}-{n[6:]}")] == [1.0]
    assert kinds(bad) == []  # 13 digits in a row, no context word: an order number as likely as a leak
    assert kinds(f"주민번호 {bad}") == [("resident_registration", bad)]


def test_rrn_issued_after_october_2020_needs_no_checksum() -> None:
    today = dt.date(2026, 11, 24)
    assert rrn_is_valid("210305", "3", "123456", today)
    assert rrn_is_valid("210305", "4", "999999", today)
    assert not rrn_is_valid("200305", "3", "123456", today)  # before Oct 2020: checksum applies


@pytest.mark.parametrize(
    ("front", "gender"),
    [("901301", "1"), ("900230", "1"), ("900101", "0"), ("300101", "4")],  # month 13, Feb 30, 1800s, future
)
def test_rrn_date_and_gender_digit_checked(front: str, gender: str) -> None:
    assert not rrn_is_valid(front, gender, "123456", dt.date(2026, 11, 24))


def test_alien_registration_number_uses_its_own_checksum() -> None:
    n = with_check("850505512345", foreign=True)
    assert kinds(f"외국인등록번호 {n[:6]}-{n[6:]}") == [("alien_registration", f"{n[:6]}-{n[6:]}")]


@pytest.mark.parametrize(
    "text",
    ["010-1234-5678", "010 1234 5678", "01012345678", "+82 10-1234-5678", "+82-10-1234-5678", "02-2133-1234",
     "031-123-4567", "(02) 123-4567", "０１０－１２３４－５６７８"],
)  # fmt: skip
def test_phone_numbers(text: str) -> None:
    assert [k for k, _ in kinds(f"연락처 {text} 입니다")] == ["phone"]


@pytest.mark.parametrize(
    "text",
    [
        "주문번호 01012345678 확인해주세요",
        "2024-11-25 오후 3시에 갑니다",
        "접수번호 2024112512345",
        "1588-1234 고객센터",
        "시내버스 7016번 배차간격",
        "아파트 3단지 2동 앞",
    ],
)
def test_hard_negatives_are_not_personal_data(text: str) -> None:
    assert kinds(text) == []


def test_other_kinds() -> None:
    assert kinds("메일은 hong.gd@example.co.kr 로") == [("email", "hong.gd@example.co.kr")]
    assert kinds("여권번호 M12345678 분실") == [("passport", "m12345678")]
    assert kinds("면허번호 11-12-123456-78") == [("driver_licence", "11-12-123456-78")]
    assert kinds("국민은행 123-456-789012 로 입금") == [("bank_account", "123-456-789012")]
    assert kinds("불법주차 12가 3456 신고") == [("car_plate", "12가 3456")]
    assert kinds("래미안 101동 1203호 주민") == [("address", "101동 1203호")]


def test_passport_needs_context() -> None:
    assert kinds("모델명 M12345678 제품") == []


def test_mask_keeps_separators_only() -> None:
    text = "연락처 010-1234-5678 입니다"
    ms = find_personal_data(text)
    assert mask_spans(text, [(m.start, m.end) for m in ms]) == "연락처 ***-****-**** 입니다"


def test_phone_spelled_in_hangul_digits() -> None:
    assert kinds("공일공 일이삼사 오육칠팔 로 연락주세요") == [("phone", "공일공 일이삼사 오육칠팔")]
    assert kinds("공일일 사삼이 번 버스") == []


def test_published_office_number_is_not_personal() -> None:
    assert kinds("주민센터 대표번호 02-2148-5000 으로 문의") == []
    assert [k for k, _ in kinds("사무실 02-741-2290 로 연락")] == ["phone"]


def test_account_with_single_digit_last_group() -> None:
    assert kinds("새마을금고 9002-1938-4471-2 로 송금") == [("bank_account", "9002-1938-4471-2")]


@pytest.mark.parametrize(
    "text",
    ["010)1234-5678", "010 - 1234 - 5678", "(010)1234-5678", "010–1234–5678", "010ㆍ1234ㆍ5678", "82-10-1234-5678"],
)
def test_phone_separator_variants(text: str) -> None:
    assert [k for k, _ in kinds(f"연락 {text} 주세요")] == ["phone"]


def test_address_includes_the_unit_after_the_street_number() -> None:
    assert kinds("서울 마포구 월드컵북로 400 5층 사는 사람") == [("address", "월드컵북로 400 5층")]
