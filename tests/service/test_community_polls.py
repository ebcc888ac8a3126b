"""Polls on the real stack (issue 11's fourth done-when item): the per-district result equals a count this test
makes itself from what it sent, live while the poll is open, with changed responses counted once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from sotong.community.v1 import community_service_pb2 as pb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common.errors import field_violations
from sotong_common.geo import Seoul
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person

pytestmark = pytest.mark.service

AGE_BANDS = ("10s", "20s", "30s", "40s", "50s", "60s", "70+")
RESPONDENTS = 300


def survey() -> pb.Poll:
    now = datetime.now(UTC)
    poll = pb.Poll(
        title="한강공원 이용 설문",
        questions=[
            pb.Question(text="가장 자주 가는 곳은?", kind=pb.QUESTION_KIND_SINGLE, options=["망원", "여의도", "뚝섬"],
                        required=True),
            pb.Question(text="필요한 시설 (두 개까지)", kind=pb.QUESTION_KIND_MULTIPLE,
                        options=["화장실", "그늘막", "따릉이", "매점"], max_choices=2),
            pb.Question(text="만족도", kind=pb.QUESTION_KIND_SCALE),
            pb.Question(text="우선순위", kind=pb.QUESTION_KIND_RANKING, options=["안전", "청결", "편의"]),
            pb.Question(text="하고 싶은 말", kind=pb.QUESTION_KIND_FREE_TEXT),
        ],
        changeable=True,
    )  # fmt: skip
    poll.opens_at.FromDatetime(now - timedelta(minutes=1))
    poll.closes_at.FromDatetime(now + timedelta(hours=1))
    return poll


def random_response(rng: random.Random, poll_id: str, districts: list[str]) -> pb.RespondToPollRequest:
    answers = [pb.QuestionAnswer(question=0, choices=[rng.randrange(3)])]
    if rng.random() < 0.8:
        answers.append(pb.QuestionAnswer(question=1, choices=rng.sample(range(4), rng.randint(1, 2))))
    if rng.random() < 0.8:
        answers.append(pb.QuestionAnswer(question=2, scale=rng.randint(1, 5)))
    if rng.random() < 0.5:
        answers.append(pb.QuestionAnswer(question=3, choices=rng.sample(range(3), 3)))
    return pb.RespondToPollRequest(
        poll_id=poll_id, answers=answers, district_code=rng.choice(districts), age_band=rng.choice(AGE_BANDS)
    )


def expected(responses: dict[str, pb.RespondToPollRequest]) -> Counter[tuple[str, int, int, str]]:
    """What the results must say, counted here from the responses as last sent: (district, question, option, what)."""
    out: Counter[tuple[str, int, int, str]] = Counter()
    for r in responses.values():
        for a in r.answers:
            if a.question == 2:
                out[(r.district_code, 2, a.scale, "count")] += 1
            elif a.question == 3:
                for place, option in enumerate(a.choices):
                    out[(r.district_code, 3, option, "count")] += 1
                    out[(r.district_code, 3, option, "points")] += 2 - place
            else:
                for option in a.choices:
                    out[(r.district_code, a.question, option, "count")] += 1
    return +out


def reported(results: pb.GetPollResultsResponse) -> Counter[tuple[str, int, int, str]]:
    out: Counter[tuple[str, int, int, str]] = Counter()
    for q in results.questions:
        for c in q.cells:
            out[(c.district_code, q.question, c.option, "count")] += c.count
            if c.points:
                out[(c.district_code, q.question, c.option, "points")] += c.points
    return +out


async def test_per_district_results_equal_the_count_of_what_was_sent_live_and_after_changes(
    fresh_stack: Stack,
) -> None:
    fresh_stack.start_services(("community-api", "community-worker", "moderation-worker"), say=False)
    operator = person(fresh_stack, "operator-1", "operator")
    districts = [d.code for d in Seoul.load().districts()]
    rng = random.Random(20261203)
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        poll = (await stub.CreatePoll(pb.CreatePollRequest(poll=survey(), request_id="poll-1"), metadata=operator)).poll
        assert poll.state == "open" and poll.verification == "identity"
        people = [person(fresh_stack, f"resident-{i:04d}", verification="identity") for i in range(RESPONDENTS)]
        sent: dict[str, pb.RespondToPollRequest] = {}

        async def respond(i: int, request: pb.RespondToPollRequest) -> None:
            await stub.RespondToPoll(request, metadata=people[i])
            sent[f"resident-{i:04d}"] = request

        first = [random_response(rng, poll.poll_id, districts) for _ in range(RESPONDENTS)]
        await asyncio.gather(*(respond(i, first[i]) for i in range(RESPONDENTS // 2)))
        # Live: the results already count the first half, exactly.
        live = await stub.GetPollResults(pb.GetPollResultsRequest(poll_id=poll.poll_id), metadata=people[0])
        assert live.response_count == RESPONDENTS // 2 and live.state == "open"
        assert reported(live) == expected(sent)

        await asyncio.gather(*(respond(i, first[i]) for i in range(RESPONDENTS // 2, RESPONDENTS)))
        # A third change their minds (district and age band too); the same response again changes nothing.
        for i in rng.sample(range(RESPONDENTS), RESPONDENTS // 3):
            await respond(i, random_response(rng, poll.poll_id, districts))
        same = await stub.RespondToPoll(sent["resident-0007"], metadata=people[7])
        assert not same.changed
        results = await stub.GetPollResults(pb.GetPollResultsRequest(poll_id=poll.poll_id), metadata=operator)
        assert results.response_count == RESPONDENTS
        assert reported(results) == expected(sent)
        by_district = Counter()
        for c in results.questions[0].cells:
            by_district[c.district_code] += c.count
        assert by_district == Counter(r.district_code for r in sent.values())

        # One response per verified citizen: an unverified one is refused, naming the level.
        with pytest.raises(grpc.aio.AioRpcError) as unverified:
            await stub.RespondToPoll(first[0], metadata=person(fresh_stack, "anon"))
        assert unverified.value.code() == grpc.StatusCode.PERMISSION_DENIED and "identity" in (
            unverified.value.details() or ""
        )
        # Bad answers are refused naming the field.
        bad = pb.RespondToPollRequest(
            poll_id=poll.poll_id,
            answers=[pb.QuestionAnswer(question=1, choices=[0, 1, 2]), pb.QuestionAnswer(question=2, scale=9)],
            district_code="11440",
            age_band="30s",
        )
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.RespondToPoll(bad, metadata=people[1])
        assert {v.field for v in field_violations(invalid.value)} >= {"answers[0].choices", "answers[1].scale"}

        # A free-text answer shows once moderation published it, masked.
        texted = pb.RespondToPollRequest()
        texted.CopyFrom(sent["resident-0003"])
        texted.answers.append(pb.QuestionAnswer(question=4, text="그늘막 더 주세요. 연락은 010-3456-7890"))
        await stub.RespondToPoll(texted, metadata=people[3])

        async def texts() -> list[str] | None:
            got = await stub.GetPollResults(pb.GetPollResultsRequest(poll_id=poll.poll_id), metadata=operator)
            return list(got.questions[4].texts) or None

        shown = await eventually(texts)
        assert shown == ["그늘막 더 주세요. 연락은 ***-****-****"]

        # Closed: no more responses; a poll that does not allow changes refuses a second, different one.
        await stub.ClosePoll(pb.ClosePollRequest(poll_id=poll.poll_id), metadata=operator)
        with pytest.raises(grpc.aio.AioRpcError) as closed:
            await stub.RespondToPoll(first[5], metadata=people[5])
        assert closed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        fixed = survey()
        fixed.changeable = False
        once = (await stub.CreatePoll(pb.CreatePollRequest(poll=fixed, request_id="poll-2"), metadata=operator)).poll
        answer = pb.RespondToPollRequest(
            poll_id=once.poll_id, answers=[pb.QuestionAnswer(question=0, choices=[0])], district_code="11110",
            age_band="20s",
        )  # fmt: skip
        await stub.RespondToPoll(answer, metadata=people[9])
        answer.answers[0].choices[0] = 1
        with pytest.raises(grpc.aio.AioRpcError) as unchangeable:
            await stub.RespondToPoll(answer, metadata=people[9])
        assert unchangeable.value.code() == grpc.StatusCode.FAILED_PRECONDITION
