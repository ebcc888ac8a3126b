"""Citizen communities, debates' opinion groups and opinion by district, on the real stack.

A community is moderated before it opens; join requests are decided by its owner or moderators; members post;
owners and moderators file proposals and open debates on its behalf. A debate's votes give opinion groups that the
worker computes and that recompute identically from the stored votes and seed. Intake's opinions and complaints,
proposals and comments are counted per district, category and window (queryable and on the compacted topic), and
the district's top terms are nouns from the Korean analyser.
"""

from __future__ import annotations

import asyncio
import json
import random

import grpc
import pytest

from sotong.community.v1 import community_events_pb2 as epb
from sotong.community.v1 import community_service_pb2 as pb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_service_pb2 as ipb
from sotong.intake.v1 import intake_service_pb2_grpc as ipb_grpc
from sotong.intake.v1 import intake_types_pb2 as itypes
from sotong_common import topics
from sotong_community import opinion_groups
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, read_all, sql

pytestmark = pytest.mark.service


async def test_a_community_is_moderated_run_by_its_owner_and_moderators_and_acts_for_its_members(
    fresh_stack: Stack,
) -> None:
    fresh_stack.start_services(("community-api", "community-worker", "moderation-worker"), say=False)
    owner = person(fresh_stack, "owner-1")
    joiner = person(fresh_stack, "joiner-1")
    outsider = person(fresh_stack, "outsider-1")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        made = await stub.CreateCommunity(
            pb.CreateCommunityRequest(
                name="망원동 골목 지킴이", description="골목 안전과 청결을 함께 돌봅니다", district_code="11440",
                topic="safety", request_id="g-1",
            ),
            metadata=owner,
        )  # fmt: skip
        community_id = made.community.community_id
        assert made.community.status == "in_moderation" and made.community.my_role == pb.MEMBER_ROLE_OWNER
        with pytest.raises(grpc.aio.AioRpcError) as not_yet:
            await stub.GetCommunity(pb.GetCommunityRequest(community_id=community_id), metadata=outsider)
        assert not_yet.value.code() == grpc.StatusCode.NOT_FOUND

        async def active() -> pb.Community | None:
            try:
                got = await stub.GetCommunity(pb.GetCommunityRequest(community_id=community_id), metadata=outsider)
            except grpc.aio.AioRpcError:  # not listed before moderation published it
                return None
            return got.community if got.community.status == "active" else None

        shown = await eventually(active)
        assert shown.name == "망원동 골목 지킴이" and shown.my_role == pb.MEMBER_ROLE_UNSPECIFIED

        assert (await stub.RequestToJoin(pb.RequestToJoinRequest(community_id=community_id, message="함께해요"),
                                         metadata=joiner)).status == "pending"  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as outsider_decides:
            await stub.DecideJoinRequest(
                pb.DecideJoinRequestRequest(community_id=community_id, citizen="joiner-1", approve=True),
                metadata=outsider,
            )
        assert outsider_decides.value.code() == grpc.StatusCode.PERMISSION_DENIED
        waiting = await stub.ListJoinRequests(pb.ListJoinRequestsRequest(community_id=community_id), metadata=owner)
        assert [r.citizen for r in waiting.requests] == ["joiner-1"]
        decided = await stub.DecideJoinRequest(
            pb.DecideJoinRequestRequest(community_id=community_id, citizen="joiner-1", approve=True), metadata=owner
        )
        assert (decided.status, decided.member_count) == ("approved", 2)

        # A member posts (moderated); only managers act on the community's behalf; the owner makes a moderator.
        posted = await stub.PostInCommunity(
            pb.PostInCommunityRequest(community_id=community_id, text="이번 주 토요일 골목 청소해요", request_id="x"),
            metadata=joiner,
        )
        with pytest.raises(grpc.aio.AioRpcError) as outsider_posts:
            await stub.PostInCommunity(
                pb.PostInCommunityRequest(community_id=community_id, text="광고", request_id="y"), metadata=outsider
            )
        assert outsider_posts.value.code() == grpc.StatusCode.PERMISSION_DENIED
        proposal = pb.CreateProposalRequest(
            title="망원동 골목에 분리수거함을 놓아 주세요", body="골목 쓰레기가 줄어들 것입니다.",
            district_code="11440", community_id=community_id, request_id="on-behalf",
        )  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as member_files:
            await stub.CreateProposal(proposal, metadata=joiner)
        assert member_files.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await stub.SetMemberRole(
            pb.SetMemberRoleRequest(community_id=community_id, citizen="joiner-1", role=pb.MEMBER_ROLE_MODERATOR),
            metadata=owner,
        )
        filed = await stub.CreateProposal(proposal, metadata=joiner)
        assert filed.proposal.community_id == community_id
        debate = await stub.OpenDebate(
            pb.OpenDebateRequest(
                title="골목 주차 어떻게 할까요",
                description="의견을 모읍니다",
                community_id=community_id,
                request_id="d",
            ),
            metadata=joiner,
        )  # fmt: skip
        assert debate.debate.status == "in_moderation" and debate.debate.community_id == community_id

        async def post_shown() -> list[pb.Post] | None:
            got = await stub.ListCommunityPosts(
                pb.ListCommunityPostsRequest(community_id=community_id), metadata=outsider
            )
            return list(got.posts) or None

        assert [p.post_id for p in await eventually(post_shown)] == [posted.post.post_id]
        with pytest.raises(grpc.aio.AioRpcError) as owner_leaves:
            await stub.LeaveCommunity(pb.LeaveCommunityRequest(community_id=community_id), metadata=owner)
        assert owner_leaves.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        left = await stub.LeaveCommunity(pb.LeaveCommunityRequest(community_id=community_id), metadata=joiner)
        assert left.member_count == 1


