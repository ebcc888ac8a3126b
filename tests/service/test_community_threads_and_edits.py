"""Long threads page by keyset, and the author's rights over a proposal, on the real stack.

A 10,000-comment thread reads as fast as a 10-comment one: shown by what PostgreSQL does, not by a clock (tests
never assert on speed): the page query reads the same number of index entries whichever thread and whichever page,
and paging through all 10,000 returns each comment once, in order. An author edits before the first support (a
published proposal goes back through moderation and comes back with the new text), not after; likes are counted
apart from supports.
"""

from __future__ import annotations

import json
import uuid

import grpc
import pytest

from sotong.community.v1 import community_service_pb2 as pb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, sql

pytestmark = pytest.mark.service

PAGE_SQL = (
    "SELECT * FROM comments WHERE target_kind = $1 AND target_id = $2 AND parent_id = $3"
    " AND status = 'published' AND seq > $4 ORDER BY seq LIMIT $5"
)
NIL = "00000000-0000-0000-0000-000000000000"


async def published(stub: pb_grpc.CommunityServiceStub, author: tuple, title: str, request_id: str) -> str:  # type: ignore[type-arg]
    created = await stub.CreateProposal(
        pb.CreateProposalRequest(title=title, body=f"{title}에 대한 제안입니다.", district_code="11440",
                                 request_id=request_id),
        metadata=author,
    )  # fmt: skip
    pid = created.proposal.proposal_id

    async def state() -> bool:
        got = await stub.GetProposal(pb.GetProposalRequest(proposal_id=pid), metadata=author)
        return got.proposal.state == "published"

    await eventually(state)
    return pid


async def fill(stack: Stack, target: str, n: int) -> None:
    """n published comments on one proposal, written straight into the table (the moderation path is tested
    elsewhere; here only the reading matters)."""
    await sql(
        stack,
        "INSERT INTO comments (comment_id, target_kind, target_id, parent_id, author, content_id, status, shown_text,"
        " request_id) SELECT gen_random_uuid(), 'proposal', $1::uuid, $2::uuid, 'filler-' || i, 'comment:x' || i,"
        " 'published', '댓글 ' || i, $1 || ':' || i FROM generate_series(1, $3) AS i",
        target,
        NIL,
        n,
        schema="community",
    )


async def rows_read(stack: Stack, target: str, after: int, size: int) -> tuple[int, str]:
    """How many index entries the page query read, and the plan's access node (EXPLAIN ANALYZE, real execution)."""
    plan = await sql(
        stack,
        "EXPLAIN (ANALYZE, FORMAT JSON) " + PAGE_SQL,
        "proposal",
        uuid.UUID(target),
        uuid.UUID(NIL),
        after,
        size + 1,
        schema="community",
    )
    root = json.loads(plan[0][0])[0]["Plan"]
    node = root
    while node.get("Plans"):
        node = node["Plans"][0]
    return int(node["Actual Rows"]), str(node["Node Type"]) + " " + str(node.get("Index Name", ""))


async def test_a_ten_thousand_comment_thread_pages_like_a_ten_comment_one(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("community-api", "community-worker", "moderation-worker"), say=False)
    author = person(fresh_stack, "author-1")
    reader = person(fresh_stack, "reader-1")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        long = await published(stub, author, "망원동 골목 가로등 교체", "long")
        short = await published(stub, author, "성산동 놀이터 그늘막 설치", "short")
        await fill(fresh_stack, long, 10_000)
        await fill(fresh_stack, short, 10)
        await sql(fresh_stack, "ANALYZE comments", schema="community")
        last_seq = (await sql(fresh_stack, "SELECT max(seq) AS m FROM comments WHERE target_id = $1::uuid", long,
                              schema="community"))[0]["m"]  # fmt: skip
        first_long = await rows_read(fresh_stack, long, 0, 50)
        deep_long = await rows_read(fresh_stack, long, last_seq - 60, 50)
        first_short = await rows_read(fresh_stack, short, 0, 50)
        # The same index range read at the start of the long thread, deep in it, and in the short one.
        assert first_long == (51, "Index Scan comments_thread")
        assert deep_long == (51, "Index Scan comments_thread")
        assert first_short == (10, "Index Scan comments_thread")

        # Paging through the whole thread: each comment once, in posting order, 200 at a time.
        seen: list[str] = []
        token = ""
        target = pb.TargetRef(kind=pb.TARGET_KIND_PROPOSAL, id=long)
        while True:
            page = await stub.ListComments(
                pb.ListCommentsRequest(target=target, page_size=200, page_token=token), metadata=reader
            )
            seen.extend(c.text for c in page.comments)
            token = page.next_page_token
            if not token:
                break
        assert seen == [f"댓글 {i}" for i in range(1, 10_001)]


