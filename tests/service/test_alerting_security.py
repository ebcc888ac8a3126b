"""AlertingService against a hostile or careless caller, on the real stack (issue 10, items 2, 4, 6, 7, 8).

- upstream CAP: a caller speaks only for the senders it is bound to; dedupe is per (caller, sender, identifier);
  pathological sizes are INVALID_ARGUMENT naming the element, never INTERNAL; the API answers health checks
  while it reads a large document;
- drills: a second person, a separate audited permission for self-approval, and no stage change, update or
  cancellation of the real incident;
- control characters in any text field of any request are named by field (generated from the descriptors);
- WatchIncident: one listener, no reads while idle, a bound on streams per caller;
- reflection needs a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.alerting.v1 import alerting_service_pb2_grpc as pb_grpc
from sotong_common import auth
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, sql, token

pytestmark = pytest.mark.service

SOLO = "drill-lead"
BINDINGS = {"svc-kma-feed": ["kma@korea.kr"], "partner-kepco": ["alerts@kepco.co.kr"]}


def caller(stack: Stack, subject: str, *roles: str) -> tuple[tuple[str, str], ...]:
    assert stack.state is not None
    return (("authorization", "Bearer " + auth.issue(stack.state.jwt_secret, subject, roles)),)


@pytest.fixture()
def alerting(fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("SOTONG_ALERTING_CAP_SENDERS", json.dumps(BINDINGS))
    monkeypatch.setenv("SOTONG_ALERTING_SOLO_DRILL_APPROVERS", SOLO)
    fresh_stack.start_services(("alerting-api",), say=False)
    return fresh_stack


def cap(
    identifier: str, sender: str, *, event: str = "호우", headline: str = "서울 동북권 호우경보", body: str = ""
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>{sender}</sender><sent>2026-07-14T14:00:00+09:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>ko-KR</language><category>Met</category><event>{event}</event><urgency>Immediate</urgency>
    <severity>Severe</severity><certainty>Observed</certainty><headline>{headline}</headline>
    <area><areaDesc>도봉구</areaDesc>{body}<geocode><valueName>SIG_CD</valueName><value>11320</value></geocode></area>
  </info>
</alert>""".encode()


# --- item 4: who may speak for a CAP sender ---------------------------------------------------------------------


async def test_a_partner_cannot_pose_as_the_agency_nor_spend_its_identifiers(alerting: Stack) -> None:
    kma = caller(alerting, "svc-kma-feed", "service")
    kepco = caller(alerting, "partner-kepco", "partner")
    stranger = caller(alerting, "partner-other", "partner")
    admin = caller(alerting, "root", "admin")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        for who in (kepco, stranger, admin):
            with pytest.raises(grpc.aio.AioRpcError) as posing:
                await api.IngestCap(pb.IngestCapRequest(cap_xml=cap("KMA-0714-07", "kma@korea.kr")), metadata=who)
            assert posing.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # The agency's real alert with that identifier is not a duplicate of anything.
        real = await api.IngestCap(pb.IngestCapRequest(cap_xml=cap("KMA-0714-07", "kma@korea.kr")), metadata=kma)
        assert real.created and real.incident.reported_by == "upstream:kma@korea.kr"
        again = await api.IngestCap(pb.IngestCapRequest(cap_xml=cap("KMA-0714-07", "kma@korea.kr")), metadata=kma)
        assert not again.created and again.incident.incident_id == real.incident.incident_id
        # The partner's own alert with the same identifier is its own incident: keys name caller and sender.
        own = await api.IngestCap(pb.IngestCapRequest(cap_xml=cap("KMA-0714-07", "alerts@kepco.co.kr")), metadata=kepco)
        assert own.created and own.incident.incident_id != real.incident.incident_id
    keys = await sql(alerting, "SELECT request_key FROM incidents ORDER BY request_key", schema="alerting")
    assert [r["request_key"] for r in keys] == [
        "cap:partner-kepco:alerts@kepco.co.kr:KMA-0714-07",
        "cap:svc-kma-feed:kma@korea.kr:KMA-0714-07",
    ]


# --- items 2 and 8: pathological documents ----------------------------------------------------------------------


