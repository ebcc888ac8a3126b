"""The all-clear on the real stack (Kafka, PostgreSQL, alerting, the publishing engine and the provider stand-ins):
an Update with responseType AllClear, drafted by one person, refused for that person's own approval, approved by a
second, issued once; the incident ends (stage all_clear, paging stopped) and the all-clear reaches every channel
the incident's alerts went to, once. Bad input names the field; an ended incident refuses another all-clear. A
drill's all-clear is a drill: marked as one, and the real incident keeps its stage and its pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.alerting.v1 import alerting_service_pb2_grpc as pb_grpc
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_common import topics
from sotong_common.errors import field_violations
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, read_all, sql, token
from sotong_standins.control import Delivery, StandinControl

pytestmark = pytest.mark.service


def texts() -> list[pb.AlertText]:
    return [
        pb.AlertText(
            language="ko",
            event="호우경보",
            headline="도봉구 호우경보 발령",
            description="도봉구에 시간당 50mm 이상의 강한 비가 내리고 있습니다.",
            instruction="하천변 산책로 이용을 자제하세요.",
        ),
        pb.AlertText(
            language="en",
            event="Heavy rain warning",
            headline="Heavy rain warning for Dobong-gu",
            description="Rain of over 50 mm per hour is falling in Dobong-gu.",
            instruction="Keep away from streams.",
        ),
    ]


@pytest_asyncio.fixture()
async def delivering(fresh_stack: Stack) -> AsyncIterator[tuple[Stack, StandinControl]]:
    """The incident service plus the publishing engine delivering to the provider stand-ins."""
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    primary_proc, primary = localrun.start_standins(run, "standins")
    fallback_proc, fallback = localrun.start_standins(run, "standins-fallback")
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), localrun.dispatch_env(primary, fallback))
    fresh_stack.start_services(("alerting-api", "alerting-worker"), say=False)
    try:
        async with StandinControl(primary["base_url"]) as control:
            yield fresh_stack, control
    finally:
        for proc in (worker, fallback_proc, primary_proc):
            localrun.stop(proc)


def all_clear_dispatches(stack: Stack, identifier: str) -> list[dispatch.DispatchRequested]:
    found = [
        dispatch.DispatchRequested.FromString(r.value)
        for r in read_all(stack, topics.DISPATCH_EMERGENCY.removeprefix(topics.PREFIX), timeout_ms=1000)
    ]
    return [m for m in found if m.message_id == identifier]


async def test_all_clear_is_drafted_approved_by_another_person_issued_once_and_ends_the_incident(
    delivering: tuple[Stack, StandinControl],
) -> None:
    stack, standins = delivering
    alice = token(stack, "approver")  # may approve Actual alerts, but not her own
    bob = token(stack, "approver", "operator")  # another approver: subject test-approver-operator
    async with channel(stack, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident_id = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="호우", area_codes=["11320"]), metadata=alice)
        ).incident.incident_id
        first = (
            await api.DraftAlert(
                pb.DraftAlertRequest(
                    incident_id=incident_id,
                    texts=texts(),
                    severity="Severe",
                    urgency="Immediate",
                    certainty="Observed",
                    category="Met",
                ),
                metadata=alice,
            )
        ).alert
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=first.identifier), metadata=bob)
        await api.IssueAlert(pb.IssueAlertRequest(identifier=first.identifier), metadata=alice)

        # The danger ends later than the first notice is on the portal (an all-clear threads onto it; one sent
        # before the portal acknowledged the first would be posted as a plain notice, publishing's fallback).
        async def first_delivered() -> bool:
            shown = await api.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=alice)
            return {int(d.channel) for d in shown.deliveries if d.delivered} >= {int(c) for c in first.channels}

        await eventually(first_delivered, timeout=60)

        # Bad input names the field.
        with pytest.raises(grpc.aio.AioRpcError) as unnamed:
            await api.UpdateAlert(pb.UpdateAlertRequest(all_clear=True), metadata=alice)
        assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in field_violations(unnamed.value)] == ["references"]
        with pytest.raises(grpc.aio.AioRpcError) as language:
            await api.UpdateAlert(
                pb.UpdateAlertRequest(
                    references=first.identifier, all_clear=True, texts=[pb.AlertText(language="fr", headline="x")]
                ),
                metadata=alice,
            )
        assert language.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in field_violations(language.value)] == ["texts[0].language"]

        drafted = await api.UpdateAlert(
            pb.UpdateAlertRequest(references=first.identifier, all_clear=True, reason="비가 그쳤습니다"),
            metadata=alice,
        )
        clear = drafted.alert
        assert (clear.state, clear.msg_type, clear.purpose) == ("drafted", "Update", "all_clear")
        assert clear.cap_xml.count("<responseType>AllClear</responseType>") == 2  # ko and en
        assert first.identifier in clear.cap_xml  # <references> the alert it ends
        # The texts default to the original's, marked as the all-clear on every channel the incident spoke on.
        assert {r.channel for r in drafted.renderings} == set(first.channels)
        for rendering in drafted.renderings:
            first_words = rendering.title or rendering.text
            assert first_words.startswith("[해제]" if rendering.language == "ko" else "[ALL CLEAR]"), first_words
            assert not rendering.violations

        with pytest.raises(grpc.aio.AioRpcError) as alone:
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=clear.identifier), metadata=alice)
        assert alone.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "second person" in (alone.value.details() or "")
        approved = await api.ApproveAlert(pb.ApproveAlertRequest(identifier=clear.identifier), metadata=bob)
        assert approved.alert.approved_by == "test-approver-operator"

        issued = await api.IssueAlert(pb.IssueAlertRequest(identifier=clear.identifier), metadata=alice)
        again = await api.IssueAlert(pb.IssueAlertRequest(identifier=clear.identifier), metadata=alice)
        assert issued.incident.stage == "all_clear" and not issued.incident.page_pending
        assert list(again.dispatch_ids) == list(issued.dispatch_ids)
        shown = await api.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=alice)
        assert shown.incident.stage == "all_clear"
        assert shown.timeline[-1].event_type == "alerting.all-clear-declared.v1"
        assert shown.timeline[-1].alert_identifier == clear.identifier
        assert not await sql(
            stack,
            "SELECT 1 FROM pages WHERE incident_id = $1 AND next_due_at IS NOT NULL",
            incident_id,
            schema="alerting",
        )

        # An ended incident has nothing to clear.
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await api.UpdateAlert(pb.UpdateAlertRequest(references=first.identifier, all_clear=True), metadata=alice)
        assert ended.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "all_clear" in (ended.value.details() or "")

    async def one_per_channel() -> list[dispatch.DispatchRequested] | None:
        mine = all_clear_dispatches(stack, clear.identifier)
        return mine if len(mine) >= len(first.channels) else None

    requested = await eventually(one_per_channel, timeout=30)
    assert sorted(int(m.channel) for m in requested) == sorted(
        int(c) for c in first.channels
    )  # once each, retry or not
    assert all(m.purpose == "all_clear" and not m.exercise for m in requested)

    async def notices() -> list[Delivery] | None:
        found = [d for d in await standins.deliveries("notice") if "[해제]" in d["text"]]
        return found or None

    # On the portal it is an all-clear notice threaded onto the incident's first notice, not a new emergency.
    assert [d["target"] for d in await eventually(notices, timeout=60)] == ["board:all_clear"]

    async def mailed() -> list[Delivery] | None:
        found = [d for d in await standins.deliveries("mail") if "[해제]" in d["text"]]
        return list(found) or None

    await eventually(mailed, timeout=60)
    await asyncio.sleep(2.0)  # a second delivery of anything would have arrived by now
    assert len(await notices() or []) == 1
    press = await standins.deliveries("mail")
    assert len([d for d in press if "[해제]" in d["text"]]) == len([d for d in press if "[해제]" not in d["text"]])
    stats = await standins.stats()
    assert all(
        stats[name]["repeated_targets"] == 0 and stats[name]["key_conflicts"] == 0 for name in ("mail", "notice")
    )


@pytest.fixture()
def alerting(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(("alerting-api",), say=False)
    return fresh_stack


async def test_a_drills_all_clear_stays_a_drill_and_leaves_the_real_incident_as_it_is(alerting: Stack) -> None:
    operator = token(alerting, "operator")
    second = token(alerting, "operator", "dept_admin")  # another operator: drills need a second person too
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="지진", area_codes=["11110"]), metadata=operator)
        ).incident
        drill = (
            await api.DraftAlert(
                pb.DraftAlertRequest(
                    incident_id=incident.incident_id,
                    texts=texts(),
                    severity="Severe",
                    urgency="Immediate",
                    certainty="Observed",
                    category="Geo",
                    status="Exercise",
                ),
                metadata=operator,
            )
        ).alert
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drill.identifier), metadata=second)
        await api.IssueAlert(pb.IssueAlertRequest(identifier=drill.identifier), metadata=operator)

        clear = (
            await api.UpdateAlert(pb.UpdateAlertRequest(references=drill.identifier, all_clear=True), metadata=operator)
        ).alert
        assert clear.status == "Exercise" and clear.purpose == "all_clear"
        with pytest.raises(grpc.aio.AioRpcError) as alone:
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=clear.identifier), metadata=operator)
        assert alone.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=clear.identifier), metadata=second)
        issued = await api.IssueAlert(pb.IssueAlertRequest(identifier=clear.identifier), metadata=operator)
        # The real incident is where it was, still paging its duty officers.
        assert issued.incident.stage == "stage_0" and issued.incident.page_pending
        shown = await api.GetIncident(pb.GetIncidentRequest(incident_id=incident.incident_id), metadata=operator)
        assert shown.timeline[-1].event_type == "alerting.drill-issued.v1"
        assert shown.timeline[-1].alert_identifier == clear.identifier

    mine = await eventually(lambda: _some(all_clear_dispatches(alerting, clear.identifier)), timeout=30)
    assert mine and all(m.exercise and m.purpose == "all_clear" for m in mine)
    assert all(
        (r.title or r.body).startswith(("[훈련][해제]", "[EXERCISE][ALL CLEAR]")) for m in mine for r in m.renderings
    )


async def _some(found: list[dispatch.DispatchRequested]) -> list[dispatch.DispatchRequested] | None:
    return found or None
