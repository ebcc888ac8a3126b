"""Near-duplicate scoring: what counts as the same report, and what never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sotong_intake.duplicates import (
    DuplicateRule,
    ReportSignature,
    find_duplicates,
    normalize,
    score_pair,
    shingles,
    text_similarity,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MANGWON = (37.5563, 126.9050)


def report(
    id: str, text: str, *, minutes: float = 0, north_m: float = 0, category: str | None = "flooding"
) -> ReportSignature:
    lat = MANGWON[0] + north_m / 111_195.0
    return ReportSignature.of(id, category, T0 + timedelta(minutes=minutes), text, lat, MANGWON[1])


def test_normalization_is_korean_aware() -> None:
    assert normalize("도로가 파였어요!!! ㅠㅠ") == normalize("도로가파였어요")
    assert normalize("@seoulcity 침수 https://t.example/x #제보") == "침수제보"
    assert normalize("\uff21\uff22\uff23\u3000\uff11\uff12\uff13") == "abc123"  # full-width forms from Korean IMEs
    assert normalize("물이 넘쳐요ㅋㅋㅋㅋ 😭😭") == "물이넘쳐요"
    assert normalize("와아아아아") == "와아아"
    assert shingles("") == frozenset() and shingles("물") == frozenset({"물"})


def test_text_similarity() -> None:
    same_words = text_similarity("망원동 지하차도 침수됐어요", "망원동지하차도 침수 됐어요!!")
    assert same_words == 1.0
    paraphrase = text_similarity("망원동 지하차도가 물에 잠겼어요", "망원동 지하차도 물에 잠김 ㅠㅠ")
    unrelated = text_similarity("망원동 지하차도가 물에 잠겼어요", "강남역 앞 가로등이 꺼져 있습니다")
    assert paraphrase > 0.4 > 0.1 > unrelated
    assert text_similarity("", "무엇이든") == 0.0


def test_duplicate_found_nearby_and_soon() -> None:
    first = report("a", "망원동 지하차도가 물에 잠겼어요", minutes=0)
    second = report("b", "망원동 지하차도 물에 잠김 ㅠㅠ 차 못 지나가요", minutes=12, north_m=40)
    (match,) = find_duplicates(second, [first])
    assert match.other_id == "a" and match.score >= DuplicateRule().threshold
    assert match.distance_m is not None and 35 < match.distance_m < 45
    assert match.seconds_apart == 12 * 60


@pytest.mark.parametrize(
    "other",
    [
        report("far", "망원동 지하차도가 물에 잠겼어요", north_m=500),  # outside the 200 m radius
        report("late", "망원동 지하차도가 물에 잠겼어요", minutes=25 * 60),  # outside the 24 h window
        report("cat", "망원동 지하차도가 물에 잠겼어요", category="road-damage"),  # another category
    ],
)
def test_rule_outs(other: ReportSignature) -> None:
    candidate = report("new", "망원동 지하차도가 물에 잠겼어요", minutes=1)
    assert score_pair(candidate, other, DuplicateRule()) is None


def test_same_place_different_problem_is_not_a_duplicate() -> None:
    a = report("a", "빗물받이가 낙엽으로 막혀 있어요", category="other")
    b = report("b", "공원 벤치가 부서졌습니다 아이들이 다칠 것 같아요", minutes=5, north_m=10, category="other")
    scored = score_pair(b, a, DuplicateRule())
    assert scored is not None and scored.score < DuplicateRule().threshold
    assert find_duplicates(b, [a]) == []


def test_ranking_and_self() -> None:
    new = report("new", "망원동 지하차도 침수", minutes=30)
    close = report("close", "망원동 지하차도 침수됐어요", minutes=25, north_m=5)
    older = report("older", "망원동 지하차도 침수됐어요", minutes=0, north_m=150)
    ranked = find_duplicates(new, [older, close, new])
    assert [s.other_id for s in ranked] == ["close", "older"]
    assert ranked[0].score > ranked[1].score


def test_reports_without_points_use_the_place_key() -> None:
    a = ReportSignature.of("a", "garbage", T0, "망원시장 앞 쓰레기 무단투기", place_key="11440123")
    b = ReportSignature.of(
        "b", "garbage", T0 + timedelta(hours=1), "망원시장 앞에 쓰레기 무단 투기", place_key="11440123"
    )
    c = ReportSignature.of("c", "garbage", T0, "망원시장 앞 쓰레기 무단투기", place_key="11440124")
    assert [s.other_id for s in find_duplicates(b, [a, c])] == ["a"]
    point_and_key = ReportSignature.of("d", "garbage", T0, "망원시장 앞 쓰레기", lat=37.55, lng=126.90)
    assert score_pair(b, point_and_key, DuplicateRule()) is None


def test_rule_validation() -> None:
    with pytest.raises(ValueError):
        DuplicateRule(radius_m=0)
    with pytest.raises(ValueError):
        DuplicateRule(text_weight=0.9)
    wide = DuplicateRule(radius_m=1000, threshold=0.3)
    far = report("far", "망원동 지하차도가 물에 잠겼어요", north_m=500)
    assert find_duplicates(report("new", "망원동 지하차도 침수", minutes=1), [far], wide)
