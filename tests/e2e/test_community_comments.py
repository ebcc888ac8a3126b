"""Comments pass moderation on the real stack (issue 11's second done-when item, and the comment policy's last
sentence).

A comment with a phone number is published masked; an abusive one never shows (its author sees the clause); three
citizens' reports hide a comment until a moderator decides, moderators are told something waits, and the queue has
it; the author's appeal reaches the queue, another citizen's is refused; a comment that is really a complaint is
filed with intake and its author sees the tracking id.
"""

from __future__ import annotations

import grpc
import pytest

from sotong.community.v1 import community_service_pb2 as pb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong.moderation.v1 import moderation_events_pb2 as mepb
from sotong.moderation.v1 import moderation_service_pb2 as mpb
from sotong.moderation.v1 import moderation_service_pb2_grpc as mpb_grpc
from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import topics
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, read_all, sql

pytestmark = pytest.mark.e2e


async def test_comments_are_masked_removed_hidden_by_reports_appealed_and_routed(
    fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOTONG_COMMUNITY_TIMER_SECONDS", "1")
    fresh_stack.start_services(
        ("community-api", "community-worker", "moderation-worker", "moderation-api", "intake-worker"), say=False
    )
    author = person(fresh_stack, "author-1", verification="identity")
    writer = person(fresh_stack, "writer-1")
    reader = person(fresh_stack, "reader-1")
    moderator = person(fresh_stack, "moderator-1", "moderator")
    async with channel(fresh_stack, "community-api") as ch, channel(fresh_stack, "moderation-api") as mch:
        stub = pb_grpc.CommunityServiceStub(ch)
        moderation = mpb_grpc.ModerationServiceStub(mch)
        created = await stub.CreateProposal(
            pb.CreateProposalRequest(
                title="합정역 앞 횡단보도 신호를 길게 해 주세요",
                body="어르신들이 다 건너기 전에 신호가 바뀝니다.",
                category="transport",
                district_code="11440",
                request_id="p-1",
            ),
            metadata=author,
        )
        target = pb.TargetRef(kind=pb.TARGET_KIND_PROPOSAL, id=created.proposal.proposal_id)

        async def published() -> bool:
            got = await stub.GetProposal(pb.GetProposalRequest(proposal_id=target.id), metadata=author)
            return got.proposal.state == "published"

        await eventually(published)

        async def post(text: str, request_id: str, who: tuple = writer, parent: str = "") -> pb.PostCommentResponse:  # type: ignore[type-arg]
            return await stub.PostComment(
                pb.PostCommentRequest(target=target, text=text, request_id=request_id, parent_comment_id=parent),
                metadata=who,
            )

        async def decided(comment_id: str, who: tuple = reader) -> pb.Comment | None:  # type: ignore[type-arg]
            try:
                got = await stub.GetComment(pb.GetCommentRequest(comment_id=comment_id), metadata=who)
            except grpc.aio.AioRpcError:
                return None
            return got.comment if got.comment.status != "in_moderation" else None

        phone = await post("좋은 제안입니다. 제 번호 010-2345-6789 로 연락 주세요", "c-phone")
        abusive = await post("씨발 이런 걸 제안이라고 올리냐 병신아", "c-abuse")
        clean = await post("주말마다 공원이 붐벼서 찬성합니다", "c-clean")
        again = await post("주말마다 공원이 붐벼서 찬성합니다", "c-clean")  # a retried call
        assert again.comment.comment_id == clean.comment.comment_id and not again.created
        # Nobody else sees a comment before moderation published it; its author sees what they wrote.
        mine = (
            await stub.GetComment(pb.GetCommentRequest(comment_id=phone.comment.comment_id), metadata=writer)
        ).comment
        assert mine.mine and mine.text.startswith("좋은 제안입니다. 제 번호 010-2345-6789")

        masked = await eventually(lambda: decided(phone.comment.comment_id))
        assert masked.status == "published" and masked.masked
        assert "010-2345-6789" not in masked.text and "***-****-****" in masked.text

        # The abusive comment never shows to others; its author sees it removed, with the clause.
        async def removed() -> pb.Comment | None:
            got = await decided(abusive.comment.comment_id, writer)
            return got if got is not None and got.status == "removed" else None

        gone = await eventually(removed)
        assert list(gone.clauses) == ["profanity"]
        with pytest.raises(grpc.aio.AioRpcError) as hidden_from_others:
            await stub.GetComment(pb.GetCommentRequest(comment_id=abusive.comment.comment_id), metadata=reader)
        assert hidden_from_others.value.code() == grpc.StatusCode.NOT_FOUND
        await eventually(lambda: decided(clean.comment.comment_id))
        listed = await stub.ListComments(pb.ListCommentsRequest(target=target), metadata=reader)
        assert {c.comment_id for c in listed.comments} == {phone.comment.comment_id, clean.comment.comment_id}

        # Only the author may appeal the removal; the appeal reaches the moderation queue.
        content_id = gone.content_id
        with pytest.raises(grpc.aio.AioRpcError) as not_theirs:
            await moderation.Appeal(mpb.AppealRequest(content_id=content_id, reason="억울합니다"), metadata=reader)
        assert not_theirs.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await moderation.Appeal(
            mpb.AppealRequest(content_id=content_id, reason="욕이 아니라 강조였습니다"), metadata=writer
        )
        queue = await moderation.ListQueue(mpb.ListQueueRequest(content_type="community.comment"), metadata=moderator)
        appealed = [i for i in queue.items if i.content_id == content_id]
        assert appealed and appealed[0].reason == mpb.QUEUE_REASON_APPEAL and appealed[0].appealed_by == "writer-1"

        # Three distinct citizens' reports hide a comment until a moderator decides; a repeat report counts once.
        clean_content = (
            await stub.GetComment(pb.GetCommentRequest(comment_id=clean.comment.comment_id), metadata=writer)
        ).comment.content_id
        counts = []
        for i, who in enumerate(["r-1", "r-2", "r-2", "r-3"]):
            got = await stub.ReportContent(
                pb.ReportContentRequest(content_id=clean_content, reason=f"신고 {i}"), metadata=person(fresh_stack, who)
            )
            counts.append((got.report_count, got.hidden))
        assert counts == [(1, False), (2, False), (2, False), (3, True)]
        listed = await stub.ListComments(pb.ListCommentsRequest(target=target), metadata=reader)
        assert clean.comment.comment_id not in {c.comment_id for c in listed.comments}

        async def queued() -> mpb.QueueItem | None:
            q = await moderation.ListQueue(mpb.ListQueueRequest(content_type="community.comment"), metadata=moderator)
            return next((i for i in q.items if i.content_id == clean_content), None)

        item = await eventually(queued)
        assert item.decision.action == mepb.ACTION_REVIEW
        assert any(e.text == "reported by 3 citizens" for e in item.decision.evidence)
        # The pipeline's review decision keeps it hidden; moderators are told that something waits.
        still = await eventually(lambda: decided(clean.comment.comment_id, writer))
        assert still.status == "hidden"

        async def told() -> list[ppb.DispatchRequested] | None:
            found = [
                ppb.DispatchRequested.FromString(r.value) for r in read_all(fresh_stack, topics.COMMUNITY_DISPATCH)
            ]
            mine = [
                d for d in found if d.purpose == "moderation_waiting" and "신고로 숨겨진 것 1건" in d.renderings[0].body
            ]
            return mine or None

        notices = await eventually(told, timeout=30)
        assert notices[0].channel == ppb.CHANNEL_GROUP_CHAT and list(notices[0].audience.targets)
        assert notices[0].requester == "community" and notices[0].priority == ppb.PRIORITY_ROUTINE

        # A moderator publishes it again: it shows.
        await moderation.Decide(
            mpb.DecideRequest(content_id=clean_content, action=mepb.ACTION_PUBLISH, reason="정상 의견"),
            metadata=moderator,
        )

        async def shown_again() -> bool:
            got = await decided(clean.comment.comment_id)
            return got is not None and got.status == "published"

        await eventually(shown_again)

        # Replies are a level of their own; a comment that is really a complaint goes to intake.
        reply = await post("동의합니다", "c-reply", parent=clean.comment.comment_id)
        await eventually(lambda: decided(reply.comment.comment_id))
        replies = await stub.ListComments(
            pb.ListCommentsRequest(target=target, parent_comment_id=clean.comment.comment_id), metadata=reader
        )
        assert [c.comment_id for c in replies.comments] == [reply.comment.comment_id]
        top = await stub.ListComments(pb.ListCommentsRequest(target=target), metadata=reader)
        assert {c.comment_id: c.reply_count for c in top.comments}[clean.comment.comment_id] == 1

        complaint = await post("합정역 2번 출구 가로등이 고장 났어요. 빨리 고쳐 주세요", "c-complaint")
        assert complaint.routed_as_complaint and not clean.routed_as_complaint

        async def tracked() -> str | None:
            got = await stub.GetComment(pb.GetCommentRequest(comment_id=complaint.comment.comment_id), metadata=writer)
            return got.comment.complaint_tracking_id or None

        tracking_id = await eventually(tracked, timeout=60)
        rows = await sql(fresh_stack, "SELECT kind, channel, text FROM submissions WHERE tracking_id = $1", tracking_id,
                         schema="intake")  # fmt: skip
        assert rows and rows[0]["kind"] == "complaint" and "가로등" in rows[0]["text"]
        other = await stub.GetComment(pb.GetCommentRequest(comment_id=complaint.comment.comment_id), metadata=writer)
        assert other.comment.complaint_tracking_id == tracking_id
