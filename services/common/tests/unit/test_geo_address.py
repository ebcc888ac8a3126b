"""Free address text to a Seoul place."""

from __future__ import annotations

import pytest

from sotong_common.geo import Seoul


@pytest.fixture(scope="module")
def seoul() -> Seoul:
    return Seoul.load()


@pytest.mark.parametrize(
    ("text", "district_code", "neighbourhood_ko"),
    [
        ("강남구", "11680", None),
        ("서울 마포구 서교동 395-1", "11440", "서교동"),
        ("서울특별시 마포구 서교동", "11440", "서교동"),
        ("서울시마포구서교동", "11440", "서교동"),
        ("서교동", "11440", "서교동"),
        ("서교동 395-1번지 앞", "11440", "서교동"),
        ("강남구 역삼1동 주민센터 앞", "11680", "역삼동"),  # 행정동 spelling of a 법정동
        ("서울 중구 세종대로 110", "11140", None),  # road address: district only
        ("Mapo-gu, Seoul", "11440", None),
        ("mapo gu", "11440", None),
        ("Jung-gu, Seoul", "11140", None),
        ("Seogyo-dong, Mapo-gu", "11440", "서교동"),
        ("종로1가", "11110", "종로1가"),
        ("강남구 신사동", "11680", "신사동"),
        ("은평구 신사동 12", "11380", "신사동"),
        ("Sinsa-dong, Gangnam-gu", "11680", "신사동"),
        ("강남 일대 침수", "11680", None),  # bare short district name as its own word
        ("  서울  송파구  잠실동  ", "11710", "잠실동"),
        ("세종로 사거리", "11110", "세종로"),  # a Seoul neighbourhood, not 세종특별자치시
    ],
)
def test_resolves(seoul: Seoul, text: str, district_code: str, neighbourhood_ko: str | None) -> None:
    place = seoul.resolve_address(text)
    assert place is not None, text
    assert place.district_code == district_code
    if neighbourhood_ko is None:
        assert place.neighbourhood is None
    else:
        assert place.neighbourhood is not None and place.neighbourhood.name_ko == neighbourhood_ko
        assert place.neighbourhood.district_code == district_code


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "신사동",  # 강남구 and 은평구: ambiguous without the district
        "신정동 123",  # 마포구 and 양천구
        "Sinsa-dong",
        "부산 중구 중앙동",  # another city's 중구
        "부산광역시 해운대구",
        "대구 중구 동성로",
        "인천광역시 서구",
        "경기도 성남시 분당구",
        "Jung-gu, Busan",
        "세종대로 110",  # road name without a district
        "우리 동네 길이 파였어요",
        "101동 앞",  # apartment building number, not a neighbourhood
    ],
)
def test_does_not_resolve(seoul: Seoul, text: str) -> None:
    assert seoul.resolve_address(text) is None


def test_neighbourhood_outside_written_district_keeps_district_only(seoul: Seoul) -> None:
    # 서교동 is in 마포구; a text that says 강남구 keeps the district the citizen wrote and drops the mismatch.
    place = seoul.resolve_address("강남구 서교동")
    assert place is not None and place.district_code == "11680" and place.neighbourhood is None
