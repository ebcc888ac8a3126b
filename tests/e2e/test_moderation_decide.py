"""A moderator's decision reaches intake: a political submission waits in review, a moderator removes it, and the
citizen's submission shows the new status."""

from __future__ import annotations

import grpc
import pytest

from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong.moderation.v1 import moderation_events_pb2 as epb
from sotong.moderation.v1 import moderation_service_pb2 as mpb
from sotong.moderation.v1 import moderation_service_pb2_grpc as mpb_grpc
from sotong_common import auth
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, sql, stored, token

pytestmark = pytest.mark.e2e


async def test_a_moderators_removal_changes_the_submission_in_intake(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("intake-api", "intake-worker", "moderation-api", "moderation-worker"), say=False)
    citizen = token(fresh_stack, "citizen")
    moderator = token(fresh_stack, "moderator")
    async with channel(fresh_stack, "intake-api") as ich, channel(fresh_stack, "moderation-api") as mch:
        intake = pb_grpc.IntakeServiceStub(ich)
        moderation = mpb_grpc.ModerationServiceStub(mch)
        reply = await intake.SubmitReport(
            pb.SubmitReportRequest(
                kind=types.SUBMISSION_KIND_OPINION,
                text="다음 선거에서 김철수 후보를 찍어 주세요, 민주당 화이팅",
                district_code="11110",
                channel="app",
                channel_message_id="e2e-political",
            ),
            metadata=citizen,
        )

        await stored(fresh_stack, reply.tracking_id)

        async def status(wanted: types.SubmissionStatus.ValueType) -> pb.Submission | None:
            got = await intake.GetSubmission(pb.GetSubmissionRequest(tracking_id=reply.tracking_id), metadata=citizen)
            return got.submission if got.submission.status == wanted else None

        # The pipeline never removes political content itself: it goes to a person.
        await eventually(lambda: status(types.SUBMISSION_STATUS_IN_REVIEW))
        rows = await sql(
            fresh_stack, "SELECT id FROM submissions WHERE tracking_id = $1", reply.tracking_id, schema="intake"
        )
        submission_id = str(rows[0]["id"])
        queue = await moderation.ListQueue(mpb.ListQueueRequest(clauses=["political"]), metadata=moderator)
        assert [i.content_id for i in queue.items] == [submission_id]
        assert queue.items[0].content_type == "submission"

        decided = await moderation.Decide(
            mpb.DecideRequest(
                content_id=submission_id,
                action=epb.ACTION_REMOVE,
                clauses=["political"],
                reason="특정 정당·후보 지지 게시물",
                expected_decision_id=queue.items[0].decision.decision_id,
            ),
            metadata=moderator,
        )
        assert decided.decision.decided_by == "test-moderator"

        removed = await eventually(lambda: status(types.SUBMISSION_STATUS_REMOVED))
        assert [h.status for h in removed.history] == [
            types.SUBMISSION_STATUS_RECEIVED,
            types.SUBMISSION_STATUS_IN_REVIEW,
            types.SUBMISSION_STATUS_REMOVED,
        ]
        assert removed.history[-1].changed_by == "moderation"
        assert list(removed.moderation_categories) == ["political"]
        applied = await sql(
            fresh_stack, "SELECT moderation_decision_id FROM submissions WHERE id = $1::uuid", submission_id,
            schema="intake",
        )  # fmt: skip
        assert str(applied[0]["moderation_decision_id"]) == decided.decision.decision_id

        # Only the author may appeal: another citizen is refused (before issue 11 anyone could).
        other = (
            ("authorization", "Bearer " + auth.issue(fresh_stack.state.jwt_secret, "another-citizen", ["citizen"])),
        )
        with pytest.raises(grpc.aio.AioRpcError) as not_theirs:
            await moderation.Appeal(mpb.AppealRequest(content_id=submission_id, reason="남의 글"), metadata=other)
        assert not_theirs.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # The author appeals; a moderator reinstates it, and intake follows.
        await moderation.Appeal(
            mpb.AppealRequest(content_id=submission_id, reason="정책 제안일 뿐 선거운동이 아닙니다"), metadata=citizen
        )
        reinstated = await moderation.Decide(
            mpb.DecideRequest(content_id=submission_id, action=epb.ACTION_PUBLISH, reason="이의신청 인용"),
            metadata=moderator,
        )
        published = await eventually(lambda: status(types.SUBMISSION_STATUS_PUBLISHED))
        assert published.history[-1].status == types.SUBMISSION_STATUS_PUBLISHED
        applied = await sql(
            fresh_stack, "SELECT moderation_decision_id FROM submissions WHERE id = $1::uuid", submission_id,
            schema="intake",
        )  # fmt: skip
        assert str(applied[0]["moderation_decision_id"]) == reinstated.decision.decision_id
