from __future__ import annotations

from sotong.moderation.v1 import moderation_events_pb2 as events_pb
from sotong_console.review import highlighted, scores


def evidence(start: int, end: int, text: str, clause: str = "political") -> events_pb.Evidence:
    return events_pb.Evidence(start=start, end=end, text=text, clause=clause, score=0.9)


def test_spans_at_their_offsets_cut_the_text_into_marked_and_plain_runs() -> None:
    text = "김철수 후보를 찍어 주세요"
    pieces = highlighted(text, [evidence(0, 6, "김철수 후보")])
    assert [(p.text, p.evidence is not None) for p in pieces] == [("김철수 후보", True), ("를 찍어 주세요", False)]
    assert "".join(p.text for p in pieces) == text


def test_a_span_whose_offsets_moved_is_found_by_its_text_and_one_found_nowhere_is_not_marked() -> None:
    text = "연락처 [전화번호] 로 김철수 후보 지지"  # masking shifted the offsets
    pieces = highlighted(text, [evidence(5, 11, "김철수 후보"), evidence(0, 3, "없는 말")])
    marked = [p.text for p in pieces if p.evidence is not None]
    assert marked == ["김철수 후보"]
    assert "".join(p.text for p in pieces) == text


def test_overlapping_spans_mark_the_first_and_lose_no_text() -> None:
    text = "abcdefgh"
    pieces = highlighted(text, [evidence(2, 6, "cdef"), evidence(4, 8, "efgh"), evidence(1, 3, "bc")])
    assert "".join(p.text for p in pieces) == text
    assert [p.text for p in pieces if p.evidence is not None] == ["bc", "efgh"]


def test_each_rule_is_shown_once_with_its_highest_score() -> None:
    found = [
        events_pb.Evidence(rule="political.party", score=0.4, threshold=0.5),
        events_pb.Evidence(rule="political.endorsement", score=0.65, threshold=0.5),
        events_pb.Evidence(rule="political.party", score=0.45, threshold=0.5),
    ]
    assert [(rule, round(score, 2)) for rule, score, _ in scores(found)] == [
        ("political.endorsement", 0.65),
        ("political.party", 0.45),
    ]
