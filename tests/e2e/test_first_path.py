"""The first path, end to end on the real stack: intake -> moderation -> intake, one trace across every hop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong.moderation.v1 import moderation_service_pb2 as mpb
from sotong.moderation.v1 import moderation_service_pb2_grpc as mpb_grpc
from sotong.moderation.v1.moderation_events_pb2 import ACTION_PUBLISH, ACTION_REMOVE
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, stored, token

pytestmark = pytest.mark.e2e


@pytest.fixture()
def platform(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(say=False)
    return fresh_stack


async def test_a_submission_is_moderated_and_its_status_shows_in_intake(platform: Stack) -> None:
    meta = token(platform, "citizen")
    async with channel(platform, "intake-api") as ch, channel(platform, "moderation-api") as mch:
        intake = pb_grpc.IntakeServiceStub(ch)
        clean = await intake.SubmitReport(
            pb.SubmitReportRequest(
                kind=types.SUBMISSION_KIND_REPORT,
                text="광화문역 2번 출구 앞 보도블록이 깨져 있어요",
                category="road-damage",
                point=geo_pb2.GeoPoint(lat=37.5712, lng=126.9768),
                channel="app",
                channel_message_id="e2e-clean",
            ),
            metadata=meta,
        )
        spam = await intake.SubmitReport(
            pb.SubmitReportRequest(
                kind=types.SUBMISSION_KIND_OPINION,
                text="최저가 대출 상담은 오픈채팅 open.kakao.com/o/abc123 으로 오세요",
                district_code="11680",
                channel="app",
                channel_message_id="e2e-spam",
            ),
            metadata=meta,
        )

        await stored(platform, clean.tracking_id, spam.tracking_id)

        async def decided(tracking_id: str) -> pb.Submission | None:
            got = await intake.GetSubmission(pb.GetSubmissionRequest(tracking_id=tracking_id), metadata=meta)
            return got.submission if got.submission.status != types.SUBMISSION_STATUS_RECEIVED else None

        published = await eventually(lambda: decided(clean.tracking_id))
        removed = await eventually(lambda: decided(spam.tracking_id))

        assert published.status == types.SUBMISSION_STATUS_PUBLISHED
        assert [h.status for h in published.history] == [
            types.SUBMISSION_STATUS_RECEIVED,
            types.SUBMISSION_STATUS_PUBLISHED,
        ]
        assert published.history[1].changed_by == "moderation"
        assert removed.status == types.SUBMISSION_STATUS_REMOVED
        assert "advertising" in removed.moderation_categories

        # Moderation's own API agrees, for the submission id intake stored.
        from sotong_localstack.testing import sql

        rows = await sql(
            platform, "SELECT id FROM submissions WHERE tracking_id = $1", spam.tracking_id, schema="intake"
        )
        decision = await mpb_grpc.ModerationServiceStub(mch).GetDecision(
            mpb.GetDecisionRequest(content_id=str(rows[0]["id"])), metadata=token(platform, "moderator")
        )
        assert decision.decision.action == ACTION_REMOVE
        check = await mpb_grpc.ModerationServiceStub(mch).CheckText(
            mpb.CheckTextRequest(text="한강공원 산책로 정비 감사합니다"), metadata=meta
        )
        assert check.decision.action == ACTION_PUBLISH

    # One trace spans every hop: intake's RPC, moderation's consumer, intake's decision consumer.
    assert platform.state is not None
    trace_file = Path(platform.state.trace_file)

    async def spans_of_submission() -> list[dict[str, object]] | None:
        spans = [json.loads(line) for line in trace_file.read_text().splitlines()] if trace_file.exists() else []
        submit = [s for s in spans if s["name"].endswith("IntakeService/SubmitReport")]
        by_trace = {s["trace_id"]: [x for x in spans if x["trace_id"] == s["trace_id"]] for s in submit}
        for trace_spans in by_trace.values():
            names = {
                (s["service"], s["name"].split(" ")[-1], s["name"].split(".")[-2] if "." in s["name"] else "")
                for s in trace_spans
            }
            services_hops = {(s["service"], s["kind"]) for s in trace_spans}
            if ("moderation", "CONSUMER") in services_hops and ("intake", "CONSUMER") in services_hops and names:
                return trace_spans
        return None

    trace_spans = await eventually(spans_of_submission, timeout=30)
    hops = {(s["service"], s["kind"], str(s["name"]).split(" ")[0]) for s in trace_spans}
    assert ("intake", "SERVER", "sotong.intake.v1.IntakeService/SubmitReport") in hops
    assert any(
        h[0] == "moderation" and h[1] == "CONSUMER" and h[2].endswith("intake.submission-received.v1") for h in hops
    )
    assert any(h[0] == "intake" and h[1] == "CONSUMER" and h[2].endswith("moderation.decision-made.v1") for h in hops)
    assert len({s["trace_id"] for s in trace_spans}) == 1