async def test_edit_before_the_first_support_withdraw_any_time_likes_apart(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("community-api", "community-worker", "moderation-worker"), say=False)
    author = person(fresh_stack, "author-1")
    other = person(fresh_stack, "other-1", verification="identity")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        draft = await stub.CreateProposal(
            pb.CreateProposalRequest(title="초안", body="아직 쓰는 중", district_code="11440", draft=True,
                                     request_id="d"),
            metadata=author,
        )  # fmt: skip
        pid = draft.proposal.proposal_id
        assert draft.proposal.state == "draft" and draft.proposal.editable
        with pytest.raises(grpc.aio.AioRpcError) as not_public:
            await stub.GetProposal(pb.GetProposalRequest(proposal_id=pid), metadata=other)
        assert not_public.value.code() == grpc.StatusCode.NOT_FOUND
        edited = await stub.EditProposal(
            pb.EditProposalRequest(
                proposal_id=pid, title="공덕역 엘리베이터 설치", body="계단뿐이라 어르신들이 힘듭니다",
                district_code="11440",
            ),
            metadata=author,
        )  # fmt: skip
        assert (edited.proposal.state, edited.proposal.revision) == ("draft", 2)
        with pytest.raises(grpc.aio.AioRpcError) as not_theirs:
            await stub.EditProposal(
                pb.EditProposalRequest(proposal_id=pid, title="남의 제안", body="바꿔 봄"), metadata=other
            )
        assert not_theirs.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await stub.SubmitProposal(pb.SubmitProposalRequest(proposal_id=pid), metadata=author)

        async def state(wanted: str) -> pb.Proposal | None:
            try:
                got = await stub.GetProposal(pb.GetProposalRequest(proposal_id=pid), metadata=other)
            except grpc.aio.AioRpcError:  # not public before moderation published it
                return None
            return got.proposal if got.proposal.state == wanted else None

        shown = await eventually(lambda: state("published"))
        assert shown.title == "공덕역 엘리베이터 설치" and not shown.mine
        # Published, no support yet: the author may still edit; it goes back through moderation.
        again = await stub.EditProposal(
            pb.EditProposalRequest(proposal_id=pid, title="공덕역 4번 출구 엘리베이터 설치",
                                   body="계단뿐이라 어르신과 유모차가 다니기 힘듭니다", district_code="11440"),
            metadata=author,
        )  # fmt: skip
        assert (again.proposal.state, again.proposal.revision) == ("in_moderation", 3)
        republished = await eventually(lambda: state("published"))
        assert republished.title == "공덕역 4번 출구 엘리베이터 설치"

        # Likes are counted apart from supports, and taken back.
        liked = await stub.LikeProposal(pb.LikeProposalRequest(proposal_id=pid, like=True), metadata=other)
        assert (liked.like_count, liked.changed) == (1, True)
        supported = await stub.SupportProposal(pb.SupportProposalRequest(proposal_id=pid), metadata=other)
        assert supported.support_count == 1
        mine = (await stub.GetProposal(pb.GetProposalRequest(proposal_id=pid), metadata=other)).proposal
        assert (mine.like_count, mine.support_count, mine.liked_by_me, mine.supported_by_me) == (1, 1, True, True)
        unliked = await stub.LikeProposal(pb.LikeProposalRequest(proposal_id=pid, like=False), metadata=other)
        assert (unliked.like_count, unliked.changed) == (0, True)

        # After the first support: no more edits; a support can be withdrawn (once); the author withdraws.
        with pytest.raises(grpc.aio.AioRpcError) as too_late:
            await stub.EditProposal(
                pb.EditProposalRequest(proposal_id=pid, title="또 수정", body="본문"), metadata=author
            )
        assert too_late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "before its first support" in (too_late.value.details() or "")
        back = await stub.WithdrawSupport(pb.WithdrawSupportRequest(proposal_id=pid), metadata=other)
        assert (back.support_count, back.changed) == (0, True)
        twice = await stub.WithdrawSupport(pb.WithdrawSupportRequest(proposal_id=pid), metadata=other)
        assert (twice.support_count, twice.changed) == (0, False)
        gone = await stub.WithdrawProposal(
            pb.WithdrawProposalRequest(proposal_id=pid, reason="구청에서 설치하기로 했습니다"), metadata=author
        )
        assert gone.proposal.state == "withdrawn"
        history = (await stub.GetProposal(pb.GetProposalRequest(proposal_id=pid), metadata=author)).proposal.history
        assert [t.transition for t in history] == [
            "created", "edited", "submitted", "published", "edited", "published", "withdrawn",
        ]  # fmt: skip
