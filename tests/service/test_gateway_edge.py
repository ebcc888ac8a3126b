"""The gateway's edge duties on the real stack: tokens and roles refused before a service sees the call, rate
limits per citizen and per client address with retry information, in every protocol.

"The service never sees the call" is read from intake's own metrics: its gRPC server counts every call it
handles, refused ones included (sotong_grpc_server_handling_seconds_count by method). Each test also makes a
call that should reach intake and checks that the count moves, so the check can fail.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from sotong.gateway.v1 import gateway_service_pb2 as pb
from sotong.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.intake.v1 import intake_service_pb2_grpc as intake_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import auth
from sotong_localstack.gateway_calls import (
    GATEWAY_SERVICE,
    backend_calls,
    bearer,
    connect_unary,
    grpc_target,
    grpc_web,
    metric,
    start_gateway,
)
from sotong_localstack.stack import Stack
from sotong_localstack.testing import stored

pytestmark = pytest.mark.service

LIST = "/sotong.intake.v1.IntakeService/ListSubmissions"
SUBMIT = "/sotong.intake.v1.IntakeService/SubmitReport"
GET = "/sotong.intake.v1.IntakeService/GetSubmission"


def bad_tokens(stack: Stack) -> dict[str, tuple[str, str]]:
    """Tokens the gateway must refuse for ListSubmissions (operators only): (authorization, expected code)."""
    assert stack.state is not None
    secret = stack.state.jwt_secret
    return {
        "without the role": ("Bearer " + auth.issue(secret, "citizen-kang", ["citizen"]), "PERMISSION_DENIED"),
        "expired": ("Bearer " + auth.issue(secret, "operator-old", ["operator"], ttl_s=-30), "UNAUTHENTICATED"),
        "signed with another key": (
            "Bearer " + auth.issue("not-the-platform-secret-" + uuid.uuid4().hex, "operator-fake", ["operator"]),
            "UNAUTHENTICATED",
        ),
        "none": ("", "UNAUTHENTICATED"),
    }


async def test_bad_tokens_never_reach_the_service(fresh_stack: Stack) -> None:
    stack = start_gateway(fresh_stack, "intake-api", "intake-worker")
    tokens = bad_tokens(stack)
    before = backend_calls(stack, "intake-api", LIST)
    outcomes: dict[tuple[str, str], str] = {}
    async with grpc.aio.insecure_channel(grpc_target(stack)) as channel:
        staff = intake_grpc.IntakeServiceStub(channel)
        for name, (authorization, _) in tokens.items():
            metadata = (("authorization", authorization),) if authorization else ()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await staff.ListSubmissions(intake.ListSubmissionsRequest(), metadata=metadata)
            outcomes[("grpc", name)] = refused.value.code().name
            connect = connect_unary(stack, LIST.lstrip("/"), {}, authorization or None)
            outcomes[("connect", name)] = connect.json()["code"].upper()
            web = grpc_web(stack, LIST.lstrip("/"), intake.ListSubmissionsRequest(), authorization or None)
            outcomes[("grpc-web", name)] = grpc.StatusCode(
                next(c for c in grpc.StatusCode if c.value[0] == web.grpc_status)
            ).name
        assert outcomes == {
            (protocol, name): expected
            for name, (_, expected) in tokens.items()
            for protocol in ("grpc", "connect", "grpc-web")
        }
        assert backend_calls(stack, "intake-api", LIST) == before  # not one reached intake

        # The control: a token with the role goes through, and intake counts it.
        good = (("authorization", bearer(stack, "operator-yoo", "operator")),)
        await staff.ListSubmissions(intake.ListSubmissionsRequest(), metadata=good)
    assert backend_calls(stack, "intake-api", LIST) == before + 1
    assert metric(stack, "gateway-api", "sotong_gateway_refused_total", reason="permission") == 3
    assert metric(stack, "gateway-api", "sotong_gateway_refused_total", reason="unauthenticated") == 9


def _report(key: str) -> pb.SubmitReportRequest:
    return pb.SubmitReportRequest(
        kind=types.SUBMISSION_KIND_OPINION, text="한강 공원에 쓰레기통을 늘려 주세요", idempotency_key=key
    )


async def test_a_citizen_over_the_limit_is_told_when_to_retry_others_are_not_affected(fresh_stack: Stack) -> None:
    stack = start_gateway(
        fresh_stack,
        "intake-api",
        "intake-worker",
        SOTONG_GATEWAY_CITIZEN_RATE="2/s:4",
        SOTONG_GATEWAY_CLIENT_RATE="1000/s",
    )
    hasty = (("authorization", bearer(stack, "citizen-hasty", "citizen")),)
    calm = (("authorization", bearer(stack, "citizen-calm", "citizen")),)
    author = (("authorization", bearer(stack, "citizen-author", "citizen")),)
    async with grpc.aio.insecure_channel(grpc_target(stack)) as channel:
        stub = pb_grpc.GatewayServiceStub(channel)
        tracking_id = (await stub.SubmitReport(_report(str(uuid.uuid4())), metadata=author)).tracking_id
        await stored(stack, tracking_id)  # answered when durable on Kafka; stored by intake's worker
        request = pb.GetSubmissionRequest(tracking_id=tracking_id)
        outcomes = []
        refusal: grpc.aio.AioRpcError | None = None
        for index in range(8):
            try:
                await stub.GetSubmission(request, metadata=hasty)
                outcomes.append("OK")
            except grpc.aio.AioRpcError as error:
                outcomes.append(error.code().name)
                refusal = refusal or error
            if index % 3 == 1:  # another citizen, calling now and then meanwhile, is not held back
                await stub.GetSubmission(request, metadata=calm)
        assert outcomes[:4] == ["OK"] * 4  # the burst
        assert "RESOURCE_EXHAUSTED" in outcomes[4:]
        assert refusal is not None
        status = rpc_status.from_call(refusal)
        assert status is not None
        retry = error_details_pb2.RetryInfo()
        assert any(d.Unpack(retry) for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR))
        wait = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
        assert 0 < wait <= 0.5 + 1e-6  # 2 per second: a token within half a second

        # Connect answers HTTP 429 with Retry-After (whole seconds, rounded up) and the same details.
        limited = connect_unary(stack, f"{GATEWAY_SERVICE}/GetSubmission", {"trackingId": tracking_id}, hasty[0][1])
        assert limited.status == 429
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["code"] == "resource_exhausted"
        time.sleep(wait + 0.05)
        await stub.GetSubmission(request, metadata=hasty)  # after the wait it goes through again
    assert metric(stack, "gateway-api", "sotong_gateway_refused_total", reason="rate:citizen") >= 2


def _post_from(source: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """A Connect call from the loopback address `source` (another client, as far as the gateway can tell)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


