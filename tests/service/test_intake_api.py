"""Intake's gRPC API on the real stack: validation, idempotency, auth, health and reflection."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, stored, token

pytestmark = pytest.mark.service

CITY_HALL = geo_pb2.GeoPoint(lat=37.5663, lng=126.9779)


@pytest.fixture()
def intake(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(("intake-api", "intake-worker"), say=False)
    return fresh_stack


def report(**overrides: object) -> pb.SubmitReportRequest:
    fields: dict[str, object] = {
        "kind": types.SUBMISSION_KIND_REPORT,
        "text": "시청역 앞 가로등이 꺼져 있어요",
        "category": "streetlight",
        "point": CITY_HALL,
        "channel": "app",
    }
    fields.update(overrides)
    return pb.SubmitReportRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (report(text=""), "text"),
        (report(text="가" * 5001), "text"),
        (report(point=geo_pb2.GeoPoint(lat=91.0, lng=126.97)), "point.lat"),
        (report(point=geo_pb2.GeoPoint(lat=37.56, lng=-181.0)), "point.lng"),
        (report(point=geo_pb2.GeoPoint(lat=35.1796, lng=129.0756)), "location"),  # Busan: outside the service area
        (report(kind=types.SUBMISSION_KIND_UNSPECIFIED), "kind"),
        (report(media_urls=["file:///etc/passwd"]), "media_urls[0]"),
    ],
    ids=[
        "empty-text",
        "oversized-text",
        "lat-out-of-range",
        "lng-out-of-range",
        "outside-seoul",
        "no-kind",
        "media-scheme",
    ],
)
async def test_bad_request_is_invalid_argument_naming_the_field(
    intake: Stack, request_: pb.SubmitReportRequest, field: str
) -> None:
    async with channel(intake, "intake-api") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_grpc.IntakeServiceStub(ch).SubmitReport(request_, metadata=token(intake, "citizen"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in [v.field for v in field_violations(caught.value)]


async def test_same_channel_message_gives_the_same_tracking_id(intake: Stack) -> None:
    async with channel(intake, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        meta = token(intake, "citizen")
        first = await stub.SubmitReport(report(channel="kakao", channel_message_id="kakao-77"), metadata=meta)
        again = await stub.SubmitReport(report(channel="kakao", channel_message_id="kakao-77"), metadata=meta)
        other = await stub.SubmitReport(report(channel="kakao", channel_message_id="kakao-78"), metadata=meta)
        await stored(intake, first.tracking_id, other.tracking_id)
        got = await stub.GetSubmission(pb.GetSubmissionRequest(tracking_id=first.tracking_id), metadata=meta)
    assert first.created and not again.created and other.created
    assert again.tracking_id == first.tracking_id != other.tracking_id
    assert got.submission.status == types.SUBMISSION_STATUS_RECEIVED
    assert got.submission.district_code == "11140"  # 중구: City Hall
    assert [h.status for h in got.submission.history] == [types.SUBMISSION_STATUS_RECEIVED]


async def test_auth_is_required_and_roles_are_checked(intake: Stack) -> None:
    async with channel(intake, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.SubmitReport(report())
        with pytest.raises(grpc.aio.AioRpcError) as wrong_role:
            await stub.SubmitReport(report(), metadata=token(intake, "partner"))
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetSubmission(
                pb.GetSubmissionRequest(tracking_id="000000-NOTHERE"), metadata=token(intake, "citizen")
            )
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong_role.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_and_reflection(intake: Stack) -> None:
    async with channel(intake, "intake-api") as ch:
        health = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service="sotong.intake.v1.IntakeService")
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        # Reflection needs a token (any role) unless SOTONG_GRPC_REFLECTION_OPEN: see test_intake_security.
        stream = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=token(intake, "citizen")
        )
        services = [s.name async for r in stream for s in r.list_services_response.service]
    assert "sotong.intake.v1.IntakeService" in services
    assert "grpc.health.v1.Health" in services


async def test_contact_is_stored_encrypted(intake: Stack) -> None:
    from sotong_localstack.testing import sql

    async with channel(intake, "intake-api") as ch:
        reply = await pb_grpc.IntakeServiceStub(ch).SubmitReport(
            report(contact=pb.ReporterContact(name="김민수", phone="010-2345-6789")), metadata=token(intake, "citizen")
        )
    await stored(intake, reply.tracking_id)
    rows = await sql(
        intake,
        "SELECT c.sealed FROM reporter_contacts c JOIN submissions s ON s.id = c.submission_id"
        " WHERE s.tracking_id = $1",
        reply.tracking_id,
        schema="intake",
    )
    assert len(rows) == 1
    sealed = bytes(rows[0]["sealed"])
    assert b"2345" not in sealed and "김민수".encode() not in sealed
