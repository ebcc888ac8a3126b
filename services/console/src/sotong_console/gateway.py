"""The console's only way to the services: the gateway's native gRPC door, called with the signed-in person's token.

The console never talks to intake, alerting or moderation directly, and holds no credential of its own: each
call carries the person's bearer token, so the gateway checks the person's roles (a moderator's approve call is
refused there even if a page offered it), rate-limits and passes the token on, and the service records the
person as the author. A refusal comes back as `Refused` with the gRPC code, the message and the field
violations, which the pages show next to the fields they name.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from opentelemetry import trace
from prometheus_client import Counter, Histogram

from sotong.alerting.v1 import alerting_service_pb2_grpc as alerting_grpc
from sotong.intake.v1 import intake_service_pb2_grpc as intake_grpc
from sotong.moderation.v1 import moderation_service_pb2_grpc as moderation_grpc
from sotong_common import errors, tracing

Q = TypeVar("Q", bound=Message)
R = TypeVar("R", bound=Message)

# Keepalive pings keep a quiet WatchIncident stream from being cut by a middlebox.
CHANNEL_OPTIONS = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_permit_without_calls", 1)]

CALLS = Counter("sotong_console_gateway_calls_total", "calls to the gateway by method and outcome", ["method", "code"])
SECONDS = Histogram("sotong_console_gateway_seconds", "time of a unary call to the gateway", ["method"])
_tracer = tracing.tracer("sotong.console")


@dataclass
class Refused(Exception):
    """The gateway (or the service behind it) said no: the code, its message, and each field it names."""

    code: grpc.StatusCode
    message: str
    violations: list[errors.FieldViolation] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    @classmethod
    def of(cls, error: grpc.aio.AioRpcError) -> Refused:
        code = error.code()
        violations = errors.field_violations(error) if code == grpc.StatusCode.INVALID_ARGUMENT else []
        return cls(code, error.details() or code.name, violations)

    def on(self, name: str) -> list[str]:
        """The descriptions of the violations naming `name` or one of its parts (`texts[0].headline`)."""
        return [v.description for v in self.violations if v.field == name or v.field.startswith(name + ".")]


def _method_name(method: Any) -> str:
    path = getattr(method, "_method", b"")
    text = path.decode() if isinstance(path, bytes) else str(path)
    return text.rsplit("/", 1)[-1] or "unknown"


class Gateway:
    """One channel to the gateway for the whole process; the stubs of the three services behind it."""

    def __init__(self, target: str, timeout_s: float) -> None:
        self._channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._timeout = timeout_s
        self.alerting = alerting_grpc.AlertingServiceStub(self._channel)
        self.moderation = moderation_grpc.ModerationServiceStub(self._channel)
        self.intake = intake_grpc.IntakeServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    def _metadata(self, token: str) -> list[tuple[str, str]]:
        return tracing.inject_metadata([("authorization", f"Bearer {token}")])

    async def call(self, token: str, method: grpc.aio.UnaryUnaryMultiCallable[Q, R], request: Q) -> R:
        """One unary call as the person whose token this is; `Refused` when the answer is an error."""
        name = _method_name(method)
        started = time.perf_counter()
        with _tracer.start_as_current_span(f"console {name}", kind=trace.SpanKind.CLIENT):
            try:
                answer: R = await method(request, metadata=self._metadata(token), timeout=self._timeout)
            except grpc.aio.AioRpcError as error:
                CALLS.labels(name, error.code().name).inc()
                raise Refused.of(error) from None
            finally:
                SECONDS.labels(name).observe(time.perf_counter() - started)
        CALLS.labels(name, "OK").inc()
        return answer

    async def stream(self, token: str, method: grpc.aio.UnaryStreamMultiCallable[Q, R], request: Q) -> AsyncIterator[R]:
        """A server stream as the person, until it ends or the caller stops reading (which cancels it)."""
        name = _method_name(method)
        call = method(request, metadata=self._metadata(token))
        try:
            async for item in call:
                yield item
        except grpc.aio.AioRpcError as error:
            CALLS.labels(name, error.code().name).inc()
            raise Refused.of(error) from None
        finally:
            call.cancel()
