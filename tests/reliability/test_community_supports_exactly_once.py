"""Supports are counted exactly once (issue 11's third done-when item).

2,000 concurrent support calls on one proposal from 1,000 verified citizens (each calls twice, at the same
moment) end at 1,000: the count the API answers, the count a citizen reads, the rows, the forum opened once, and
the opinion statistics' supports for the proposal's district. The second run kills the worker (which keeps the
statistics) with SIGKILL while the calls are in flight and restarts it: the statistics still end at exactly
1,000.
"""

from __future__ import annotations

import asyncio
import signal

import grpc
import pytest

from sotong.community.v1 import community_events_pb2 as epb
from sotong.community.v1 import community_service_pb2 as pb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common import topics
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, read_all, sql

pytestmark = pytest.mark.reliability

CITIZENS = 1000
IN_FLIGHT = 2 * CITIZENS  # every call open at once on the client's one HTTP/2 connection


@pytest.mark.parametrize("kill_worker", [False, True], ids=["steady", "worker-sigkilled"])
async def test_two_thousand_concurrent_supports_from_a_thousand_citizens_end_at_a_thousand(
    fresh_stack: Stack, kill_worker: bool
) -> None:
    fresh_stack.start_services(("community-api", "community-worker", "moderation-worker"), say=False)
    author = person(fresh_stack, "author-1")
    operator = person(fresh_stack, "operator-1", "operator")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        space = pb.Space(space_id="exact", title="정확히 한 번", support_threshold=100, answer_threshold=100_000)
        await stub.UpsertSpace(pb.UpsertSpaceRequest(space=space), metadata=operator)
        created = await stub.CreateProposal(
            pb.CreateProposalRequest(
                space_id="exact",
                title="불광천 산책로에 조명을 더 달아 주세요",
                body="밤에 어두워 걷기 무섭습니다.",
                category="safety",
                district_code="11380",
                request_id="p-1",
            ),
            metadata=author,
        )
        proposal_id = created.proposal.proposal_id

        async def published() -> bool:
            got = await stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id), metadata=author)
            return got.proposal.state == "published"

        await eventually(published)

        citizens = [person(fresh_stack, f"citizen-{i:04d}", verification="identity") for i in range(CITIZENS)]
        request = pb.SupportProposalRequest(proposal_id=proposal_id)
        done = 0
        halfway = asyncio.Event()
        in_flight = asyncio.Semaphore(IN_FLIGHT)

        retried = 0

        async def support(who: tuple) -> pb.SupportProposalResponse:  # type: ignore[type-arg]
            nonlocal done, retried
            async with in_flight:
                while True:  # as an app does: a call the transport cancelled or refused is sent again
                    try:
                        reply = await stub.SupportProposal(request, metadata=who, timeout=120)
                        break
                    except grpc.aio.AioRpcError as error:
                        if error.code() not in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE):
                            raise
                        retried += 1
            done += 1
            if done == CITIZENS:
                halfway.set()
            return reply

        async def kill_and_restart() -> None:
            await halfway.wait()
            fresh_stack.kill_process("community-worker", signal.SIGKILL)
            await asyncio.sleep(1.0)
            fresh_stack.start_services(("community-worker",), say=False)

        killer = asyncio.create_task(kill_and_restart()) if kill_worker else None
        calls = [support(c) for c in citizens] + [support(c) for c in reversed(citizens)]
        replies = await asyncio.gather(*calls)
        print(f"2,000 calls, {retried} retried after CANCELLED or UNAVAILABLE")
        if killer is not None:
            await killer

        assert len(replies) == 2 * CITIZENS
        # Each citizen's support was added by at most one call (exactly one, unless a retried call's first attempt
        # had added it and only its answer was lost).
        assert CITIZENS - retried <= sum(r.changed for r in replies) <= CITIZENS
        assert max(r.support_count for r in replies) == CITIZENS
        assert all(0 < r.support_count <= CITIZENS for r in replies)
        seen = (await stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id), metadata=author)).proposal
        assert (seen.support_count, seen.state) == (CITIZENS, "forum_open")
        assert [t.transition for t in seen.history].count("forum_opened") == 1

        async def supports_counted() -> int | None:
            stats = await stub.GetOpinionStats(
                pb.GetOpinionStatsRequest(district_code="11380", category="safety", window=epb.WINDOW_DAY),
                metadata=operator,
            )
            total = sum(b.counts.supports for b in stats.buckets)
            return total if total >= CITIZENS else None

        assert await eventually(supports_counted, timeout=120) == CITIZENS
        await asyncio.sleep(3)  # anything counted twice would show now
        assert await supports_counted() == CITIZENS

    rows = await sql(fresh_stack, "SELECT count(*) AS n FROM supports WHERE proposal_id = $1::uuid", proposal_id,
                     schema="community")  # fmt: skip
    assert rows[0]["n"] == CITIZENS
    changes = [
        epb.ProposalChanged.FromString(r.value) for r in read_all(fresh_stack, topics.COMMUNITY_PROPOSAL_CHANGED)
    ]
    assert [c.transition for c in changes if c.proposal_id == proposal_id].count("forum_opened") == 1
    if kill_worker:
        assert fresh_stack.processes["community-worker"].poll() is None  # the restarted worker runs on
