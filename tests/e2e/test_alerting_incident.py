"""A whole disaster incident through AlertingService on the real stack (Kafka, PostgreSQL, both processes):
report -> stage 0 (group chat + pager dispatched) -> draft -> approval by a second person -> issue stage 1 and
stage 2 (one DispatchRequested per channel, retries dispatch nothing more) -> update -> cancel, with the CAP feed
and every CAP document checked against the XSD along the way."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lxml import etree

from sotong.alerting.v1 import alerting_events_pb2 as events_pb
from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.alerting.v1 import alerting_service_pb2_grpc as pb_grpc
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_alerting.cap import validate_cap
from sotong_common import topics
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, read_all, token
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.e2e

ATOM = "{http://www.w3.org/2005/Atom}"


def texts(
    headline_ko: str = "도봉구 호우경보 발령", headline_en: str = "Heavy rain warning for Dobong-gu"
) -> list[pb.AlertText]:
    return [
        pb.AlertText(
            language="ko",
            event="호우경보",
            headline=headline_ko,
            description="도봉구에 시간당 50mm 이상의 강한 비가 내리고 있습니다.",
            instruction="하천변 산책로 이용을 자제하고 저지대 주민은 대피를 준비하세요.",
            short_text="[서울시] 도봉구 호우경보. 하천변 접근 금지, 저지대 주민 대피 준비 바랍니다.",
        ),
        pb.AlertText(
            language="en",
            event="Heavy rain warning",
            headline=headline_en,
            description="Rain of over 50 mm per hour is falling in Dobong-gu.",
            instruction="Keep away from streams; residents of low-lying areas prepare to evacuate.",
            short_text="[Seoul] Heavy rain warning, Dobong-gu. Keep away from streams.",
        ),
    ]


def draft_request(incident_id: str) -> pb.DraftAlertRequest:
    return pb.DraftAlertRequest(
        incident_id=incident_id,
        texts=texts(),
        severity="Severe",
        urgency="Immediate",
        certainty="Observed",
        category="Met",
        web="https://safecity.seoul.go.kr/",
    )


def dispatches(stack: Stack, incident_id: str) -> list[dispatch.DispatchRequested]:
    found = []
    for record in read_all(stack, topics.DISPATCH_EMERGENCY.removeprefix(topics.PREFIX), timeout_ms=1500):
        message = dispatch.DispatchRequested.FromString(record.value)
        if message.thread_id == incident_id:
            found.append(message)
    return found


def feed_ids(feed: pb.GetCapFeedResponse) -> list[str]:
    root = etree.fromstring(feed.atom_xml.encode())
    return [
        link.get("href", "").rsplit("/", 1)[-1].removesuffix(".xml")
        for link in root.iter(ATOM + "link")
        if link.get("rel") == "alternate"
    ]


@pytest.fixture()
def alerting(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(("alerting-api", "alerting-worker"), say=False)
    return fresh_stack


async def test_a_whole_incident_from_report_to_cancellation(alerting: Stack) -> None:
    operator = token(alerting, "operator")
    approver = token(alerting, "approver")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)

        reported = await api.ReportIncident(
            pb.ReportIncidentRequest(
                hazard="호우", area_codes=["11320"], summary="도봉구 시간당 50mm", request_id="e2e-1"
            ),
            metadata=operator,
        )
        incident_id = reported.incident.incident_id
        assert reported.created and reported.incident.stage == "stage_0"
        assert reported.incident.page_pending
        again = await api.ReportIncident(
            pb.ReportIncidentRequest(hazard="호우", area_codes=["11320"], request_id="e2e-1"), metadata=operator
        )
        assert again.incident.incident_id == incident_id and not again.created

        stage0 = await eventually(lambda: _async(dispatches(alerting, incident_id)), timeout=30)
        channels0 = {m.channel for m in stage0}
        assert channels0 == {dispatch.CHANNEL_GROUP_CHAT, dispatch.CHANNEL_PAGER}
        chat = next(m for m in stage0 if m.channel == dispatch.CHANNEL_GROUP_CHAT)
        assert "물순환정책과" in chat.audience.targets and "도봉구 안전재난과" in chat.audience.targets
        assert all(m.priority == dispatch.PRIORITY_EMERGENCY for m in stage0)

        acknowledged = await api.Acknowledge(pb.AcknowledgeRequest(incident_id=incident_id), metadata=operator)
        assert not acknowledged.incident.page_pending and acknowledged.incident.acknowledged_by == "test-operator"

        feed = await api.GetCapFeed(pb.GetCapFeedRequest(), metadata=operator)
        assert feed.entries == 0

        # Stage 1: drafted by the operator, approved by someone else, issued (twice: the retry is a no-op).
        first = await api.DraftAlert(draft_request(incident_id), metadata=operator)
        assert first.alert.state == "drafted" and first.alert.purpose == "stage1"
        assert {r.channel for r in first.renderings} == {dispatch.CHANNEL_PRESS_MAIL, dispatch.CHANNEL_PORTAL_NOTICE}
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=first.alert.identifier), metadata=approver)
        issued1 = await api.IssueAlert(pb.IssueAlertRequest(identifier=first.alert.identifier), metadata=operator)
        retried = await api.IssueAlert(pb.IssueAlertRequest(identifier=first.alert.identifier), metadata=operator)
        assert issued1.incident.stage == "stage_1" and len(issued1.dispatch_ids) == 2
        assert list(retried.dispatch_ids) == list(issued1.dispatch_ids)
        feed = await api.GetCapFeed(pb.GetCapFeedRequest(), metadata=operator)
        assert feed_ids(feed) == [first.alert.identifier]

        # Stage 2.
        second = await api.DraftAlert(draft_request(incident_id), metadata=operator)
        assert second.alert.purpose == "stage2"
        assert [w.other_identifier for w in second.warnings] == [first.alert.identifier]  # same hazard and area
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=second.alert.identifier), metadata=approver)
        issued2 = await api.IssueAlert(pb.IssueAlertRequest(identifier=second.alert.identifier), metadata=operator)
        assert issued2.incident.stage == "stage_2" and len(issued2.dispatch_ids) == 5
        feed = await api.GetCapFeed(pb.GetCapFeedRequest(), metadata=operator)
        assert set(feed_ids(feed)) == {first.alert.identifier, second.alert.identifier}

        # Update of the second message, then cancellation.
        update = await api.UpdateAlert(
            pb.UpdateAlertRequest(
                references=second.alert.identifier,
                texts=[
                    pb.AlertText(language="ko", headline="도봉구 호우경보 지속"),
                    pb.AlertText(language="en", headline="Heavy rain warning continues"),
                ],
                reason="rain continues",
            ),
            metadata=operator,
        )
        assert update.alert.msg_type == "Update"
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=update.alert.identifier), metadata=approver)
        issued3 = await api.IssueAlert(pb.IssueAlertRequest(identifier=update.alert.identifier), metadata=operator)
        assert issued3.incident.stage == "updating" and len(issued3.dispatch_ids) == 6
        feed = await api.GetCapFeed(pb.GetCapFeedRequest(), metadata=operator)
        assert set(feed_ids(feed)) == {first.alert.identifier, update.alert.identifier}

        cancel = await api.CancelAlert(
            pb.CancelAlertRequest(
                incident_id=incident_id, references=update.alert.identifier, reason="issued in error"
            ),
            metadata=operator,
        )
        assert cancel.alert.msg_type == "Cancel" and cancel.incident.stage == "updating"
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=cancel.alert.identifier), metadata=approver)
        issued4 = await api.IssueAlert(pb.IssueAlertRequest(identifier=cancel.alert.identifier), metadata=operator)
        assert issued4.incident.stage == "cancelled"
        feed = await api.GetCapFeed(pb.GetCapFeedRequest(), metadata=operator)
        assert set(feed_ids(feed)) == {first.alert.identifier, cancel.alert.identifier}

        shown = await api.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=operator)
        assert [a.state for a in shown.alerts] == ["issued"] * 4
        for alert in shown.alerts:
            assert validate_cap(alert.cap_xml.encode()) == [], alert.identifier
        cancel_xml = shown.alerts[-1].cap_xml
        assert "<msgType>Cancel</msgType>" in cancel_xml and update.alert.identifier in cancel_xml
        kinds = [entry.event_type for entry in shown.timeline]
        assert kinds[:3] == [
            "alerting.incident-reported.v1",
            "alerting.internal-sharing-opened.v1",
            "alerting.page-acknowledged.v1",
        ]
        assert kinds[-1] == "alerting.incident-cancelled.v1"
        assert [e.actor for e in shown.timeline if e.event_type == "alerting.alert-approved.v1"] == [
            "test-approver"
        ] * 4

    expected = 2 + 2 + 5 + 6 + 6

    async def all_dispatched() -> list[dispatch.DispatchRequested] | None:
        found = dispatches(alerting, incident_id)
        return found if len(found) >= expected else None

    requested = await eventually(all_dispatched, timeout=30)
    per_target = Counter((m.message_id, m.channel) for m in requested)
    assert len(requested) == expected and set(per_target.values()) == {1}
    stage2 = [m for m in requested if m.message_id == second.alert.identifier]
    assert {m.channel for m in stage2} == {
        dispatch.CHANNEL_SNS,
        dispatch.CHANNEL_NEWS_APP_PUSH,
        dispatch.CHANNEL_PORTAL_NOTICE,
        dispatch.CHANNEL_KAKAO_CHANNEL,
        dispatch.CHANNEL_SMS,
    }
    sms = next(m for m in stage2 if m.channel == dispatch.CHANNEL_SMS)
    assert sms.audience.segment == "districts:11320" and sms.renderings[0].body.startswith("[서울시] 도봉구 호우경보")

    changed = [
        events_pb.IncidentChanged.FromString(r.value)
        for r in read_all(alerting, topics.INCIDENT_CHANGED.removeprefix(topics.PREFIX))
    ]
    mine = [c for c in changed if c.incident_id == incident_id]
    assert [c.sequence for c in mine] == list(range(1, len(shown.timeline) + 1))
    assert mine[-1].stage == "cancelled"


async def _async(value: list[dispatch.DispatchRequested]) -> list[dispatch.DispatchRequested] | None:
    return value if len(value) >= 2 else None


PROVIDER_OF = {
    dispatch.CHANNEL_GROUP_CHAT: "chat",
    dispatch.CHANNEL_PAGER: "pager",
    dispatch.CHANNEL_PRESS_MAIL: "mail",
    dispatch.CHANNEL_PORTAL_NOTICE: "notice",
    dispatch.CHANNEL_SNS: "sns",
    dispatch.CHANNEL_NEWS_APP_PUSH: "push",
    dispatch.CHANNEL_KAKAO_CHANNEL: "kakao",
    dispatch.CHANNEL_SMS: "sms",
}


@pytest_asyncio.fixture()
async def delivering(fresh_stack: Stack) -> AsyncIterator[tuple[Stack, StandinControl]]:
    """The incident service plus the publishing engine delivering to the provider stand-ins."""
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    primary_proc, primary = localrun.start_standins(run, "standins")
    fallback_proc, fallback = localrun.start_standins(run, "standins-fallback")
    env = localrun.dispatch_env(
        primary,
        fallback,
        publishing_directory_push_devices="1000",
        publishing_directory_sms_subscribers="100",
        publishing_directory_kakao_friends="80",
    )
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    fresh_stack.start_services(("alerting-api", "alerting-worker"), say=False)
    try:
        async with StandinControl(primary["base_url"]) as control:
            yield fresh_stack, control
    finally:
        for proc in (worker, fallback_proc, primary_proc):
            localrun.stop(proc)


async def test_every_stage_reaches_the_stand_ins_once_per_target_and_receipts_show_on_the_incident(
    delivering: tuple[Stack, StandinControl],
) -> None:
    stack, standins = delivering
    operator = token(stack, "operator")
    approver = token(stack, "approver")
    async with channel(stack, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident_id = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="호우", area_codes=["11320"]), metadata=operator)
        ).incident.incident_id
        for _ in range(2):  # stage 1, then stage 2; each issue is retried once
            drafted = (await api.DraftAlert(draft_request(incident_id), metadata=operator)).alert
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drafted.identifier), metadata=approver)
            await api.IssueAlert(pb.IssueAlertRequest(identifier=drafted.identifier), metadata=operator)
            await api.IssueAlert(pb.IssueAlertRequest(identifier=drafted.identifier), metadata=operator)

        async def all_channels_delivered() -> dict[int, int] | None:
            shown = await api.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=operator)
            counts = {int(d.channel): d.delivered for d in shown.deliveries}
            return counts if set(counts) == set(PROVIDER_OF) and all(counts.values()) else None

        await eventually(all_channels_delivered, timeout=90)
        await asyncio.sleep(2.0)  # a second delivery of anything would have arrived by now
        shown = await api.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=operator)

    stats = await standins.stats()
    delivered = {PROVIDER_OF[d.channel]: d.delivered for d in shown.deliveries}
    assert all(d.failed == 0 and d.dead_lettered == 0 for d in shown.deliveries)
    # What the stand-ins recorded is exactly what the receipts told the incident: nothing lost, nothing twice.
    # (The chat stand-in records opening the room and the message in it as two deliveries of one dispatch.)
    assert {name: stats[name]["accepted"] for name in PROVIDER_OF.values() if name != "chat"} == {
        name: count for name, count in delivered.items() if name != "chat"
    }
    assert stats["chat"]["accepted"] == 2
    assert all(stats[name]["repeated_targets"] == 0 and stats[name]["key_conflicts"] == 0 for name in delivered)
    assert delivered["chat"] == 1 and delivered["pager"] == 2  # one response group, two duty officers
    assert delivered["mail"] == 1 and delivered["notice"] == 2  # the press list; stage-1 and stage-2 notices

    # One trace spans IssueAlert -> the publishing engine's delivery -> the receipt on the incident.
    trace_file = Path(stack.state.run_dir) / "traces.jsonl"

    async def issue_trace() -> set[tuple[str, str]] | None:
        spans = [json.loads(line) for line in trace_file.read_text().splitlines()] if trace_file.exists() else []
        issues = [s for s in spans if s["name"].endswith("/IssueAlert") and s["kind"] == "SERVER"]
        for issue in issues:
            hops = {(s["service"], s["name"]) for s in spans if s["trace_id"] == issue["trace_id"]}
            if any(svc == "publishing" and "dispatch-emergency" in name for svc, name in hops) and any(
                svc == "alerting" and "delivery-reported" in name for svc, name in hops
            ):
                return hops
        return None

    hops = await eventually(issue_trace, timeout=30)
    assert {svc for svc, _ in hops} >= {"alerting", "publishing"}