async def test_opinion_groups_and_opinion_by_district(fresh_stack: Stack) -> None:
    fresh_stack.start_services(
        ("community-api", "community-worker", "moderation-worker", "intake-api", "intake-worker"), say=False
    )
    operator = person(fresh_stack, "operator-1", "operator")
    async with channel(fresh_stack, "community-api") as ch, channel(fresh_stack, "intake-api") as ich:
        stub = pb_grpc.CommunityServiceStub(ch)
        intake = ipb_grpc.IntakeServiceStub(ich)

        # Opinions and complaints through intake, in Mapo-gu: counted, and their published text's nouns.
        texts = [
            (itypes.SUBMISSION_KIND_OPINION, "망원동 골목 가로등이 너무 어두워요"),
            (itypes.SUBMISSION_KIND_OPINION, "가로등을 더 밝은 것으로 바꾸면 좋겠습니다"),
            (itypes.SUBMISSION_KIND_COMPLAINT, "합정역 앞 가로등이 꺼져 있습니다"),
            (itypes.SUBMISSION_KIND_REPORT, "보도블록이 깨져 있어요"),  # a report is not an opinion
        ]
        for i, (kind, text) in enumerate(texts):
            await intake.SubmitReport(
                ipb.SubmitReportRequest(kind=kind, text=text, district_code="11440", channel="app",
                                        channel_message_id=f"o-{i}"),
                metadata=person(fresh_stack, f"resident-{i}"),
            )  # fmt: skip

        async def counted() -> epb.OpinionCounts | None:
            got = await stub.GetOpinionStats(
                pb.GetOpinionStatsRequest(district_code="11440", window=epb.WINDOW_DAY, top_terms=5), metadata=operator
            )
            total = epb.OpinionCounts()
            for b in got.buckets:
                total.opinions += b.counts.opinions
                total.complaints += b.counts.complaints
            terms = {t.term: t.count for d in got.terms for t in d.terms}
            return total if (total.opinions, total.complaints) == (2, 1) and terms.get("가로등") == 3 else None

        await eventually(counted, timeout=90)
        got = await stub.GetOpinionStats(
            pb.GetOpinionStatsRequest(district_code="11440", window=epb.WINDOW_WEEK, top_terms=3), metadata=operator
        )
        assert got.terms[0].district_code == "11440" and got.terms[0].terms[0].term == "가로등"
        assert sum(b.counts.opinions for b in got.buckets) == 2
        # The compacted topic carries each bucket's current counts (the last record of a key wins).
        latest: dict[bytes, epb.OpinionStat] = {}
        for record in read_all(fresh_stack, topics.COMMUNITY_OPINION_STATS):
            latest[record.key] = epb.OpinionStat.FromString(record.value)
        day = [s for s in latest.values() if s.district_code == "11440" and s.window == epb.WINDOW_DAY]
        assert sum(s.counts.opinions for s in day) == 2 and sum(s.counts.complaints for s in day) == 1

        # A debate's statements and votes: two camps and one statement everyone agrees with.
        debate = (await stub.OpenDebate(
            pb.OpenDebateRequest(title="한강공원 야간 음주", description="어떻게 생각하세요?", request_id="d"),
            metadata=operator,
        )).debate  # fmt: skip
        statements = []
        for i, text in enumerate([
            "야간 음주를 금지해야 한다", "단속보다 계도가 먼저다", "분리수거함을 더 설치하자",
            "음주 구역을 따로 두자", "벌금을 올려야 한다", "공원은 모두의 쉼터다",
        ]):  # fmt: skip
            added = await stub.AddStatement(
                pb.AddStatementRequest(debate_id=debate.debate_id, text=text, request_id=f"s{i}"),
                metadata=person(fresh_stack, f"writer-{i}"),
            )
            statements.append(added.statement.statement_id)

        async def all_published() -> bool:
            got = await stub.GetDebate(pb.GetDebateRequest(debate_id=debate.debate_id), metadata=operator)
            return sum(1 for s in got.debate.statements if s.status == "published") == len(statements)

        await eventually(all_published)
        rng = random.Random(11)
        votes = []
        for voter in range(30):
            camp = voter % 2
            for index, statement in enumerate(statements):
                if index == 5:
                    vote = pb.VOTE_AGREE
                else:
                    agrees = (index % 2 == 0) == (camp == 0)
                    vote = (pb.VOTE_AGREE if agrees else pb.VOTE_DISAGREE) if rng.random() < 0.9 else pb.VOTE_PASS
                votes.append(
                    stub.VoteStatement(
                        pb.VoteStatementRequest(statement_id=statement, vote=vote),
                        metadata=person(fresh_stack, f"voter-{voter:02d}"),
                    )
                )
        await asyncio.gather(*votes)

        async def grouped() -> pb.GetOpinionGroupsResponse | None:
            got = await stub.GetOpinionGroups(pb.GetOpinionGroupsRequest(debate_id=debate.debate_id), metadata=operator)
            return got if got.participants == 30 else None

        groups = await eventually(grouped, timeout=90)
        assert sorted(g.members for g in groups.groups) == [15, 15]
        assert statements[5] in {c.statement_id for c in groups.consensus if c.direction == "agree"}
        assert all(g.representative for g in groups.groups)

    # Reproducible: the stored votes and seed give the stored result again.
    rows = await sql(fresh_stack, "SELECT citizen, statement_id, vote FROM statement_votes WHERE debate_id = $1::uuid",
                     debate.debate_id, schema="community")  # fmt: skip
    stored = await sql(fresh_stack, "SELECT * FROM opinion_groups WHERE debate_id = $1::uuid", debate.debate_id,
                       schema="community")  # fmt: skip
    replay = [opinion_groups.Vote(r["citizen"], r["statement_id"], r["vote"]) for r in rows]
    assert opinion_groups.digest(replay) == stored[0]["input_digest"] == groups.input_digest
    result = stored[0]["result"]
    assert opinion_groups.compute(replay, stored[0]["seed"]) == (
        json.loads(result) if isinstance(result, str) else result
    )
