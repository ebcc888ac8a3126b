from __future__ import annotations

import itertools
import json
import random

import pytest

from sotong_moderation.pipeline import MAX_TEXT_CHARS, Pipeline, RepetitionState


def test_exceptions_are_not_profanity(pipeline: Pipeline) -> None:
    for text in [
        "지하철 1호선 시발점인 소요산역",
        "새끼발가락을 보도블록에 찧었어요",
        "그 시 발표에 따르면 공사가 늦어진대요",
    ]:
        d = pipeline.decide("x", text, "a")
        assert "profanity" not in d.categories, text


@pytest.mark.parametrize("text", ["시1발 구청 일 안하네", "시.발 진짜", "시 발놈아", "씨ㅂㅏㄹ 뭐하냐", "ㅅㅂ 또 고장"])
def test_disguised_profanity_is_removed_with_original_span(pipeline: Pipeline, text: str) -> None:
    d = pipeline.decide("x", text, "a")
    assert d.action == "remove"
    assert "profanity" in d.categories
    ev = next(e for e in d.evidence if e.rule.startswith("profanity."))
    assert text[ev.start : ev.end] == ev.text
    assert ev.threshold == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("text", "clause"),
    [
        ("김철수 과장이 뇌물 받았대요 다들 알아야 합니다", "defamation"),
        ("기호 2번 찍어주세요 이번 선거 꼭 투표합시다", "political"),
        ("이 사기꾼 구청장 같으니", "slander"),
        ("드라마 무료다시보기 토렌트 여기 있어요", "copyright"),
    ],
)
def test_never_remove_clauses_go_to_review(pipeline: Pipeline, text: str, clause: str) -> None:
    d = pipeline.decide("x", text, "a")
    assert clause in d.categories
    assert d.action == "review"


def test_advertising_link_is_removed(pipeline: Pipeline) -> None:
    text = "주식 리딩방 수익보장 open.kakao.com/o/sAbc123 들어오세요"
    d = pipeline.decide("x", text, "a")
    assert d.action == "remove"
    assert d.categories == ["advertising"]
    assert any(e.text == "open.kakao.com/o/sAbc123" and e.rule == "ad.messenger_link" for e in d.evidence)


def test_personal_data_is_masked_and_published(pipeline: Pipeline) -> None:
    text = "따릉이 고장 신고했어요 연락은 010-1234-5678 로 주세요"
    d = pipeline.decide("x", text, "a")
    assert d.action == "publish"
    assert d.categories == ["personal_data"]
    assert d.masked_text == "따릉이 고장 신고했어요 연락은 ***-****-**** 로 주세요"
    assert "1234" not in json.dumps(d.to_json_dict(), ensure_ascii=False)


def test_resident_number_goes_to_review_masked(pipeline: Pipeline) -> None:
    d = pipeline.decide("x", "주민번호 900101-1234568 로 조회해주세요", "a")
    assert d.action == "review"
    assert "900101" not in d.masked_text


def test_clean_civic_comment_is_published(pipeline: Pipeline) -> None:
    d = pipeline.decide("x", "지하철 2호선 강남역 에스컬레이터 수리 감사합니다. 덕분에 출근길이 편해졌어요", "a")
    assert d.action == "publish"
    assert d.categories == []
    assert d.model_version != "none"


def test_repetition_by_same_author_and_near_duplicate(pipeline: Pipeline) -> None:
    state = RepetitionState()
    base = "우리 동네 공원 화장실 좀 고쳐주세요 벌써 한달째 고장입니다"
    assert pipeline.decide("1", base, "kim", state).action == "publish"
    d = pipeline.decide("2", base.replace("한달째", "한 달째") + "!!", "kim", state)
    assert "repetition" in d.categories and d.action == "remove"
    # Another author saying the same once is not yet a campaign; the state is per caller.
    assert "repetition" not in pipeline.decide("3", base, "lee", state).categories
    assert "repetition" not in pipeline.decide("4", base, "kim", RepetitionState()).categories


