"""A proposal's whole life on the real stack (issue 11's first done-when item).

A citizen files a proposal; moderation publishes it; 100 distinct verified citizens support it and its forum
opens; 1,000 forum participants oblige an answer with its deadline; an operator stages the answer (the author does
not see it yet) and publishes it; the author sees it. Every transition is audited on the proposal and announced
once on community.proposal-changed.v1.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from sotong.community.v1 import community_events_pb2 as epb
from sotong.community.v1 import community_service_pb2 as pb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common import topics
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, read_all, sql

pytestmark = pytest.mark.e2e


async def gather_in_chunks(calls: list, size: int = 100) -> list:  # type: ignore[type-arg]
    out = []
    for i in range(0, len(calls), size):
        out.extend(await asyncio.gather(*calls[i : i + size]))
    return out


async def published_proposal(stub: pb_grpc.CommunityServiceStub, author: tuple, **fields: str) -> str:  # type: ignore[type-arg]
    created = await stub.CreateProposal(
        pb.CreateProposalRequest(
            space_id=fields.get("space_id", "seoul"),
            title=fields.get("title", "망원한강공원에 따릉이 대여소를 늘려 주세요"),
            body=fields.get("body", "주말마다 대여소에 자전거가 없습니다. 두 곳 더 만들면 좋겠습니다."),
            category="transport",
            district_code="11440",
            request_id=fields.get("request_id", "p-1"),
        ),
        metadata=author,
    )
    proposal_id = created.proposal.proposal_id

    async def state() -> str | None:
        got = await stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id), metadata=author)
        return got.proposal.state if got.proposal.state == "published" else None

    await eventually(state, timeout=60)
    return proposal_id


async def test_supports_open_the_forum_participants_oblige_an_answer_and_the_author_sees_it(
    fresh_stack: Stack,
) -> None:
    fresh_stack.start_services(("community-api", "community-worker", "moderation-worker"), say=False)
    author = person(fresh_stack, "author-1", verification="identity")
    operator = person(fresh_stack, "operator-1", "operator")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        space = (await stub.GetSpace(pb.GetSpaceRequest(space_id="seoul"), metadata=author)).space
        assert (space.support_threshold, space.answer_threshold) == (100, 1000)
        assert space.answer_period.ToTimedelta() == timedelta(days=30)
        assert space.archive_after.ToTimedelta() == timedelta(days=365)
        proposal_id = await published_proposal(stub, author)

        # An unverified citizen is refused, naming the verification needed.
        with pytest.raises(grpc.aio.AioRpcError) as unverified:
            await stub.SupportProposal(
                pb.SupportProposalRequest(proposal_id=proposal_id), metadata=person(fresh_stack, "anon-1")
            )
        assert unverified.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "identity" in (unverified.value.details() or "")

        # 99 supports: still published; the 100th opens the forum.
        supporters = [person(fresh_stack, f"supporter-{i:04d}", verification="identity") for i in range(100)]
        replies = await gather_in_chunks(
            [
                stub.SupportProposal(pb.SupportProposalRequest(proposal_id=proposal_id), metadata=s)
                for s in supporters[:99]
            ]
        )
        assert max(r.support_count for r in replies) == 99 and {r.state for r in replies} == {"published"}
        last = await stub.SupportProposal(pb.SupportProposalRequest(proposal_id=proposal_id), metadata=supporters[99])
        assert (last.support_count, last.state, last.changed) == (100, "forum_open", True)
        # The same citizen again changes nothing; the count a citizen reads is there at once.
        again = await stub.SupportProposal(pb.SupportProposalRequest(proposal_id=proposal_id), metadata=supporters[0])
        assert (again.support_count, again.changed) == (100, False)
        seen = (await stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id), metadata=author)).proposal
        assert (seen.support_count, seen.state) == (100, "forum_open")
        assert seen.answer_deadline.seconds == 0

        # 1,000 forum participants oblige an answer, with the department's deadline.
        participants = [person(fresh_stack, f"citizen-{i:04d}", verification="resident") for i in range(1000)]
        before = datetime.now(UTC)
        joined = await gather_in_chunks(
            [
                stub.JoinForum(pb.JoinForumRequest(proposal_id=proposal_id, stance=pb.STANCE_AGREE), metadata=p)
                for p in participants
            ]
        )
        assert max(j.participant_count for j in joined) == 1000
        assert sum(1 for j in joined if j.state == "answer_required") >= 1
        seen = (await stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id), metadata=author)).proposal
        assert (seen.participant_count, seen.state) == (1000, "answer_required")
        deadline = seen.answer_deadline.ToDatetime(tzinfo=UTC)
        assert before + timedelta(days=30) - timedelta(minutes=1) <= deadline <= datetime.now(UTC) + timedelta(days=30)

        # An operator stages the answer: the author does not see it yet; then publishes it: the author does.
        await stub.StageAnswer(
            pb.StageAnswerRequest(
                proposal_id=proposal_id, state_code="accepted", text="두 곳을 2027년 봄에 설치합니다."
            ),
            metadata=operator,
        )
        staged = (await stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id), metadata=author)).proposal
        assert staged.state == "answer_required" and not staged.HasField("answer")
        for_staff = (await stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id), metadata=operator)).proposal
        assert for_staff.answer.staged and for_staff.answer.text.startswith("두 곳을")
        with pytest.raises(grpc.aio.AioRpcError) as citizen_answers:
            await stub.PublishAnswer(pb.PublishAnswerRequest(proposal_id=proposal_id), metadata=author)
        assert citizen_answers.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await stub.PublishAnswer(pb.PublishAnswerRequest(proposal_id=proposal_id), metadata=operator)
        answered = (await stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id), metadata=author)).proposal
        assert answered.state == "answered" and answered.mine
        assert answered.answer.state_code == "accepted" and answered.answer.kind == pb.ANSWER_KIND_ACCEPTED
        assert answered.answer.text == "두 곳을 2027년 봄에 설치합니다." and not answered.answer.staged

        # Accountability until done; supporting an answered proposal is refused.
        await stub.AddProgress(
            pb.AddProgressRequest(proposal_id=proposal_id, percent=50, text="한 곳 설치 완료"), metadata=operator
        )
        done = await stub.AddProgress(
            pb.AddProgressRequest(proposal_id=proposal_id, percent=100, text="두 곳 모두 설치", done=True),
            metadata=operator,
        )
        assert done.proposal.state == "done" and [p.percent for p in done.proposal.progress] == [50, 100]
        with pytest.raises(grpc.aio.AioRpcError) as closed:
            await stub.SupportProposal(
                pb.SupportProposalRequest(proposal_id=proposal_id),
                metadata=person(fresh_stack, "late-1", verification="identity"),
            )
        assert closed.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        transitions = [t.transition for t in done.proposal.history]
        assert transitions == [
            "created", "submitted", "published", "forum_opened", "answer_required", "answer_staged",
            "answer_published", "progress", "done",
        ]  # fmt: skip

    # Every transition once on the topic, in order; the supports stay secret (only counts leave the service).
    async def announced() -> list[epb.ProposalChanged] | None:
        found = [
            epb.ProposalChanged.FromString(r.value) for r in read_all(fresh_stack, topics.COMMUNITY_PROPOSAL_CHANGED)
        ]
        mine = sorted((e for e in found if e.proposal_id == proposal_id), key=lambda e: e.sequence)
        return mine if len(mine) == len(transitions) else None

    events = await eventually(announced, timeout=30)
    assert [e.transition for e in events] == transitions
    assert [e.sequence for e in events] == list(range(1, len(transitions) + 1))
    assert events[3].support_count == 100 and events[4].participant_count == 1000
    rows = await sql(fresh_stack, "SELECT count(*) AS n FROM supports WHERE proposal_id = $1::uuid", proposal_id,
                     schema="community")  # fmt: skip
    assert rows[0]["n"] == 100
