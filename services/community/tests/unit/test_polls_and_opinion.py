"""Polls' validation and counting, opinion windows, terms and opinion groups."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sotong_community import opinion, opinion_groups, polls, terms
from sotong_community.polls import Answer, Question

QUESTIONS = [
    Question("single", polls.SINGLE, ("a", "b", "c"), required=True),
    Question("multiple", polls.MULTIPLE, ("a", "b", "c", "d"), max_choices=2),
    Question("scale", polls.SCALE),
    Question("ranking", polls.RANKING, ("x", "y", "z")),
    Question("text", polls.FREE_TEXT),
]


def test_a_poll_definition_names_its_problems() -> None:
    bad = [Question("", polls.SINGLE, ("a",)), Question("q", polls.SCALE, ("a", "b")), Question("q", "yes")]
    fields = {v.field for v in polls.question_problems(bad)}
    assert {"poll.questions[0].text", "poll.questions[0].options", "poll.questions[1].options",
            "poll.questions[2].kind"} <= fields  # fmt: skip
    assert polls.question_problems(QUESTIONS) == []


def test_a_response_names_its_problems() -> None:
    answers = [
        Answer(1, (0, 1, 2)),  # more than max_choices
        Answer(2, scale=6),
        Answer(3, (0, 1)),  # a ranking orders every option
        Answer(3, (0, 1, 2)),  # answered twice
        Answer(9, (0,)),
    ]
    fields = [v.field for v in polls.answer_problems(QUESTIONS, answers)]
    assert fields == ["answers[0].choices", "answers[1].scale", "answers[2].choices", "answers[3].question",
                      "answers[4].question", "answers"]  # fmt: skip


def test_cells_count_choices_scale_and_borda_points() -> None:
    cells = polls.cells(QUESTIONS, [Answer(0, (2,)), Answer(1, (0, 3)), Answer(2, scale=4), Answer(3, (2, 0, 1))])
    assert [(c.question, c.option, c.count, c.points) for c in cells] == [
        (0, 2, 1, 0), (1, 0, 1, 0), (1, 3, 1, 0), (2, 4, 1, 0), (3, 2, 1, 2), (3, 0, 1, 1), (3, 1, 1, 0),
    ]  # fmt: skip


def test_windows_start_in_seoul_time() -> None:
    at = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)  # Thursday 01:30 in Seoul
    assert opinion.window_start(at, "hour") == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    assert opinion.window_start(at, "day") == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # midnight KST
    assert opinion.window_start(at, "week") == datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # Monday 00:00 KST
    buckets = opinion.add_up(
        [opinion.Fact("supports", "11440", "x", at, 5), opinion.Fact("supports", "11440", "x", at, -2)]
    )
    assert len(buckets) == 3 and all(b["supports"] == 3 for b in buckets.values())


def test_terms_are_nouns_from_the_analyser_not_words_between_spaces() -> None:
    found = terms.count(
        ["망원동 가로등이 꺼졌어요. 가로등을 고쳐 주세요", "가로등은 밝아야죠", "김철수 님 연락 ***-****"]
    )
    assert found["가로등"] == 2  # 가로등이 / 가로등을 / 가로등은 are one noun, counted once per text
    assert found["망원동"] == 1
    assert "김철수" not in found  # a person's name is never a district's top term


def test_opinion_groups_are_reproducible_from_the_votes_and_the_seed() -> None:
    rng = random.Random(3)
    votes = []
    for participant in range(40):
        side = participant % 2
        for statement in range(1, 9):
            agree = (statement <= 4) == (side == 0)
            vote = (1 if agree else -1) if rng.random() < 0.9 else 0
            votes.append(opinion_groups.Vote(f"p{participant:02d}", statement, 1 if statement == 8 else vote))
    first = opinion_groups.compute(votes, seed=7)
    assert first == opinion_groups.compute(list(reversed(votes)), seed=7)
    assert opinion_groups.digest(votes) == opinion_groups.digest(list(reversed(votes)))
    assert [g["members"] for g in first["groups"]] == [20, 20]
    assert {"statement_id": 8, "direction": "agree"}.items() <= first["consensus"][0].items()
    assert opinion_groups.compute(votes[:10], seed=7)["groups"] == []  # too few people to group
