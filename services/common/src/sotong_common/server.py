"""gRPC server bootstrap shared by every service's API process.

It gives each server the same behaviour without each service writing it: grpc.health.v1 (for Kubernetes gRPC
probes), reflection (for grpcurl and the console; it needs a token unless a development setting opens it), a
per-method JWT role check, a server span continuing the caller's trace, latency metrics, domain errors mapped to
status codes with google.rpc details, and a graceful shutdown on SIGTERM (health flips to NOT_SERVING, in-flight
calls get a grace period). Services that store what they are sent declare their servicer with
`sotong_common.text_fields.refuse_control_characters`.
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from sotong_common import auth, config, logs, metrics, tracing
from sotong_common.consumer import TRANSIENT
from sotong_common.errors import DomainError, Unavailable

current_principal: contextvars.ContextVar[auth.Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)


def principal() -> auth.Principal:
    """The authenticated caller of the current RPC (the interceptor guarantees one for protected methods)."""
    found = current_principal.get()
    if found is None:
        raise RuntimeError("no authenticated principal in this context")
    return found


def _verifier(tokens: str | auth.TokenVerifier) -> auth.TokenVerifier:
    return tokens if isinstance(tokens, auth.TokenVerifier) else auth.TokenVerifier.shared_secret(tokens)


class PlatformInterceptor(grpc.aio.ServerInterceptor):
    """Auth, tracing, metrics and error mapping around every handler kind.

    `tokens` is a `TokenVerifier`, or an HS256 secret for local development.
    """

    def __init__(self, service_name: str, policy: auth.Policy, tokens: str | auth.TokenVerifier) -> None:
        self._service = service_name
        self._policy = policy
        self._tokens = _verifier(tokens)
        self._tracer = tracing.tracer("sotong.grpc.server")
        self._log = logs.get("grpc")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        metadata = tuple(handler_call_details.invocation_metadata or ())
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, metadata, handler.unary_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, metadata, handler.unary_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, metadata, handler.stream_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, metadata, handler.stream_stream),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def _authenticate(self, method: str, metadata: tuple[Any, ...]) -> auth.Principal | None:
        if not self._policy.requires_auth(method):
            return None
        token = auth.bearer(metadata)
        found = self._tokens.verify(token) if token else None
        self._policy.check(method, found)
        return found

    async def _fail(self, context: grpc.aio.ServicerContext[Any, Any], error: Exception, method: str) -> None:
        if isinstance(error, auth.AuthError):
            code = grpc.StatusCode.PERMISSION_DENIED if error.permission else grpc.StatusCode.UNAUTHENTICATED
            await context.abort(code, str(error))
        away = dependency_unavailable(error)
        if away is not None:
            self._log.warning("a dependency is unavailable; answering UNAVAILABLE", method=method, error=repr(error))
            error = away
        if isinstance(error, DomainError):
            status = rpc_status.to_status(error.status())
            await context.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)
        self._log.exception("unhandled error in rpc", method=method)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def _start(self, method: str, metadata: tuple[Any, ...]) -> tuple[trace.Span, object]:
        parent = tracing.extract_metadata(metadata)
        span = self._tracer.start_span(
            method.lstrip("/"),
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.method": method},
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return span, token

    def _wrap_unary(self, method: str, metadata: tuple[Any, ...], inner: Callable[..., Any]) -> Callable[..., Any]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            span, token = self._start(method, metadata)
            started = time.perf_counter()
            code = "OK"
            try:
                current_principal.set(self._authenticate(method, metadata))
                return await inner(request, context)
            except Exception as exc:
                code = _code_name(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                await self._fail(context, exc, method)
            finally:
                metrics.GRPC_LATENCY.labels(self._service, method, code).observe(time.perf_counter() - started)
                span.end()
                otel_context.detach(token)  # type: ignore[arg-type]

        return handle

    def _wrap_stream(self, method: str, metadata: tuple[Any, ...], inner: Callable[..., Any]) -> Callable[..., Any]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            span, token = self._start(method, metadata)
            try:
                current_principal.set(self._authenticate(method, metadata))
                async for item in inner(request, context):
                    yield item
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                await self._fail(context, exc, method)
            finally:
                span.end()
                otel_context.detach(token)  # type: ignore[arg-type]

        return handle


def dependency_unavailable(error: BaseException) -> Unavailable | None:
    """The UNAVAILABLE answer for an error that says the database or the broker is away (a restart, a network
    blip), never INTERNAL: nothing was done and the client may retry after the hinted delay."""
    from confluent_kafka import KafkaException

    if isinstance(error, DomainError):
        return None
    if isinstance(error, (*TRANSIENT, KafkaException)):
        return Unavailable("a system this call needs is unavailable (database or broker); nothing was done, retry")
    return None


def _code_name(exc: Exception) -> str:
    if dependency_unavailable(exc) is not None:
        return "UNAVAILABLE"
    if isinstance(exc, DomainError):
        return exc.code.name
    if isinstance(exc, auth.AuthError):
        return "PERMISSION_DENIED" if exc.permission else "UNAUTHENTICATED"
    return "INTERNAL"


class ClientTracingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Starts a client span and sends its trace context in metadata, so the server continues the same trace."""

    def __init__(self) -> None:
        self._tracer = tracing.tracer("sotong.grpc.client")

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        method = client_call_details.method
        name = method.decode() if isinstance(method, bytes) else method
        with self._tracer.start_as_current_span(name.lstrip("/"), kind=SpanKind.CLIENT):
            metadata = list(client_call_details.metadata or [])
            tracing.inject_metadata(metadata)  # type: ignore[arg-type]
            details = grpc.aio.ClientCallDetails(
                client_call_details.method,
                client_call_details.timeout,
                metadata,  # type: ignore[arg-type]
                client_call_details.credentials,
                client_call_details.wait_for_ready,
            )
            call = await continuation(details, request)
            await call
            return call


