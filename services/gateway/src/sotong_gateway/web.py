"""The browser door: Connect (JSON and binary) and gRPC-Web over HTTP/1.1, from the same protos and routes.

It is an ASGI application: the Connect RPC implementation for Python (`connectrpc`) speaks both protocols and
dispatches to the same `Edge` the native door uses, wrapped in a small ASGI layer of this module that does what
belongs to HTTP rather than to RPC:
- CORS for an allowlist of exact origins, exposing the gRPC and Connect status headers (grpc-status,
  grpc-message, grpc-status-details-bin) and Retry-After, so a page can read an error's code and details;
  a request from an origin not on the list is refused (403) before anything else, preflight or not;
- the request size limit, from Content-Length before the body is read (connectrpc enforces the same limit on
  bodies without one, and on decompressed bodies);
- `GET /healthz` for load balancers.
uvicorn (with httptools) serves it in the gateway's process and event loop, beside the native door.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import uvicorn
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_binary_codec
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from google.protobuf import json_format
from google.protobuf.message import Message
from protobuf.wkt import Any as WireAny

from sotong_common import logs
from sotong_gateway.edge import REFUSED, Call, CallError, Edge, Route, client_address

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ALLOWED_HEADERS = (
    "authorization, content-type, connect-protocol-version, connect-timeout-ms, connect-content-encoding, "
    "connect-accept-encoding, content-encoding, grpc-timeout, grpc-encoding, grpc-accept-encoding, x-grpc-web, "
    "x-user-agent, traceparent, tracestate"
)
EXPOSED_HEADERS = (
    "grpc-status, grpc-message, grpc-status-details-bin, retry-after, connect-content-encoding, content-encoding"
)
PREFLIGHT_MAX_AGE_S = 7200

_CONNECT_CODES = {
    code.value[0]: Code["CANCELED" if code.name == "CANCELLED" else code.name]
    for code in grpc.StatusCode
    if code is not grpc.StatusCode.OK
}


def connect_error(error: CallError, ctx: RequestContext[Any, Any] | None) -> ConnectError:
    """The edge's status as a ConnectError: same code, message and details; Retry-After for rate limits."""
    if error.retry_after_s is not None and ctx is not None:
        ctx.response_headers["retry-after"] = str(max(1, round(error.retry_after_s + 0.4999)))
    details = [WireAny(type_url=d.type_url, value=d.value) for d in error.status.details]
    return ConnectError(_CONNECT_CODES.get(error.status.code, Code.UNKNOWN), error.status.message, details=details)


def _protocol(content_type: str) -> str:
    if content_type.startswith("application/grpc-web"):
        return "grpc-web"
    if content_type.startswith("application/grpc"):
        return "grpc"
    return "connect"


class _Endpoints:
    """Connect endpoints for every route, calling the edge."""

    def __init__(self, edge: Edge, trusted_proxy_hops: int) -> None:
        self._edge = edge
        self._hops = trusted_proxy_hops

    def _call(self, route: Route[Any, Any], ctx: RequestContext[Any, Any]) -> Call:
        headers = ctx.request_headers
        trace = [(k, v) for k in ("traceparent", "tracestate") if (v := headers.get(k)) is not None]
        peer = (ctx.client_address or "").rpartition(":")[0].strip("[]")
        remaining_ms = ctx.timeout_ms
        return Call(
            protocol=_protocol(headers.get("content-type", "")),
            method=route.method,
            authorization=headers.get("authorization"),
            trace_carrier=trace,
            client=client_address(peer, headers.get("x-forwarded-for"), self._hops),
            deadline=time.monotonic() + remaining_ms / 1000 if remaining_ms is not None else None,
        )

    def endpoint(self, route: Route[Any, Any]) -> Endpoint[Any, Any]:
        edge = self._edge
        info = MethodInfo(
            name=route.name,
            service_name=route.service,
            input=route.request,
            output=route.response,
            idempotency_level=IdempotencyLevel.NO_SIDE_EFFECTS if route.read_only else IdempotencyLevel.UNKNOWN,
            stream_type=StreamType.SERVER_STREAM if route.streaming else StreamType.UNARY,
        )
        if route.streaming:

            async def stream(request: Message, ctx: RequestContext[Any, Any]) -> AsyncIterator[Message]:
                try:
                    async for item in edge.stream(route, request, self._call(route, ctx)):
                        yield item
                except CallError as error:
                    raise connect_error(error, ctx) from None

            return Endpoint.server_stream(info, stream)

        async def unary(request: Message, ctx: RequestContext[Any, Any]) -> Message:
            try:
                return await edge.unary(route, request, self._call(route, ctx))
            except CallError as error:
                raise connect_error(error, ctx) from None

        return Endpoint.unary(info, unary)

    def __call__(self, _service: object) -> Mapping[str, Any]:  # connectrpc's union of endpoint kinds
        return {route.method: self.endpoint(route) for route in self._edge.routes.values()}


