"""Bad input at the gateway in each protocol: malformed frames, wrong content types, oversized bodies, bad JSON.

Every answer must be a clear refusal (a 4xx with a Connect error, or a gRPC status that is neither OK, UNKNOWN
nor INTERNAL), the gateway must keep serving, and nothing the contract refuses may reach a service: intake's
own count of SubmitReport and WatchSubmission calls stays where it was (a valid call at the end moves it, so the
check can fail). Hand-picked cases name what each protocol's framing can get wrong; hypothesis adds random
bodies, frames and JSON documents.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import urllib.parse
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sotong.gateway.v1 import gateway_service_pb2 as pb
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_gateway import contract
from sotong_localstack.gateway_calls import (
    GATEWAY_SERVICE,
    Reply,
    backend_calls,
    bearer,
    envelope,
    grpc_target,
    http_base,
    post,
    start_gateway,
)
from sotong_localstack.stack import Stack

pytestmark = pytest.mark.service

SUBMIT = f"{GATEWAY_SERVICE}/SubmitReport"
WATCH = f"{GATEWAY_SERVICE}/WatchSubmission"
LIMIT = 16 * 1024
FORWARDED = ("/sotong.intake.v1.IntakeService/SubmitReport", "/sotong.intake.v1.IntakeService/WatchSubmission")
CLEAR_GRPC_REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT.value[0],
    grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
    grpc.StatusCode.UNIMPLEMENTED.value[0],
    grpc.StatusCode.UNAUTHENTICATED.value[0],
}
CONNECT_CODES = {"invalid_argument", "resource_exhausted", "unimplemented", "unauthenticated"}


@pytest.fixture()
def gateway(fresh_stack: Stack) -> Stack:
    """intake-api and the gateway, with a small size limit to reach and limits no test reaches."""
    return start_gateway(
        fresh_stack,
        "intake-api",
        SOTONG_GATEWAY_MAX_REQUEST_BYTES=str(LIMIT),
        SOTONG_GATEWAY_CITIZEN_RATE="100000/s",
        SOTONG_GATEWAY_CLIENT_RATE="100000/s",
    )


def forwarded(stack: Stack) -> float:
    return sum(backend_calls(stack, "intake-api", method) for method in FORWARDED)


def still_serving(stack: Stack) -> None:
    assert stack.processes["gateway-api"].poll() is None, "the gateway died"
    assert post(f"{http_base(stack)}/healthz", b"", {}, method="GET").status == 200


def assert_clear_http(reply: Reply, case: str) -> None:
    """A Connect or HTTP-level refusal: 4xx (or 501 for an encoding the gateway does not speak, as the Connect
    protocol answers it), and where a body says why, a Connect error with a known code and a message."""
    body = json.loads(reply.body) if reply.headers.get("content-type", "").startswith("application/json") else {}
    unsupported = reply.status == 501 and body.get("code") == "unimplemented"
    assert 400 <= reply.status < 500 or unsupported, f"{case}: HTTP {reply.status} {reply.body[:200]!r}"
    if body:
        assert body.get("code") in CONNECT_CODES, f"{case}: {body}"
        assert body.get("message"), f"{case}: a refusal says why"


def protocol_error(code: int, message: str) -> bool:
    """INTERNAL for a broken envelope is what the gRPC and Connect protocols prescribe; clear when it says so."""
    return code == grpc.StatusCode.INTERNAL.value[0] and "protocol error" in message


def assert_clear_grpc_web(reply: Reply, case: str) -> None:
    """gRPC-Web answers 200 with the status in headers (trailers-only) or in a trailer frame; or an HTTP 4xx."""
    if reply.status != 200:
        assert 400 <= reply.status < 500, f"{case}: HTTP {reply.status}"
        return
    fields = dict(reply.headers)
    if "grpc-status" not in fields:
        trailer = reply.body[reply.body.rfind(b"grpc-status:") :].decode("latin-1")
        fields.update(
            (key.strip().lower(), value.strip())
            for key, _, value in (line.partition(":") for line in trailer.split("\r\n") if ":" in line)
        )
    status, message = int(fields["grpc-status"]), urllib.parse.unquote(fields.get("grpc-message", ""))
    assert status in CLEAR_GRPC_REFUSALS or protocol_error(status, message), f"{case}: {status} {message}"
    assert message, f"{case}: a refusal says why"


def citizen(stack: Stack) -> str:
    return bearer(stack, "citizen-fuzz", "citizen")


CONNECT_CASES: dict[str, tuple[str, bytes, dict[str, str]]] = {
    "truncated JSON": (SUBMIT, b'{"text": "abc', {"content-type": "application/json"}),
    "JSON array": (SUBMIT, b"[1, 2, 3]", {"content-type": "application/json"}),
    "wrong type": (SUBMIT, b'{"text": 42}', {"content-type": "application/json"}),
    "unknown field": (SUBMIT, b'{"txet": "typo"}', {"content-type": "application/json"}),
    "unknown enum": (SUBMIT, b'{"kind": "SUBMISSION_KIND_GOSSIP"}', {"content-type": "application/json"}),
    "number out of range": (SUBMIT, b'{"point": {"lat": 1e999}}', {"content-type": "application/json"}),
    "not UTF-8": (SUBMIT, b'{"text": "\xff\xfe"}', {"content-type": "application/json"}),
    "NUL in text": (
        SUBMIT,
        b'{"text": "a\\u0000b", "kind": 1, "idempotencyKey": "12345678"}',
        {"content-type": "application/json"},
    ),
    "valid JSON, invalid contract": (SUBMIT, b"{}", {"content-type": "application/json"}),
    "binary garbage as proto": (SUBMIT, b"\xff\xff\xff\xff\x0f", {"content-type": "application/proto"}),
    "truncated proto": (
        SUBMIT,
        pb.SubmitReportRequest(text="x" * 50).SerializeToString()[:10],
        {"content-type": "application/proto"},
    ),
    "text/plain": (SUBMIT, b"hello", {"content-type": "text/plain"}),
    "xml": (SUBMIT, b"<a/>", {"content-type": "application/xml"}),
    "no content type": (SUBMIT, b'{"text": "x"}', {}),
    "form": (SUBMIT, b"text=x", {"content-type": "application/x-www-form-urlencoded"}),
    "gzip that is not": (SUBMIT, b"not gzip", {"content-type": "application/json", "content-encoding": "gzip"}),
    "unknown encoding": (SUBMIT, b"{}", {"content-type": "application/json", "content-encoding": "lzma"}),
    "oversized body": (SUBMIT, b'{"text": "' + b"a" * (LIMIT + 10) + b'"}', {"content-type": "application/json"}),
    "unknown method": (f"{GATEWAY_SERVICE}/DropTables", b"{}", {"content-type": "application/json"}),
    "stream: no envelope": (WATCH, b'{"trackingId": "x"}', {"content-type": "application/connect+json"}),
    "stream: length lies": (WATCH, struct.pack(">BI", 0, 1000) + b"{}", {"content-type": "application/connect+json"}),
    "stream: compressed flag, no encoding": (
        WATCH,
        envelope(b'{"trackingId": "x"}', flags=1),
        {"content-type": "application/connect+json"},
    ),
    "stream: two requests": (
        WATCH,
        envelope(b'{"trackingId": "a"}') * 2,
        {"content-type": "application/connect+json"},
    ),
    "stream: empty": (WATCH, b"", {"content-type": "application/connect+json"}),
    "stream: huge declared length": (
        WATCH,
        struct.pack(">BI", 0, 2**31) + b"x" * 100,
        {"content-type": "application/connect+json"},
    ),
    "stream: bad tracking id": (
        WATCH,
        envelope(json.dumps({"trackingId": "a b\u0000"}).encode()),
        {"content-type": "application/connect+json"},
    ),
}

GRPC_WEB_CASES: dict[str, tuple[str, bytes, str]] = {
    "no envelope": (SUBMIT, b"\x0a\x03abc", "application/grpc-web+proto"),
    "length lies": (SUBMIT, struct.pack(">BI", 0, 500) + b"\x0a\x01a", "application/grpc-web+proto"),
    "truncated header": (SUBMIT, b"\x00\x00", "application/grpc-web+proto"),
    "garbage message": (SUBMIT, envelope(b"\xff\xff\xff\xff\x0f"), "application/grpc-web+proto"),
    "two messages for a unary": (SUBMIT, envelope(b"") * 2, "application/grpc-web+proto"),
    "trailer flag from the client": (SUBMIT, envelope(b"grpc-status: 0", flags=0x80), "application/grpc-web+proto"),
    "compressed, no encoding": (SUBMIT, envelope(b"\x0a\x01a", flags=1), "application/grpc-web+proto"),
    "json codec, bad JSON": (SUBMIT, envelope(b'{"text":'), "application/grpc-web+json"),
    "unknown codec": (SUBMIT, envelope(b""), "application/grpc-web+yaml"),
    "grpc-web-text": (SUBMIT, base64.b64encode(envelope(b"")), "application/grpc-web-text"),
    "oversized": (SUBMIT, envelope(b"\x12" + b"\xff\x7f" + b"a" * (LIMIT + 10)), "application/grpc-web+proto"),
    "stream: empty body": (WATCH, b"", "application/grpc-web+proto"),
}


def test_connect_refuses_bad_input_clearly(gateway: Stack) -> None:
    before = forwarded(gateway)
    for case, (method, body, headers) in CONNECT_CASES.items():
        reply = post(
            f"{http_base(gateway)}/{method}",
            body,
            {"connect-protocol-version": "1", "authorization": citizen(gateway), **headers},
        )
        if method == WATCH and reply.status == 200:  # a stream's error is its end-of-stream message
            error = json.loads(_last_frame(reply.body))["error"]
            clear = error["code"] in CONNECT_CODES or (
                error["code"] == "internal" and "protocol error" in error["message"]
            )
            assert clear and error["message"], f"{case}: {error}"
        else:
            assert_clear_http(reply, case)
        still_serving(gateway)
    assert forwarded(gateway) == before


def _last_frame(body: bytes) -> bytes:
    offset, last = 0, b""
    while offset + 5 <= len(body):
        _, size = struct.unpack(">BI", body[offset : offset + 5])
        last = body[offset + 5 : offset + 5 + size]
        offset += 5 + size
    return last


def test_grpc_web_refuses_bad_frames_clearly(gateway: Stack) -> None:
    before = forwarded(gateway)
    for case, (method, body, content_type) in GRPC_WEB_CASES.items():
        reply = post(
            f"{http_base(gateway)}/{method}",
            body,
            {"content-type": content_type, "x-grpc-web": "1", "authorization": citizen(gateway)},
        )
        assert_clear_grpc_web(reply, case)
        still_serving(gateway)
    assert forwarded(gateway) == before


async def test_native_grpc_refuses_bad_messages_clearly(gateway: Stack) -> None:
    before = forwarded(gateway)
    metadata = (("authorization", citizen(gateway)),)
    cases = {
        "garbage": b"\xff\xff\xff\xff\x0f",
        "truncated": pb.SubmitReportRequest(text="x" * 50).SerializeToString()[:10],
        "wrong wire type": b"\x15\x00\x00\x00\x00",  # text (field 2) as a fixed32
        "empty (contract refuses)": b"",
        "unknown enum value": pb.SubmitReportRequest(kind=99, text="x", idempotency_key="12345678").SerializeToString(),
        "oversized": b"\x12" + b"\xff\x7f" + b"a" * (LIMIT + 10),
    }
    async with grpc.aio.insecure_channel(grpc_target(gateway)) as channel:
        raw = channel.unary_unary(f"/{SUBMIT}", request_serializer=None, response_deserializer=None)
        for case, body in cases.items():
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await raw(body, metadata=metadata, timeout=10)
            assert refused.value.code().value[0] in CLEAR_GRPC_REFUSALS, f"{case}: {refused.value.code()}"
            assert refused.value.details(), f"{case}: a refusal says why"
        unknown = channel.unary_unary(f"/{GATEWAY_SERVICE}/DropTables", request_serializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await unknown(b"", metadata=metadata, timeout=10)
        assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED
    still_serving(gateway)
    assert forwarded(gateway) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["kind", "text", "category", "point", "addressText", "districtCode", "mediaUrls", "contact", "idempotencyKey"]
reports = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)

FUZZ_EXAMPLES = int(os.environ.get("SOTONG_FUZZ_EXAMPLES", "120"))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=reports | json_values)
def test_random_json_is_refused_clearly(gateway: Stack, document: Any) -> None:
    """Random JSON documents, most shaped like a report with wrong values: refused with a reason, or, if one
    happens to satisfy the contract, accepted; never a 5xx. Intake sees only what the contract accepts."""
    before = forwarded(gateway)
    reply = post(
        f"{http_base(gateway)}/{SUBMIT}",
        json.dumps(document).encode(),
        {"content-type": "application/json", "authorization": citizen(gateway)},
    )
    assert reply.status < 500, (document, reply.status, reply.body[:300])
    if reply.status != 200:
        assert json.loads(reply.body)["message"], "a refusal says why"
    # Intake sees the document exactly when it satisfies the gateway's contract (then intake decides the rest).
    assert forwarded(gateway) - before == (1 if _satisfies_contract(document) else 0), (document, reply.body)


def _satisfies_contract(document: Any) -> bool:
    """The oracle: the document parses as a SubmitReportRequest and the contract's rules find nothing wrong."""
    request = pb.SubmitReportRequest()
    try:
        json_format.ParseDict(document, request)
    except (json_format.ParseError, TypeError, ValueError, AttributeError):
        return False
    return not contract.submit_report_violations(request)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    flags=st.integers(0, 255),
    declared=st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=64),
    protocol=st.sampled_from(["application/grpc-web+proto", "application/connect+proto"]),
)
def test_random_frames_are_refused_clearly(
    gateway: Stack, flags: int, declared: int, payload: bytes, protocol: str
) -> None:
    """Random envelopes (flags, a declared length that may lie, random bytes) on the stream method."""
    before = forwarded(gateway)
    reply = post(
        f"{http_base(gateway)}/{WATCH}",
        struct.pack(">BI", flags, declared) + payload,
        {"content-type": protocol, "x-grpc-web": "1", "connect-protocol-version": "1",
         "authorization": citizen(gateway)},
        timeout=10,
    )  # fmt: skip
    assert reply.status < 500
    if protocol.startswith("application/grpc-web"):
        assert_clear_grpc_web(reply, f"flags={flags} declared={declared}")
    elif reply.status == 200:
        error = json.loads(_last_frame(reply.body))["error"]
        known = CONNECT_CODES | {"not_found"}
        assert error["code"] in known or (error["code"] == "internal" and "protocol error" in error["message"]), error
    # A frame that happens to hold a valid request is forwarded (and intake answers NOT_FOUND); no other is.
    assert forwarded(gateway) - before <= (1 if _decodes(payload, declared) else 0)


def _decodes(payload: bytes, declared: int) -> bool:
    if declared != len(payload):
        return False
    try:
        request = pb.WatchSubmissionRequest.FromString(payload)
    except Exception:
        return False
    return bool(request.tracking_id) and request.tracking_id.isascii() and request.tracking_id.isprintable()


def test_a_valid_report_still_reaches_intake(gateway: Stack) -> None:
    """The control for the checks above: a call the contract accepts is forwarded and counted."""
    before = forwarded(gateway)
    reply = post(
        f"{http_base(gateway)}/{SUBMIT}",
        json.dumps(
            {"kind": types.SubmissionKind.Name(types.SUBMISSION_KIND_OPINION), "text": "좋은 정책입니다",
             "idempotencyKey": "fuzz-control-1"}
        ).encode(),
        {"content-type": "application/json", "authorization": citizen(gateway)},
    )  # fmt: skip
    assert reply.status == 200, reply.body
    assert forwarded(gateway) == before + 1