async def test_a_client_address_over_the_limit_is_refused_before_its_token_is_read(fresh_stack: Stack) -> None:
    stack = start_gateway(fresh_stack, "intake-api", "intake-worker", SOTONG_GATEWAY_CLIENT_RATE="1/s:3")
    assert stack.state is not None
    port = stack.state.http_ports["gateway-api"]
    path = f"/{GATEWAY_SERVICE}/GetSubmission"
    body = json.dumps({"trackingId": "261203-NOSUCHID"}).encode()
    citizen = {"content-type": "application/json", "authorization": bearer(stack, "citizen-ahn", "citizen")}
    garbage = {"content-type": "application/json", "authorization": "Bearer not-a-token"}
    flood = [_post_from("127.0.0.2", port, path, body, garbage)[0] for _ in range(6)]
    assert flood[:3] == [401] * 3 and flood[3:] == [429] * 3  # bad tokens are cheap to refuse, then not even read
    # The same citizen's calls from another address are not affected by the flood from 127.0.0.2.
    other = [_post_from("127.0.0.3", port, path, body, citizen) for _ in range(3)]
    assert [status for status, _ in other] == [404] * 3  # intake's answer: the id does not exist
    assert metric(stack, "gateway-api", "sotong_gateway_refused_total", reason="rate:client") == 3