def hostile_documents() -> Iterator[tuple[str, bytes]]:
    for size in (5_000, 400_000):
        yield f"event {size}", cap("KMA-1", "kma@korea.kr", event="지" * size)
        yield f"headline {size}", cap("KMA-1", "kma@korea.kr", headline="호" * size)
        yield f"identifier {size}", cap("K" * size, "kma@korea.kr")
    yield "16,000 empty polygons", cap("KMA-1", "kma@korea.kr", body="<polygon/>" * 16_000)
    yield "4,000 bad circles", cap("KMA-1", "kma@korea.kr", body="<circle>x</circle>" * 4_000)
    yield "unknown elements", cap("KMA-1", "kma@korea.kr", body="".join(f"<x{i}/>" for i in range(20_000)))
    yield "too large", cap("KMA-1", "kma@korea.kr", body="<polygon>" + "1,1 " * 600_000 + "</polygon>")


async def test_pathological_documents_are_invalid_arguments_naming_cap_xml(alerting: Stack) -> None:
    kma = caller(alerting, "svc-kma-feed", "service")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        for name, data in hostile_documents():
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await api.IngestCap(pb.IngestCapRequest(cap_xml=data), metadata=kma, timeout=60)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, refused.value.details())
            violations = field_violations(refused.value)
            assert violations and {v.field for v in violations} == {"cap_xml"}, name
        assert (await api.IngestCap(pb.IngestCapRequest(cap_xml=cap("KMA-2", "kma@korea.kr")), metadata=kma)).created


async def test_health_is_answered_while_a_large_document_is_read(alerting: Stack) -> None:
    """Counted, not timed: health replies that arrive while one IngestCap of a ~1.9 MB document is in flight."""
    kma = caller(alerting, "svc-kma-feed", "service")
    ring = "37.69,127.01 " + "37.66,127.03 " * 140_000 + "37.69,127.01"
    big = cap("KMA-BIG", "kma@korea.kr", body=f"<polygon>{ring}</polygon><circle>x</circle>")
    assert 1_500_000 < len(big) < 2 * 1024 * 1024
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        health = health_pb2_grpc.HealthStub(ch)
        await health.Check(health_pb2.HealthCheckRequest())
        ingest = asyncio.ensure_future(api.IngestCap(pb.IngestCapRequest(cap_xml=big), metadata=kma, timeout=120))
        answered_meanwhile = 0
        while not ingest.done():
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=30)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            if not ingest.done():
                answered_meanwhile += 1
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ingest
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # the one bad <circle>, found after reading
        assert "circle" in (refused.value.details() or "")
    assert answered_meanwhile >= 10, answered_meanwhile


# --- item 6 (alerting side): drills -----------------------------------------------------------------------------


def texts() -> list[pb.AlertText]:
    return [
        pb.AlertText(
            language="ko", event="화재", headline="종로구 화재 훈련", description="훈련입니다.",
            instruction="훈련 안내에 따르세요.", short_text="[훈련] 종로구 화재 대피 훈련",
        ),
        pb.AlertText(
            language="en", event="Fire", headline="Jongno-gu fire drill", description="This is a drill.",
            instruction="Follow the drill staff.", short_text="[Drill] Jongno-gu fire evacuation drill",
        ),
    ]  # fmt: skip


def draft(incident_id: str, status: str) -> pb.DraftAlertRequest:
    return pb.DraftAlertRequest(
        incident_id=incident_id, texts=texts(), severity="Severe", urgency="Immediate", certainty="Observed",
        category="Fire", status=status,
    )  # fmt: skip


