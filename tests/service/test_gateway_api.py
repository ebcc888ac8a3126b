"""The gateway's public contract on the real stack, in each protocol: native gRPC, Connect JSON (curl), gRPC-Web.

The same calls the browser test makes (tests/e2e/test_gateway_browser.py): a unary call, a server stream that
shows a status change as it happens, an error with its code and field violation, a deadline that expires; plus
what an edge owes: the trace continued into the service, idempotent citizen writes, the operators' methods under
the services' roles, health and reflection.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sotong.gateway.v1 import gateway_service_pb2 as pb
from sotong.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.intake.v1 import intake_service_pb2_grpc as intake_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common.errors import field_violations
from sotong_localstack.gateway_calls import (
    GATEWAY_SERVICE,
    bearer,
    connect_stream,
    connect_unary,
    connect_violations,
    curl,
    grpc_target,
    grpc_web,
    http_base,
    start_gateway,
)
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, stored

pytestmark = pytest.mark.service


def report(key: str | None = None, **fields: object) -> pb.SubmitReportRequest:
    values: dict[str, object] = {
        "kind": types.SUBMISSION_KIND_COMPLAINT,
        "text": "시청 앞 가로등이 꺼졌어요",
        "category": "streetlight",
        "district_code": "11140",
        "idempotency_key": key or str(uuid.uuid4()),
    }
    values.update(fields)
    return pb.SubmitReportRequest(**values)  # type: ignore[arg-type]


@pytest.fixture()
def gateway(fresh_stack: Stack) -> Stack:
    return start_gateway(fresh_stack, "intake-api", "intake-worker", "alerting-api")


async def test_native_grpc_unary_stream_error_and_deadline(gateway: Stack) -> None:
    citizen = (("authorization", bearer(gateway, "citizen-kim", "citizen")),)
    operator = (("authorization", bearer(gateway, "operator-lee", "operator")),)
    async with grpc.aio.insecure_channel(grpc_target(gateway)) as channel:
        stub = pb_grpc.GatewayServiceStub(channel)
        accepted = await stub.SubmitReport(report(), metadata=citizen)
        assert accepted.tracking_id and accepted.created
        await stored(gateway, accepted.tracking_id)  # answered when durable on Kafka; stored by intake's worker
        shown = await stub.GetSubmission(pb.GetSubmissionRequest(tracking_id=accepted.tracking_id), metadata=citizen)
        assert shown.submission.text == "시청 앞 가로등이 꺼졌어요"
        assert shown.submission.status == types.SUBMISSION_STATUS_RECEIVED

        # The stream shows the history, then a change an operator makes while it is open.
        watch = stub.WatchSubmission(pb.WatchSubmissionRequest(tracking_id=accepted.tracking_id), metadata=citizen)
        first = await asyncio.wait_for(watch.read(), 10)
        assert first.change.status == types.SUBMISSION_STATUS_RECEIVED
        staff = intake_grpc.IntakeServiceStub(channel)  # the operators' contract, through the same gateway
        await staff.UpdateStatus(
            intake.UpdateStatusRequest(
                tracking_id=accepted.tracking_id, status=types.SUBMISSION_STATUS_ACKNOWLEDGED, note="접수했습니다"
            ),
            metadata=operator,
        )
        second = await asyncio.wait_for(watch.read(), 10)
        assert second.change.status == types.SUBMISSION_STATUS_ACKNOWLEDGED
        assert second.change.note == "접수했습니다"
        watch.cancel()

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SubmitReport(report(text="  "), metadata=citizen)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in field_violations(refused.value)] == ["text"]

        # A violation only intake can see (a point outside Seoul) comes back as intake named it.
        with pytest.raises(grpc.aio.AioRpcError) as outside:
            await stub.SubmitReport(
                pb.SubmitReportRequest(
                    kind=types.SUBMISSION_KIND_REPORT,
                    text="부산 해운대 도로 파손",
                    point={"lat": 35.16, "lng": 129.16},
                    idempotency_key=str(uuid.uuid4()),
                ),
                metadata=citizen,
            )
        assert outside.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [(v.field, "outside Seoul" in v.description) for v in field_violations(outside.value)] == [
            ("location", True)
        ]

        quiet = stub.WatchSubmission(
            pb.WatchSubmissionRequest(tracking_id=accepted.tracking_id), metadata=citizen, timeout=1.0
        )
        with pytest.raises(grpc.aio.AioRpcError) as late:
            async for _ in quiet:
                pass
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_connect_json_with_curl(gateway: Stack) -> None:
    citizen = bearer(gateway, "citizen-park", "citizen")
    base = http_base(gateway)
    key = str(uuid.uuid4())
    body = json.dumps(
        {"kind": "SUBMISSION_KIND_COMPLAINT", "text": "버스 정류장 의자가 부서졌어요", "districtCode": "11140",
         "idempotencyKey": key}
    )  # fmt: skip
    done = curl(
        "-H", f"authorization: {citizen}", "-H", "content-type: application/json",
        "-d", body, f"{base}/{GATEWAY_SERVICE}/SubmitReport",
    )  # fmt: skip
    answer, _, status = done.stdout.decode().rpartition("\n")
    assert status == "200", done
    tracking_id = json.loads(answer)["trackingId"]
    assert json.loads(answer)["created"] is True

    again = curl(
        "-H", f"authorization: {citizen}", "-H", "content-type: application/json",
        "-d", body, f"{base}/{GATEWAY_SERVICE}/SubmitReport",
    )  # fmt: skip
    replayed = json.loads(again.stdout.decode().rpartition("\n")[0])
    assert replayed == {"trackingId": tracking_id}  # created: false is the default, left out of JSON
    await stored(gateway, tracking_id)

    # A read-only method also answers Connect's GET (cacheable, and easy to try in a browser's address bar).
    looked = curl(
        "-G", "-H", f"authorization: {citizen}",
        "--data-urlencode", "encoding=json", "--data-urlencode", f'message={{"trackingId": "{tracking_id}"}}',
        f"{base}/{GATEWAY_SERVICE}/GetSubmission",
    )  # fmt: skip
    shown, _, status = looked.stdout.decode().rpartition("\n")
    assert status == "200", looked
    assert json.loads(shown)["submission"]["text"] == "버스 정류장 의자가 부서졌어요"

    refused = curl(
        "-H", f"authorization: {citizen}", "-H", "content-type: application/json",
        "-d", json.dumps({"kind": "SUBMISSION_KIND_COMPLAINT", "text": "", "idempotencyKey": "short"}),
        f"{base}/{GATEWAY_SERVICE}/SubmitReport",
    )  # fmt: skip
    error_body, _, status = refused.stdout.decode().rpartition("\n")
    assert status == "400"
    error = json.loads(error_body)
    assert error["code"] == "invalid_argument"
    assert {f for f, _ in connect_violations(error)} == {"text", "idempotency_key"}

    # The stream and the deadline, in the Connect streaming protocol (enveloped JSON).
    reply, messages, end = connect_stream(
        gateway, f"{GATEWAY_SERVICE}/WatchSubmission", {"trackingId": tracking_id}, citizen,
        connect_timeout_ms="1500",
    )  # fmt: skip
    assert reply.status == 200
    assert [m["change"]["status"] for m in messages] == ["SUBMISSION_STATUS_RECEIVED"]
    assert end["error"]["code"] == "deadline_exceeded"


async def test_grpc_web_unary_and_error(gateway: Stack) -> None:
    citizen = bearer(gateway, "citizen-choi", "citizen")
    good = grpc_web(gateway, f"{GATEWAY_SERVICE}/SubmitReport", report(), citizen)
    assert good.status == 200 and good.grpc_status == 0
    accepted = pb.SubmitReportResponse.FromString(good.messages[0])
    assert accepted.created
    bad = grpc_web(gateway, f"{GATEWAY_SERVICE}/SubmitReport", report(text=""), citizen)
    assert bad.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    status = bad.rich_status()
    assert status is not None and status.details[0].type_url.endswith("google.rpc.BadRequest")


async def test_idempotency_key_is_per_citizen(gateway: Stack) -> None:
    key = "same-key-" + uuid.uuid4().hex[:8]
    async with grpc.aio.insecure_channel(grpc_target(gateway)) as channel:
        stub = pb_grpc.GatewayServiceStub(channel)
        kim = (("authorization", bearer(gateway, "citizen-kim", "citizen")),)
        lee = (("authorization", bearer(gateway, "citizen-lee", "citizen")),)
        first = await stub.SubmitReport(report(key), metadata=kim)
        retry = await stub.SubmitReport(report(key), metadata=kim)
        other = await stub.SubmitReport(report(key), metadata=lee)
    assert first.created and not retry.created and first.tracking_id == retry.tracking_id
    assert other.created and other.tracking_id != first.tracking_id


async def test_trace_continues_into_the_service(gateway: Stack) -> None:
    assert gateway.state is not None
    trace_id = uuid.uuid4().hex
    parent = uuid.uuid4().hex[:16]
    reply = connect_unary(
        gateway, f"{GATEWAY_SERVICE}/SubmitReport",
        {"kind": "SUBMISSION_KIND_OPINION", "text": "공원 산책로에 조명을 더 설치해 주세요",
         "idempotencyKey": str(uuid.uuid4())},
        bearer(gateway, "citizen-yoon", "citizen"), traceparent=f"00-{trace_id}-{parent}-01",
    )  # fmt: skip
    assert reply.status == 200, reply.body

    async def spans() -> list[dict[str, object]] | None:
        from pathlib import Path

        lines = Path(gateway.state.trace_file).read_text().splitlines() if gateway.state else []
        found = [json.loads(line) for line in lines if trace_id in line]
        services = {span["service"] for span in found}
        return found if {"gateway", "intake"} <= services else None

    found = await eventually(spans, timeout=15)
    gateway_span = next(s for s in found if s["service"] == "gateway")
    assert gateway_span["kind"] == "SERVER" and gateway_span["parent_id"] == parent
    assert gateway_span["attributes"]["peer.service"] == "intake"
    intake_server = next(s for s in found if s["service"] == "intake" and s["kind"] == "SERVER")
    assert intake_server["parent_id"] == gateway_span["span_id"]  # one span per hop at the gateway


async def test_operator_methods_and_alerts(gateway: Stack) -> None:
    operator = (("authorization", bearer(gateway, "operator-han", "operator")),)
    citizen = (("authorization", bearer(gateway, "citizen-seo", "citizen")),)
    async with grpc.aio.insecure_channel(grpc_target(gateway)) as channel:
        staff = intake_grpc.IntakeServiceStub(channel)
        listed = await staff.ListSubmissions(intake.ListSubmissionsRequest(page_size=5), metadata=operator)
        assert list(listed.submissions) == []
        stub = pb_grpc.GatewayServiceStub(channel)
        alerts = await stub.ListActiveAlerts(pb.ListActiveAlertsRequest(), metadata=citizen)
        assert list(alerts.alerts) == []
        feed = await stub.GetCapFeed(pb.GetCapFeedRequest(), metadata=citizen)
        assert feed.atom_xml.startswith("<?xml") and feed.entries == 0


async def test_the_all_clear_field_reaches_alerting_under_update_alerts_roles(gateway: Stack) -> None:
    """UpdateAlert's all_clear is forwarded (Connect JSON knows `allClear`): alerting's own refusal comes back,
    naming its field; a role UpdateAlert does not allow is refused at the gateway."""
    update = "sotong.alerting.v1.AlertingService/UpdateAlert"
    drafted = connect_unary(
        gateway, update, {"references": "", "allClear": True}, bearer(gateway, "duty-kim", "operator")
    )
    assert drafted.status == 400, drafted.body
    assert [field for field, _ in connect_violations(drafted.json())] == ["references"]
    assert "all-clear" in drafted.json()["message"]  # alerting read the field: its message names the all-clear
    refused = connect_unary(
        gateway, update, {"references": "INC-1-A1", "allClear": True}, bearer(gateway, "mod-choi", "moderator")
    )
    assert refused.json()["code"] == "permission_denied"


async def test_health_and_reflection(gateway: Stack) -> None:
    async with grpc.aio.insecure_channel(grpc_target(gateway)) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        anonymous = reflection.ServerReflectionInfo(timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await anonymous.read()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        call = reflection.ServerReflectionInfo(
            metadata=(("authorization", bearer(gateway, "citizen-min", "citizen")),), timeout=5
        )
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        listed = await call.read()
        await call.done_writing()
        names = {s.name for s in listed.list_services_response.service}
    assert {GATEWAY_SERVICE, "sotong.intake.v1.IntakeService", "grpc.health.v1.Health"} <= names
    healthz = curl(f"{http_base(gateway)}/healthz")
    assert healthz.stdout.decode().endswith("200")
