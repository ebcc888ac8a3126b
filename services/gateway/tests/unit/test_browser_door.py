"""The browser door's HTTP duties, driven as an ASGI application in process (no server, no services)."""

from __future__ import annotations

import json
from typing import Any

from sotong_common import auth
from sotong_gateway.edge import Deadlines, Edge, StreamSlots
from sotong_gateway.ratelimit import Buckets
from sotong_gateway.web import BrowserDoor

ALLOWED = "https://app.seoul.go.kr"


def door(max_bytes: int = 1024) -> BrowserDoor:
    edge = Edge(
        [],
        auth.TokenVerifier.shared_secret("unit-secret"),
        clients=Buckets("client", 10, 10),
        citizens=Buckets("citizen", 10, 10),
        streams=StreamSlots(2),
        deadlines=Deadlines(),
    )
    return BrowserDoor(edge, allowed_origins=frozenset({ALLOWED}), max_request_bytes=max_bytes, trusted_proxy_hops=0)


async def call(app: BrowserDoor, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "scheme": "http",
        "client": ("203.0.113.7", 5000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "extensions": {},
    }
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return {
        "status": start["status"],
        "headers": {k.decode(): v.decode() for k, v in start["headers"]},
        "body": b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    }


async def test_health() -> None:
    app = door()
    assert (await call(app, "GET", "/healthz", {}))["status"] == 200
    app.serving = False
    assert (await call(app, "GET", "/healthz", {}))["status"] == 503


async def test_preflight_from_an_allowed_origin() -> None:
    reply = await call(
        door(),
        "OPTIONS",
        "/sotong.gateway.v1.GatewayService/SubmitReport",
        {"origin": ALLOWED, "access-control-request-method": "POST"},
    )
    assert reply["status"] == 204
    headers = reply["headers"]
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in headers["access-control-allow-headers"]
    assert "connect-timeout-ms" in headers["access-control-allow-headers"]
    for exposed in ("grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after"):
        assert exposed in headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in headers  # bearer tokens, no cookies


async def test_another_origin_is_refused_before_anything_else() -> None:
    for method in ("OPTIONS", "POST", "GET"):
        reply = await call(
            door(), method, "/sotong.gateway.v1.GatewayService/SubmitReport", {"origin": "https://evil.example"}
        )
        assert reply["status"] == 403
        assert "access-control-allow-origin" not in reply["headers"]


async def test_errors_carry_cors_headers_so_the_page_can_read_them() -> None:
    reply = await call(
        door(),
        "POST",
        "/sotong.gateway.v1.GatewayService/Nothing",
        {"origin": ALLOWED, "content-type": "application/json"},
        b"{}",
    )
    assert reply["status"] == 404
    assert reply["headers"]["access-control-allow-origin"] == ALLOWED


async def test_a_body_over_the_limit_is_refused_from_its_length() -> None:
    path = "/sotong.gateway.v1.GatewayService/SubmitReport"
    connect = await call(door(100), "POST", path, {"content-type": "application/json", "content-length": "101"})
    assert connect["status"] == 413
    assert json.loads(connect["body"])["code"] == "resource_exhausted"
    web = await call(door(100), "POST", path, {"content-type": "application/grpc-web+proto", "content-length": "5000"})
    assert web["status"] == 200 and web["headers"]["grpc-status"] == "8"
    lying = await call(door(100), "POST", path, {"content-type": "application/json", "content-length": "-1"})
    assert lying["status"] == 413