def test_site_wide_copy_paste_campaign_goes_to_review(pipeline: Pipeline) -> None:
    state = RepetitionState()
    text = "재개발 반대 서명 부탁드립니다 모두 구청 게시판에 같은 글을 올려주세요"
    actions = [pipeline.decide(str(i), text, f"user{i}", state) for i in range(3)]
    assert "repetition" not in actions[1].categories
    assert "repetition" in actions[2].categories and actions[2].action == "review"


def test_short_texts_never_count_as_repetition(pipeline: Pipeline) -> None:
    state = RepetitionState()
    for i in range(3):
        assert "repetition" not in pipeline.decide(str(i), "감사합니다", "kim", state).categories


def test_huge_text_is_judged_on_prefix_and_flagged(pipeline: Pipeline) -> None:
    text = "공원 산책로 " * 200_000  # about 1.4 million characters
    d = pipeline.decide("big", text, "a")
    assert d.truncated
    assert d.action == "review"
    assert any(e.rule == "pipeline.truncated" and e.start == MAX_TEXT_CHARS for e in d.evidence)


def test_garbage_never_raises(pipeline: Pipeline) -> None:
    rng = random.Random(7)
    samples = ["", " ", "\x00\x01", "\ud800\udfff\udc00", "🙂" * 500, "ㅋ" * 10_000, "Ǆ̈́ΐ" * 100]
    for _ in range(200):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        samples.append(raw.decode("utf-8", "surrogateescape"))
        samples.append(raw.decode("latin-1"))
        samples.append("".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 80))))
    state = RepetitionState()
    for i, s in enumerate(samples):
        d = pipeline.decide(str(i), s, "a", state)
        assert d.action in ("publish", "review", "remove")
        assert not any(e.rule == "pipeline.error" for e in d.evidence), repr(s)
        json.dumps(d.to_json_dict())


def test_lone_surrogates_never_reach_the_output(pipeline: Pipeline) -> None:
    text = "시\ud800발 010-1234-5678 \udcff"
    d = pipeline.decide("x\udc80", text, "a")
    assert len(d.masked_text) == len(text)
    out = json.dumps(d.to_json_dict(), ensure_ascii=False)
    out.encode("utf-8")  # would raise on a lone surrogate
    assert "profanity" in d.categories and "personal_data" in d.categories


def test_evidence_spans_always_index_original_text(pipeline: Pipeline) -> None:
    text = "ＯＰＥＮ.ＫＡＫＡＯ.ＣＯＭ/o/x 카톡문의 ０１０-１２３４-５６７８ 시*발"
    d = pipeline.decide("x", text, "a")
    assert d.evidence
    for e in d.evidence:
        assert 0 <= e.start <= e.end <= len(text)
        if e.clause not in ("personal_data", "repetition"):
            assert text[e.start : e.end] == e.text


def test_json_shape(pipeline: Pipeline) -> None:
    out = pipeline.decide("c1", "시발 광고 bit.ly/abc", "a").to_json_dict()
    assert set(out) >= {"id", "action", "categories", "evidence", "masked_text", "policy_version", "model_version"}
    assert set(out["evidence"][0]) == {"start", "end", "clause", "rule", "score", "threshold", "text"}


def test_model_evidence_quotes_whole_words_without_overlaps(pipeline: Pipeline) -> None:
    text = "시장 놈은 뭐하냐 한심한 놈"
    d = pipeline.decide("x", text, "a")
    spans = sorted((e.start, e.end) for e in d.evidence if e.rule.startswith("model:"))
    assert spans, d
    for (_s1, e1), (s2, _e2) in itertools.pairwise(spans):
        assert e1 <= s2
    for s, e in spans:
        assert (s == 0 or text[s - 1] == " ") and (e == len(text) or text[e] == " ")
