"""The native gRPC door: grpc.aio (gRPC's C core, HTTP/2) serving every route, health and reflection.

Native apps, servers and grpcurl come in here. Requests arrive as bytes and are parsed here rather than by
grpc's deserializer, so a malformed message is refused as INVALID_ARGUMENT naming the type it is not (grpc would
answer INTERNAL) and counted as a refusal; the edge does the rest (`sotong_gateway.edge`). Reflection needs a
valid token unless `GRPC_REFLECTION_OPEN` says otherwise, as on every Sotong server.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import _async as reflection_aio
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sotong_common import auth
from sotong_gateway.edge import REFUSED, Call, CallError, Edge, Route, client_address

DETAILS_KEY = "grpc-status-details-bin"


def peer_address(peer: str) -> str:
    """`ipv4:10.0.0.1:5000` -> `10.0.0.1`, `ipv6:[::1]:5000` -> `::1`."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1 : rest.find("]")]
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return peer


class _Metadata:
    """What the edge reads from a call's metadata, in one pass over it."""

    __slots__ = ("authorization", "forwarded_for", "trace")

    def __init__(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
        self.authorization: str | None = None
        self.forwarded_for: str | None = None
        self.trace: list[tuple[str, str]] = []
        for key, value in metadata or ():
            if key == "authorization":
                self.authorization = value if isinstance(value, str) else value.decode("latin-1")
            elif key in ("traceparent", "tracestate") and isinstance(value, str):
                self.trace.append((key, value))
            elif key == "x-forwarded-for" and isinstance(value, str):
                self.forwarded_for = value


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: CallError) -> None:
    metadata: tuple[tuple[str, str | bytes], ...] = ((DETAILS_KEY, error.status.SerializeToString()),)
    if error.retry_after_s is not None:
        metadata += (("retry-after", str(max(1, round(error.retry_after_s + 0.4999)))),)
    await context.abort(error.code, error.status.message, trailing_metadata=metadata)


class NativeDoor:
    """The gRPC server of the gateway; `start` returns the port it listens on."""

    def __init__(
        self,
        edge: Edge,
        verifier: auth.TokenVerifier,
        *,
        host: str,
        port: int,
        max_message_bytes: int,
        trusted_proxy_hops: int,
        reflection_open: bool,
        grace_s: float = 10.0,
    ) -> None:
        self._edge = edge
        self._hops = trusted_proxy_hops
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),
            ]
        )
        by_service: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}
        for route in edge.routes.values():
            by_service.setdefault(route.service, {})[route.name] = self._handler(route)
        for service, handlers in by_service.items():
            self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        names = [*by_service, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        self._service_names = names
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            _GuardedReflection([*names, reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name],
                               verifier, open_=reflection_open),
            self._server,
        )  # fmt: skip
        self._host = host
        self._port = port
        self._grace = grace_s
        self.port = 0

    def _call(self, route: Route[Any, Any], context: grpc.aio.ServicerContext[Any, Any]) -> Call:
        seen = _Metadata(context.invocation_metadata())
        remaining = context.time_remaining()
        return Call(
            protocol="grpc",
            method=route.method,
            authorization=seen.authorization,
            trace_carrier=seen.trace,
            client=client_address(peer_address(context.peer()), seen.forwarded_for, self._hops),
            deadline=time.monotonic() + remaining if remaining is not None else None,
        )

    def _parse(self, route: Route[Any, Any], data: bytes) -> Any:
        try:
            return route.request.FromString(data)
        except DecodeError:
            REFUSED.labels("malformed", "grpc").inc()
            raise CallError.of(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request is not a valid {route.request.DESCRIPTOR.full_name} message",
                reason="",
            ) from None

    def _handler(self, route: Route[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        edge = self._edge

        if route.streaming:

            async def stream(data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
                try:
                    request = self._parse(route, data)
                    async for item in edge.stream(route, request, self._call(route, context)):
                        yield item.SerializeToString()
                except CallError as error:
                    await _abort(context, error)

            return grpc.unary_stream_rpc_method_handler(stream)

        async def unary(data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            try:
                request = self._parse(route, data)
                reply = await edge.unary(route, request, self._call(route, context))
                return reply.SerializeToString()
            except CallError as error:
                await _abort(context, error)
                raise AssertionError("abort returns only by raising") from None

        return grpc.unary_unary_rpc_method_handler(unary)

    async def start(self) -> None:
        self.port = self._server.add_insecure_port(f"{self._host}:{self._port}")
        await self._server.start()
        for name in [*self._service_names, ""]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self) -> None:
        """Health turns NOT_SERVING first (load balancers stop sending), then in-flight calls get a grace period."""
        await self.health.enter_graceful_shutdown()
        await self._server.stop(self._grace)


class _GuardedReflection(reflection_aio.ReflectionServicer):  # type: ignore[misc]
    """Reflection describes every method and field; it needs a valid token of any role unless opened."""

    def __init__(self, names: list[str], verifier: auth.TokenVerifier, *, open_: bool) -> None:
        super().__init__(names)
        self._verifier = verifier
        self._open = open_

    async def ServerReflectionInfo(
        self, request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[reflection_pb2.ServerReflectionResponse]:
        if not self._open:
            token = auth.bearer(context.invocation_metadata())
            if not token:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
            try:
                self._verifier.verify(token or "")
            except auth.AuthError as error:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        async for reply in super().ServerReflectionInfo(request_iterator, context):
            yield reply
