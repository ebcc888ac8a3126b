"""The alerting worker on the real stack: page escalation on timers that survive a SIGKILL and stop on
acknowledgement, citizens' disaster reports grouped into candidate incidents, moderated citizens' feedback in
the timeline after stage 2, and delivery receipts counted per channel (once per receipt)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf.message import Message

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.alerting.v1 import alerting_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_events_pb2 as intake
from sotong.intake.v1 import intake_types_pb2 as intake_types
from sotong.moderation.v1 import moderation_events_pb2 as moderation
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_common import events, topics
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, produce_raw, read_all, token

pytestmark = pytest.mark.service


def publish(stack: Stack, topic: str, key: str, message: Message, event_id: str | None = None) -> str:
    metadata = events.EventMetadata.new(topic, "test", event_id=event_id)
    produce_raw(stack, topic, message.SerializeToString(), key.encode(), metadata.headers(with_trace=False))
    return metadata.event_id


def submission(kind: int, category: str, district: str, text: str = "도로가 침수됐어요") -> intake.SubmissionReceived:
    submission_id = str(uuid.uuid4())
    message = intake.SubmissionReceived(
        submission_id=submission_id,
        tracking_id="T-" + submission_id[:8],
        kind=kind,  # type: ignore[arg-type]
        text=text,
        category=category,
        district_code=district,
        channel="app",
    )
    message.received_at.GetCurrentTime()
    return message


def pages(stack: Stack, incident_id: str) -> list[dispatch.DispatchRequested]:
    found = [
        dispatch.DispatchRequested.FromString(r.value)
        for r in read_all(stack, topics.DISPATCH_EMERGENCY, timeout_ms=1000)
    ]
    return sorted(
        (m for m in found if m.thread_id == incident_id and m.channel == dispatch.CHANNEL_PAGER),
        key=lambda m: m.message_id,
    )


def texts() -> list[pb.AlertText]:
    return [
        pb.AlertText(
            language="ko",
            event="호우경보",
            headline="강남구 호우경보",
            description="강남구에 강한 비가 내리고 있습니다.",
            instruction="지하 공간 이용을 자제하세요.",
            short_text="[서울시] 강남구 호우경보. 지하 공간 이용 자제 바랍니다.",
        ),
        pb.AlertText(
            language="en",
            event="Heavy rain warning",
            headline="Heavy rain warning, Gangnam-gu",
            description="Heavy rain in Gangnam-gu.",
            instruction="Avoid underground spaces.",
            short_text="[Seoul] Heavy rain warning, Gangnam-gu. Avoid underground spaces.",
        ),
    ]


def draft(incident_id: str, alert_texts: list[pb.AlertText]) -> pb.DraftAlertRequest:
    return pb.DraftAlertRequest(
        incident_id=incident_id,
        texts=alert_texts,
        severity="Severe",
        urgency="Immediate",
        certainty="Observed",
        category="Met",
    )


async def test_pages_escalate_on_timers_that_survive_a_kill_and_stop_when_acknowledged(
    fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOTONG_ALERTING_ESCALATION_SECONDS", "1.5,1.5")
    fresh_stack.start_services(("alerting-api", "alerting-worker"), say=False)
    operator = token(fresh_stack, "operator")
    async with channel(fresh_stack, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        ignored = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="지진", area_codes=["11110"]), metadata=operator)
        ).incident
        answered = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="지진", area_codes=["11140"]), metadata=operator)
        ).incident
        await api.Acknowledge(pb.AcknowledgeRequest(incident_id=answered.incident_id), metadata=operator)

        # The worker dies before the first timer is due; the due time is in PostgreSQL, not in its memory.
        fresh_stack.kill_process("alerting-worker")
        await asyncio.sleep(2.0)
        fresh_stack.start_process("alerting-worker")

        async def escalated_twice() -> list[dispatch.DispatchRequested] | None:
            found = pages(fresh_stack, ignored.incident_id)
            return found if len(found) >= 3 else None

        paged = await eventually(escalated_twice, timeout=60)
        assert [m.message_id.rsplit(":", 1)[-1] for m in paged] == ["0", "1", "2"]
        assert [list(m.audience.targets) for m in paged] == [
            ["duty-officer-day", "duty-officer-night"],
            ["duty-chief"],
            ["safety-director", "deputy-mayor-office"],
        ]
        shown = await api.GetIncident(pb.GetIncidentRequest(incident_id=ignored.incident_id), metadata=operator)
        assert shown.incident.escalation_level == 2 and not shown.incident.page_pending
        escalations = [e for e in shown.timeline if e.event_type == "alerting.page-escalated.v1"]
        assert [e.actor for e in escalations] == ["system:escalation"] * 2

        await asyncio.sleep(1.0)  # past both due times of the acknowledged page
        assert [m.message_id.rsplit(":", 1)[-1] for m in pages(fresh_stack, answered.incident_id)] == ["0"]
        again = await api.GetIncident(pb.GetIncidentRequest(incident_id=ignored.incident_id), metadata=operator)
        assert len([e for e in again.timeline if e.event_type == "alerting.page-escalated.v1"]) == 2


async def test_citizens_disaster_reports_group_into_one_candidate_incident(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("alerting-api", "alerting-worker"), say=False)
    operator = token(fresh_stack, "operator")
    disaster = intake_types.SUBMISSION_KIND_DISASTER_REPORT
    first = submission(disaster, "flooding", "11320")
    second = submission(disaster, "flooding", "11320")
    elsewhere = submission(disaster, "flooding", "11350")
    not_disaster = submission(intake_types.SUBMISSION_KIND_REPORT, "flooding", "11320")
    event_id = publish(fresh_stack, topics.SUBMISSION_RECEIVED, first.submission_id, first)
    publish(fresh_stack, topics.SUBMISSION_RECEIVED, first.submission_id, first, event_id=event_id)  # redelivery
    for message in (second, elsewhere, not_disaster):
        publish(fresh_stack, topics.SUBMISSION_RECEIVED, message.submission_id, message)

    async with channel(fresh_stack, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)

        async def candidates() -> list[pb.Incident] | None:
            listed = await api.ListIncidents(pb.ListIncidentsRequest(open_only=True), metadata=operator)
            found = [i for i in listed.incidents if i.source == "citizens"]
            views = [
                await api.GetIncident(pb.GetIncidentRequest(incident_id=i.incident_id), metadata=operator)
                for i in found
            ]
            notes = sum(len([e for e in v.timeline if e.actor.startswith("citizen:")]) for v in views)
            return found if notes >= 3 else None

        found = await eventually(candidates, timeout=60)
        by_area = {tuple(i.area_codes): i for i in found}
        assert set(by_area) == {("11320",), ("11350",)}
        dobong = by_area[("11320",)]
        assert dobong.hazard == "호우" and dobong.stage == "reported" and dobong.reported_by == "system:grouping"
        view = await api.GetIncident(pb.GetIncidentRequest(incident_id=dobong.incident_id), metadata=operator)
        assert sorted(e.actor for e in view.timeline if e.actor.startswith("citizen:")) == sorted(
            [f"citizen:{first.tracking_id}", f"citizen:{second.tracking_id}"]
        )

        # A candidate cannot get an alert before an operator confirms it; confirming opens stage 0.
        with pytest.raises(grpc.aio.AioRpcError) as unconfirmed:
            await api.DraftAlert(draft(dobong.incident_id, texts()), metadata=operator)
        assert unconfirmed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        confirmed = await api.ConfirmIncident(
            pb.ConfirmIncidentRequest(incident_id=dobong.incident_id), metadata=operator
        )
        assert confirmed.incident.stage == "stage_0" and confirmed.incident.page_pending


async def test_feedback_after_stage_two_and_delivery_receipts_show_on_the_incident(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("alerting-api", "alerting-worker"), say=False)
    operator = token(fresh_stack, "operator")
    approver = token(fresh_stack, "approver")
    async with channel(fresh_stack, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident_id = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="호우", area_codes=["11680"]), metadata=operator)
        ).incident.incident_id
        for stage in ("stage_1", "stage_2"):
            if stage == "stage_2":
                # Stage 2 sends SMS: a short text over 90 characters (Korean cell broadcast) is refused.
                too_long = texts()
                too_long[0].short_text = "강남구 호우경보 " * 12
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await api.DraftAlert(draft(incident_id, too_long), metadata=operator)
                descriptions = [v.description for v in field_violations(refused.value)]
                assert any("cell_broadcast" in d and "limit of 90" in d for d in descriptions), descriptions
            drafted = (await api.DraftAlert(draft(incident_id, texts()), metadata=operator)).alert
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drafted.identifier), metadata=approver)
            issued = await api.IssueAlert(pb.IssueAlertRequest(identifier=drafted.identifier), metadata=operator)
            assert issued.incident.stage == stage

        opinion = intake_types.SUBMISSION_KIND_OPINION
        published_later = submission(opinion, "", "11680", "우리 동네는 물이 빠졌어요 010-1234-5678")
        decided_first = submission(opinion, "", "11680", "지하차도 아직 잠겨 있습니다")
        removed = submission(opinion, "", "11680", "광고 광고 광고")
        other_district = submission(opinion, "", "11110", "종로는 괜찮아요")

        def decision(message: intake.SubmissionReceived, action: int, masked: str) -> moderation.DecisionMade:
            return moderation.DecisionMade(
                decision_id=str(uuid.uuid4()),
                content_id=message.submission_id,
                content_type="submission",
                action=action,  # type: ignore[arg-type]
                masked_text=masked,
            )

        publish(
            fresh_stack,
            topics.DECISION_MADE,
            decided_first.submission_id,
            decision(decided_first, moderation.ACTION_PUBLISH, decided_first.text),
        )
        for message in (published_later, decided_first, removed, other_district):
            publish(fresh_stack, topics.SUBMISSION_RECEIVED, message.submission_id, message)
        publish(
            fresh_stack,
            topics.DECISION_MADE,
            published_later.submission_id,
            decision(published_later, moderation.ACTION_PUBLISH, "우리 동네는 물이 빠졌어요 010-****-****"),
        )
        publish(
            fresh_stack, topics.DECISION_MADE, removed.submission_id, decision(removed, moderation.ACTION_REMOVE, "")
        )
        publish(
            fresh_stack,
            topics.DECISION_MADE,
            other_district.submission_id,
            decision(other_district, moderation.ACTION_PUBLISH, other_district.text),
        )

        sms_receipt = dispatch.DeliveryReported(
            dispatch_id="d-sms", thread_id=incident_id, requester="alerting", channel=dispatch.CHANNEL_SMS,
            outcome=dispatch.DELIVERY_OUTCOME_DELIVERED, target="01012345678",
        )  # fmt: skip
        receipt_id = publish(fresh_stack, topics.DELIVERY_REPORTED, "d-sms", sms_receipt)
        publish(fresh_stack, topics.DELIVERY_REPORTED, "d-sms", sms_receipt, event_id=receipt_id)  # redelivered
        failed = dispatch.DeliveryReported(
            dispatch_id="d-sms", thread_id=incident_id, requester="alerting", channel=dispatch.CHANNEL_SMS,
            outcome=dispatch.DELIVERY_OUTCOME_DEAD_LETTERED, target="0100000",
        )  # fmt: skip
        publish(fresh_stack, topics.DELIVERY_REPORTED, "d-sms", failed)
        batch = dispatch.DeliveryReported(
            dispatch_id="d-push", thread_id=incident_id, requester="alerting", channel=dispatch.CHANNEL_NEWS_APP_PUSH,
            outcome=dispatch.DELIVERY_OUTCOME_DELIVERED, delivered_count=498, failed_count=2,
        )  # fmt: skip
        publish(fresh_stack, topics.DELIVERY_REPORTED, "d-push", batch)
        # Poison: a receipt naming no channel, and bytes that are not a receipt at all. Both go to the DLQ.
        publish(
            fresh_stack,
            topics.DELIVERY_REPORTED,
            "d-bad",
            dispatch.DeliveryReported(thread_id=incident_id, requester="alerting"),
        )
        garbage = events.EventMetadata.new(topics.DELIVERY_REPORTED, "test").headers(with_trace=False)
        produce_raw(fresh_stack, topics.DELIVERY_REPORTED, b"\xff\xfenot protobuf", b"d-junk", garbage)

        async def settled() -> pb.GetIncidentResponse | None:
            view = await api.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=operator)
            notes = [e for e in view.timeline if e.actor.startswith("citizen:")]
            counted = sum(d.delivered + d.failed + d.dead_lettered for d in view.deliveries)
            return view if len(notes) >= 2 and counted >= 502 else None

        view = await eventually(settled, timeout=60)
        await asyncio.sleep(1.0)  # anything late (a wrong note, a double count) would show now
        view = await api.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=operator)
        notes = {e.actor: e.detail for e in view.timeline if e.actor.startswith("citizen:")}
        assert notes == {
            f"citizen:{published_later.tracking_id}": "우리 동네는 물이 빠졌어요 010-****-****",
            f"citizen:{decided_first.tracking_id}": "지하차도 아직 잠겨 있습니다",
        }
        counts = {d.channel: (d.delivered, d.failed, d.dead_lettered) for d in view.deliveries}
        assert counts == {dispatch.CHANNEL_SMS: (1, 0, 1), dispatch.CHANNEL_NEWS_APP_PUSH: (498, 2, 0)}

    async def dead_lettered() -> list[bytes] | None:
        found = [r.key for r in read_all(fresh_stack, topics.dlq_name(topics.DELIVERY_REPORTED), timeout_ms=1000)]
        return found if len(found) >= 2 else None

    assert sorted(await eventually(dead_lettered, timeout=30)) == [b"d-bad", b"d-junk"]
