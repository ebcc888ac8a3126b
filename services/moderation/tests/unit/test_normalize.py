from __future__ import annotations

import pytest

from sotong_moderation.normalize import decompose_syllable, normalize


@pytest.mark.parametrize("text", ["시1발", "시.발", "시 발", "시_*_발", "씨ㅂㅏㄹ"])
def test_fillers_between_hangul_disappear_in_tight_view(text: str) -> None:
    tight = normalize(text).tight.text
    assert tight in ("시발", "씨발")


def test_tight_span_maps_back_to_original_including_filler() -> None:
    text = "야 이 시1발 놈아"
    view = normalize(text).tight
    i = view.text.index("시발")
    start, end = view.original_span(i, i + 2)
    assert text[start:end] == "시1발"


def test_nfkc_fullwidth_and_case_keep_offsets() -> None:
    text = "ＯＰＥＮ.kakao 안내"
    view = normalize(text).base
    assert view.text.startswith("open.kakao")
    start, end = view.original_span(0, 4)
    assert text[start:end] == "ＯＰＥＮ"


def test_expanding_character_maps_to_whole_original_character() -> None:
    text = "가㈜나"
    view = normalize(text).base
    assert view.text == "가(주)나"
    start, end = view.original_span(1, 3)  # "(주" inside the expansion of ㈜
    assert (start, end) == (1, 2)


def test_repeats_squeezed_to_two() -> None:
    assert normalize("ㅋㅋㅋㅋㅋㅋ 좋아요!!!!!").tight.text == "ㅋㅋ좋아요!!"


def test_compatibility_jamo_are_not_turned_into_conjoining_jamo() -> None:
    assert normalize("ㅅㅂ").base.text == "ㅅㅂ"


def test_jamo_view_decomposes_and_maps_back() -> None:
    text = "발 시려"
    view = normalize(text).jamo
    assert view.text.startswith("ㅂㅏㄹㅅㅣ")
    assert view.original_span(0, 3) == (0, 1)
    assert decompose_syllable("닭") == "ㄷㅏㄺ"


def test_long_runs_of_non_hangul_are_not_fillers() -> None:
    # Four or more characters between Hangul are real content, not an inserted filler.
    assert normalize("시 2024 발").tight.text == "시 2024 발"


def test_lone_surrogates_and_empty_are_handled() -> None:
    assert normalize("").tight.text == ""
    assert normalize("a\ud800b").base.text == "a\ud800b"
