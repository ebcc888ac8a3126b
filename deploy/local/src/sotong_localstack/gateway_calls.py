"""Calling the gateway in each of its protocols from tests: native gRPC, Connect (JSON, binary, streaming),
gRPC-Web, and curl; reading a service's metrics to see whether a call reached it.

The frames are written here by hand, from the protocols' specifications, so that the tests can also send what a
well-behaved client library never would (malformed envelopes, lying lengths, wrong content types).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from sotong_common import auth
from sotong_localstack.stack import Stack

GATEWAY_SERVICE = "sotong.gateway.v1.GatewayService"


def start_gateway(stack: Stack, *apis: str, **env: str) -> Stack:
    """Start the given service APIs and the gateway, with SOTONG_* overrides for the gateway (e.g. rate limits)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        stack.start_services((*apis, "gateway-api"), say=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return stack


def bearer(stack: Stack, subject: str, *roles: str, ttl_s: int = 3600) -> str:
    assert stack.state is not None
    return "Bearer " + auth.issue(stack.state.jwt_secret, subject, roles, ttl_s=ttl_s)


def grpc_target(stack: Stack) -> str:
    assert stack.state is not None
    return f"127.0.0.1:{stack.state.grpc_ports['gateway-api']}"


def http_base(stack: Stack) -> str:
    assert stack.state is not None
    return f"http://127.0.0.1:{stack.state.http_ports['gateway-api']}"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post(url: str, body: bytes, headers: dict[str, str], *, method: str = "POST", timeout: float = 30) -> Reply:
    request = urllib.request.Request(url, data=body if method != "GET" else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def connect_unary(
    stack: Stack, method: str, message: dict[str, Any], authorization: str | None, **headers: str
) -> Reply:
    """A Connect unary call with a JSON body (what `curl -H 'content-type: application/json'` sends)."""
    sent = {"content-type": "application/json", "connect-protocol-version": "1", **_dashed(headers)}
    if authorization:
        sent["authorization"] = authorization
    return post(f"{http_base(stack)}/{method}", json.dumps(message).encode(), sent)


def _dashed(headers: dict[str, str]) -> dict[str, str]:
    return {key.replace("_", "-"): value for key, value in headers.items()}


def envelope(payload: bytes, flags: int = 0) -> bytes:
    """One length-prefixed message of the Connect streaming and gRPC(-Web) protocols."""
    return struct.pack(">BI", flags, len(payload)) + payload


def frames(body: bytes) -> Iterator[tuple[int, bytes]]:
    """(flags, payload) of each enveloped message of a response body."""
    offset = 0
    while offset + 5 <= len(body):
        flags, size = struct.unpack(">BI", body[offset : offset + 5])
        yield flags, body[offset + 5 : offset + 5 + size]
        offset += 5 + size


def connect_stream(
    stack: Stack, method: str, message: dict[str, Any], authorization: str | None, timeout: float = 30, **headers: str
) -> tuple[Reply, list[dict[str, Any]], dict[str, Any]]:
    """A Connect server-stream call in JSON: the reply, the messages and the end-of-stream message."""
    sent = {"content-type": "application/connect+json", "connect-protocol-version": "1", **_dashed(headers)}
    if authorization:
        sent["authorization"] = authorization
    reply = post(f"{http_base(stack)}/{method}", envelope(json.dumps(message).encode()), sent, timeout=timeout)
    messages: list[dict[str, Any]] = []
    end: dict[str, Any] = {}
    for flags, payload in frames(reply.body):
        if flags & 0x02:
            end = json.loads(payload)
        else:
            messages.append(json.loads(payload))
    return reply, messages, end


@dataclass
class GrpcWebReply:
    status: int
    headers: dict[str, str]
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def grpc_status(self) -> int:
        return int(self.trailers.get("grpc-status", self.headers.get("grpc-status", "-1")))

    def rich_status(self) -> status_pb2.Status | None:
        raw = self.trailers.get("grpc-status-details-bin") or self.headers.get("grpc-status-details-bin")
        if not raw:
            return None
        return status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))


def grpc_web(
    stack: Stack, method: str, message: Message | bytes, authorization: str | None, **headers: str
) -> GrpcWebReply:
    """A gRPC-Web call (binary): messages and trailers from the body, or a trailers-only answer in the headers."""
    payload = message if isinstance(message, bytes) else envelope(message.SerializeToString())
    sent = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", **_dashed(headers)}
    if authorization:
        sent["authorization"] = authorization
    reply = post(f"{http_base(stack)}/{method}", payload, sent)
    parsed = GrpcWebReply(reply.status, reply.headers)
    for flags, data in frames(reply.body):
        if flags & 0x80:
            for line in data.decode("latin-1").split("\r\n"):
                if ":" in line:
                    key, _, value = line.partition(":")
                    parsed.trailers[key.strip().lower()] = value.strip()
        else:
            parsed.messages.append(data)
    return parsed


def connect_violations(error: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, description) of the BadRequest details of a Connect error body."""
    found: list[tuple[str, str]] = []
    for detail in error.get("details", []):
        if detail.get("type") == "google.rpc.BadRequest":
            raw = detail["value"]
            bad = error_details_pb2.BadRequest.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))
            found.extend((v.field, v.description) for v in bad.field_violations)
    return found


def curl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    """curl as a newcomer runs it (`-sS`, and `-w` for the status code on the last line)."""
    return subprocess.run(
        ["curl", "-sS", "--max-time", str(timeout), "-w", "\n%{http_code}", *args],
        capture_output=True,
        timeout=timeout + 5,
        check=False,
    )


def metric(stack: Stack, process: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus sample over the series matching `labels`, read from the process's /metrics."""
    assert stack.state is not None
    port = stack.state.metrics_ports[process]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{key}="{wanted}"' in series for key, wanted in labels.items()):
            total += float(value)
    return total


def backend_calls(stack: Stack, process: str, method: str) -> float:
    """How many calls of `method` the service's gRPC server handled (its latency histogram's count)."""
    return metric(stack, process, "sotong_grpc_server_handling_seconds_count", method=method)


def rpc_code(error: grpc.aio.AioRpcError) -> grpc.StatusCode:
    return error.code()