def channel(target: str) -> grpc.aio.Channel:
    """A client channel that propagates the trace."""
    return grpc.aio.insecure_channel(target, interceptors=[ClientTracingInterceptor()])


class Server:
    """A service's gRPC server with health, reflection and the platform interceptor.

    `tokens` verifies bearer tokens: a `TokenVerifier` (`auth.TokenVerifier.from_settings(values)`), or an HS256
    secret for local development. Reflection needs a token unless `reflection_open` (`GRPC_REFLECTION_OPEN`).
    """

    def __init__(
        self,
        service_name: str,
        policy: auth.Policy,
        tokens: str | auth.TokenVerifier,
        host: str = "127.0.0.1",
        port: int = 0,
        grace_s: float = 10.0,
        reflection_open: bool = False,
    ) -> None:
        self.name = service_name
        self._server = grpc.aio.server(
            interceptors=[PlatformInterceptor(service_name, policy.with_open_reflection(reflection_open), tokens)],
            options=[("grpc.max_receive_message_length", 4 * 1024 * 1024)],
        )
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self._host = host
        self._requested_port = port
        self.port = 0
        self._grace = grace_s
        self._service_names: list[str] = [
            reflection.SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        ]
        self._stopped = asyncio.Event()

    @classmethod
    def for_settings(cls, service_name: str, policy: auth.Policy, chosen: config.GrpcSettings) -> Server:
        """The server a gRPC process's settings describe: its address, token verifier and reflection rule."""
        return cls(
            service_name,
            policy,
            auth.TokenVerifier.from_settings(chosen),
            host=chosen.listen_host,
            port=chosen.grpc_port,
            reflection_open=chosen.grpc_reflection_open,
        )

    @property
    def grpc_server(self) -> grpc.aio.Server:
        return self._server

    def add(self, full_service_name: str, register: Callable[[grpc.aio.Server], None]) -> None:
        """Register a servicer (`register` is the generated add_*_to_server bound to the servicer)."""
        register(self._server)
        self._service_names.append(full_service_name)

    async def start(self) -> int:
        reflection.enable_server_reflection(self._service_names, self._server)
        self.port = self._server.add_insecure_port(f"{self._host}:{self._requested_port}")
        await self._server.start()
        for name in [*self._service_names, ""]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self) -> None:
        """Flip health to NOT_SERVING, then stop with a grace period for in-flight calls."""
        await self.health.enter_graceful_shutdown()
        await self._server.stop(self._grace)
        self._stopped.set()

    async def serve_until_signalled(self, on_stop: Iterable[Callable[[], Awaitable[None]]] = ()) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully and run `on_stop` hooks."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logs.get("grpc").info("shutting down", service=self.name)
        await self.stop()
        for hook in on_stop:
            await hook()