async def test_drills_never_move_update_or_cancel_the_real_incident(alerting: Stack) -> None:
    operator = token(alerting, "operator")
    colleague = caller(alerting, "operator-2", "operator")
    approver = token(alerting, "approver")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="화재", area_codes=["11110"]), metadata=operator)
        ).incident
        identifier = incident.incident_id

        async def stage() -> tuple[str, bool]:
            shown = (await api.GetIncident(pb.GetIncidentRequest(incident_id=identifier), metadata=operator)).incident
            return shown.stage, shown.page_pending

        for status in ("Exercise", "Test"):
            drill = (await api.DraftAlert(draft(identifier, status), metadata=operator)).alert
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drill.identifier), metadata=colleague)
            await api.IssueAlert(pb.IssueAlertRequest(identifier=drill.identifier), metadata=operator)
            assert await stage() == ("stage_0", True)
        # Its Update and its Cancel are drills too: the real incident is neither updated nor cancelled.
        update = (
            await api.UpdateAlert(
                pb.UpdateAlertRequest(references=drill.identifier, texts=texts()[:1], reason="drill update"),
                metadata=operator,
            )
        ).alert
        assert update.status == "Test"
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=update.identifier), metadata=colleague)
        await api.IssueAlert(pb.IssueAlertRequest(identifier=update.identifier), metadata=operator)
        cancel = (
            await api.CancelAlert(
                pb.CancelAlertRequest(incident_id=identifier, references=drill.identifier, reason="drill over"),
                metadata=operator,
            )
        ).alert
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=cancel.identifier), metadata=colleague)
        await api.IssueAlert(pb.IssueAlertRequest(identifier=cancel.identifier), metadata=operator)
        assert await stage() == ("stage_0", True)
        # The real flow is untouched: the first real message moves the incident to stage 1.
        real = (await api.DraftAlert(draft(identifier, "Actual"), metadata=operator)).alert
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=real.identifier), metadata=approver)
        issued = await api.IssueAlert(pb.IssueAlertRequest(identifier=real.identifier), metadata=operator)
        assert issued.incident.stage == "stage_1"
        timeline = (await api.GetIncident(pb.GetIncidentRequest(incident_id=identifier), metadata=operator)).timeline
    drills = [e for e in timeline if e.event_type == "alerting.drill-issued.v1"]
    assert [e.alert_identifier for e in drills] == [f"{identifier}-A1", f"{identifier}-A2", update.identifier,
                                                    cancel.identifier]  # fmt: skip
    assert all("stage is unchanged" in e.detail for e in drills)
    lifecycle = [e.event_type for e in timeline if e.event_type.endswith(("issued.v1", "cancelled.v1"))]
    assert lifecycle.count("alerting.first-message-issued.v1") == 1
    assert "alerting.incident-cancelled.v1" not in lifecycle


async def test_self_approval_of_a_drill_needs_the_separate_permission_and_is_audited(alerting: Stack) -> None:
    operator = token(alerting, "operator")
    lead = caller(alerting, SOLO, "operator")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        identifier = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="지진", area_codes=["11110"]), metadata=operator)
        ).incident.incident_id
        mine = (await api.DraftAlert(draft(identifier, "Exercise"), metadata=lead)).alert
        approved = await api.ApproveAlert(pb.ApproveAlertRequest(identifier=mine.identifier), metadata=lead)
        assert approved.alert.approved_by == SOLO
        # The permission is for drills only, and only for the configured person.
        real = (await api.DraftAlert(draft(identifier, "Actual"), metadata=lead)).alert
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=real.identifier), metadata=lead)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        other = (await api.DraftAlert(draft(identifier, "Exercise"), metadata=operator)).alert
        with pytest.raises(grpc.aio.AioRpcError) as not_granted:
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=other.identifier), metadata=operator)
        assert not_granted.value.code() == grpc.StatusCode.PERMISSION_DENIED
        timeline = (await api.GetIncident(pb.GetIncidentRequest(incident_id=identifier), metadata=operator)).timeline
    audited = [e for e in timeline if e.event_type == "alerting.alert-approved.v1"]
    assert [(e.actor, e.alert_identifier) for e in audited] == [(SOLO, mine.identifier)]
    assert "approved by its drafter under alert.approve.own-drill" in audited[0].detail


# --- item 8: control characters in every text field -------------------------------------------------------------


CONTROL = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x0b"]


def string_paths(descriptor: Descriptor, prefix: str = "") -> Iterator[tuple[str, list[Any]]]:
    for field in descriptor.fields:
        name = prefix + field.name + ("[0]" if field.is_repeated else "")
        if field.type == FieldDescriptor.TYPE_STRING:
            yield name, [field]
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type is not None
            and not field.message_type.full_name.startswith("google.protobuf.")
        ):
            for path, chain in string_paths(field.message_type, name + "."):
                yield path, [field, *chain]


def build(message_class: type[Message], chain: list[Any], text: str) -> Message:
    message = message_class()
    target: Any = message
    for field in chain[:-1]:
        target = getattr(target, field.name).add() if field.is_repeated else getattr(target, field.name)
    last = chain[-1]
    if last.is_repeated:
        getattr(target, last.name).append(text)
    else:
        setattr(target, last.name, text)
    return message


def method_cases() -> list[tuple[str, type[Message], str, list[Any], bool]]:
    service = pb.DESCRIPTOR.services_by_name["AlertingService"]
    found = []
    for method in service.methods:
        request_class: type[Message] = getattr(pb, method.input_type.name)
        for path, chain in string_paths(method.input_type):
            found.append((method.name, request_class, path, chain, method.server_streaming))
    return found