class JsonCodec:
    """Protobuf JSON as people read it: UTF-8 text as it is (not \\uXXXX escapes), compact; a field the contract
    does not know is refused, naming it (a typo must not be silently dropped)."""

    def name(self) -> str:
        return "json"

    def encode(self, message: Message) -> bytes:
        return json_format.MessageToJson(message, ensure_ascii=False, indent=None).encode()

    def decode(self, data: bytes | bytearray, message_class: type[Message]) -> Message:
        message = message_class()
        json_format.Parse(bytes(data), message, ignore_unknown_fields=False)
        return message


class _RpcApp(ConnectASGIApplication[object]):
    """connectrpc's ASGI application over every route, with google.protobuf codecs and the size limit."""

    @property
    def path(self) -> str:
        return "/"

    def __init__(self, edge: Edge, max_request_bytes: int, trusted_proxy_hops: int) -> None:
        super().__init__(
            service=object(),
            endpoints=_Endpoints(edge, trusted_proxy_hops),
            read_max_bytes=max_request_bytes,
            codecs=[google_protobuf_binary_codec(), JsonCodec()],
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BrowserDoor:
    """The ASGI application of the HTTP port: health, CORS, size limit, then Connect and gRPC-Web."""

    def __init__(
        self, edge: Edge, *, allowed_origins: frozenset[str], max_request_bytes: int, trusted_proxy_hops: int
    ) -> None:
        self._rpc = _RpcApp(edge, max_request_bytes, trusted_proxy_hops)
        self._origins = allowed_origins
        self._max = max_request_bytes
        self.serving = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets; lifespan is off
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/healthz" and method in ("GET", "HEAD"):
            await _plain(send, 200 if self.serving else 503, b"ok\n" if self.serving else b"stopping\n")
            return
        origin = _header(scope, b"origin")
        cors: list[tuple[bytes, bytes]] = []
        if origin is not None:
            if origin.lower() not in self._origins:
                REFUSED.labels("origin", "http").inc()
                await _plain(send, 403, b"origin not allowed\n")
                return
            cors = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"vary", b"Origin"),
                (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
            ]
            if method == "OPTIONS":
                await _preflight(send, cors)
                return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self._max):
            REFUSED.labels("too_large", "http").inc()
            await _too_large(scope, send, cors, self._max)
            return

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and cors:
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self._rpc(scope, receive, send_with_cors)


async def _plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _preflight(send: Send, cors: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                *cors,
                (b"access-control-allow-methods", b"POST, GET"),
                (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _too_large(scope: Scope, send: Send, cors: list[tuple[bytes, bytes]], limit: int) -> None:
    """A body over the limit, refused in the protocol the client speaks, before it is read."""
    message = f"the request body is larger than the {limit} bytes accepted"
    content_type = _header(scope, b"content-type") or ""
    if content_type.startswith("application/grpc"):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"grpc-status", str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]).encode()),
                    (b"grpc-message", message.replace(" ", "%20").encode()),
                    *cors,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    body = json.dumps({"code": Code.RESOURCE_EXHAUSTED.value, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close"), *cors],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HttpServer:
    """uvicorn in this process's event loop (no signal handlers of its own: the process lifecycle owns them)."""

    def __init__(self, app: BrowserDoor, host: str, port: int, *, grace_s: float = 5.0) -> None:
        self._app = app
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http="httptools",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(grace_s),
            timeout_keep_alive=75,
        )
        self._server = uvicorn.Server(self._config)
        self._task: asyncio.Task[None] | None = None
        self.port = 0
        self._log = logs.get("gateway.web")

    async def start(self) -> None:
        config = self._config
        if not config.loaded:
            config.load()
        self._server.lifespan = config.lifespan_class(config)
        await self._server.startup()
        if self._server.should_exit or not self._server.servers:
            raise RuntimeError(f"the HTTP door could not listen on {config.host}:{config.port}")
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self._task = asyncio.create_task(self._server.main_loop(), name="http door")

    async def stop(self) -> None:
        """Refuse health first, stop taking connections, let calls in flight finish (streams: up to the grace)."""
        self._app.serving = False
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        await self._server.shutdown()