async def test_control_characters_in_any_request_field_are_refused_naming_it(alerting: Stack) -> None:
    """Every string field of every AlertingService request, with control characters taken in turn."""
    admin = caller(alerting, "root", "admin")  # every method, so the refusal is about the text, not the role
    cases = method_cases()
    assert len(cases) >= 15
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        for index, (method, request_class, path, chain, streaming) in enumerate(cases):
            request = build(request_class, chain, f"INC-20260714-ABCDEF{CONTROL[index % len(CONTROL)]}x")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                call = getattr(api, method)(request, metadata=admin, timeout=30)
                if streaming:
                    async for _ in call:
                        pass
                else:
                    await call
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, path, refused.value.details())
            assert [v.field for v in field_violations(refused.value)] == [path], (method, path)


# --- item 8: WatchIncident ----------------------------------------------------------------------------------------


async def _log_reads(stack: Stack) -> int:
    rows = await sql(
        stack,
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS reads FROM pg_stat_user_tables"
        " WHERE schemaname = 'alerting' AND relname = 'incident_log'",
        schema="alerting",
    )
    return int(rows[0]["reads"])


async def _settled_reads(stack: Stack) -> int:
    """The read counter once it stopped moving (statistics reach pg_stat with a delay of up to a few seconds)."""
    last = await _log_reads(stack)
    for _ in range(30):
        await asyncio.sleep(0.5)
        now = await _log_reads(stack)
        if now == last:
            return now
        last = now
    return last


async def test_watch_streams_are_woken_by_notifications_and_bounded_per_caller(alerting: Stack) -> None:
    operator = token(alerting, "operator")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident_id = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="정전", area_codes=["11680"]), metadata=operator)
        ).incident.incident_id
        request = pb.WatchIncidentRequest(incident_id=incident_id)
        seen: dict[int, list[str]] = {}

        async def watch(index: int, call: Any) -> None:
            seen[index] = []
            async for item in call:
                seen[index].append(item.entry.event_type)

        calls = [api.WatchIncident(request, metadata=operator) for _ in range(8)]
        tasks = [asyncio.create_task(watch(i, c)) for i, c in enumerate(calls)]
        await eventually(lambda: _ready(all(len(seen.get(i, [])) == 2 for i in range(8))), timeout=30)

        # One more stream for the same caller is refused; another caller is not affected.
        with pytest.raises(grpc.aio.AioRpcError) as ninth:
            async for _ in api.WatchIncident(request, metadata=operator, timeout=10):
                pass
        assert ninth.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        other = api.WatchIncident(request, metadata=token(alerting, "approver"))
        first = await other.read()
        assert isinstance(first, pb.WatchIncidentResponse)
        assert first.entry.event_type == "alerting.incident-reported.v1"
        other.cancel()

        # Idle streams do not read the log (they used to, every 250 ms each).
        before = await _settled_reads(alerting)
        await asyncio.sleep(3)
        idle_reads = await _log_reads(alerting) - before
        assert idle_reads <= 2, idle_reads

        # A new entry reaches every stream.
        await api.Acknowledge(pb.AcknowledgeRequest(incident_id=incident_id), metadata=operator)
        await eventually(lambda: _ready(all(len(seen[i]) == 3 for i in range(8))), timeout=30)
        assert all(seen[i][-1] == "alerting.page-acknowledged.v1" for i in range(8))

        # Closing a stream frees its place.
        calls[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)

        async def reopened() -> bool:
            try:
                replacement = api.WatchIncident(request, metadata=operator)
                await replacement.read()
                replacement.cancel()
                return True
            except grpc.aio.AioRpcError:
                return False

        assert await eventually(reopened, timeout=10)
        for call in calls[1:]:
            call.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _ready(value: bool) -> bool:
    return value


# --- item 8: reflection -----------------------------------------------------------------------------------------


async def test_reflection_needs_a_token(alerting: Stack) -> None:
    async with channel(alerting, "alerting-api") as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)

        async def services(metadata: Any) -> list[str]:
            call = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=metadata
            )
            return [s.name async for reply in call for s in reply.list_services_response.service]

        # No request is written on the anonymous call: a write racing the server's refusal fails on the client.
        anonymous = stub.ServerReflectionInfo(timeout=30)
        with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
            await anonymous.done_writing()
        assert await anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "sotong.alerting.v1.AlertingService" in await services(token(alerting, "citizen"))
        reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_cases_cover_the_streaming_method() -> None:
    assert any(streaming for *_, streaming in method_cases())
    assert any(re.match(r"texts\[0\]\.", path) for _, _, path, _, _ in method_cases())
