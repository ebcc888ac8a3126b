"""The edge's duties, once for every protocol: who is calling, may they, how often, and what reaches a service.

A call arrives over native gRPC (`native`), Connect or gRPC-Web (`web`); each door turns it into a `Call` and
asks the `Edge`, which in this order:
1. counts it against its client address's bucket (before the token is even read, so a flood of bad tokens
   from one address is cheap to refuse),
2. verifies the bearer token (`sotong_common.auth.TokenVerifier`, the verifier every service uses),
3. checks the caller's roles for the method (`auth.Policy`, fail-closed: a method without roles is refused),
4. counts it against the citizen's bucket (the token's subject),
5. checks the request against the contract (field violations, before anything is forwarded),
6. calls the service over grpc.aio with the caller's token, the caller's remaining deadline and the trace.
One span per call at the gateway, as a proxy such as Envoy makes it: it continues the caller's trace
(`traceparent`) and is the parent of the service's span. A second, client span per hop would double the
gateway's tracing cost (about 45 µs a span here) and say nothing the service's own span does not.
Refusals in steps 1-5 never reach a service; they are counted in `sotong_gateway_refused_total` by reason.
Errors come back as a `google.rpc.Status` (`CallError`) that each door writes in its own protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from sotong_common import auth, logs, tracing
from sotong_common.errors import DomainError, FieldViolation, InvalidArgument
from sotong_gateway.ratelimit import Buckets, Refusal

REQ = TypeVar("REQ", bound=Message)
RES = TypeVar("RES", bound=Message)

REQUESTS = Counter("sotong_gateway_requests_total", "calls answered by the gateway", ["protocol", "method", "code"])
LATENCY = Histogram(
    "sotong_gateway_request_seconds",
    "time from a call's arrival to its answer (streams: to the end of the stream)",
    ["protocol", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REFUSED = Counter(
    "sotong_gateway_refused_total",
    "calls refused at the gateway before any service saw them, by reason",
    ["reason", "protocol"],
)
BACKEND_LATENCY = Histogram(
    "sotong_gateway_backend_seconds",
    "time of the gateway's calls to a service",
    ["backend", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OPEN_STREAMS = Counter("sotong_gateway_streams_opened_total", "server streams opened through the gateway", ["method"])

GRPC_CODES: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


class CallError(Exception):
    """A call's outcome other than OK: a google.rpc.Status, plus when to retry (rate limits)."""

    def __init__(self, status: status_pb2.Status, *, retry_after_s: float | None = None, reason: str = "") -> None:
        super().__init__(status.message)
        self.status = status
        self.retry_after_s = retry_after_s
        self.reason = reason

    @property
    def code(self) -> grpc.StatusCode:
        return GRPC_CODES.get(self.status.code, grpc.StatusCode.UNKNOWN)

    @classmethod
    def of(cls, code: grpc.StatusCode, message: str, *details: Message, reason: str = "") -> CallError:
        status = status_pb2.Status(code=code.value[0], message=message)
        for detail in details:
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        return cls(status, reason=reason)

    @classmethod
    def invalid(cls, violations: Sequence[FieldViolation]) -> CallError:
        return cls(InvalidArgument(list(violations)).status(), reason="invalid")

    @classmethod
    def from_domain(cls, error: DomainError) -> CallError:
        return cls(error.status())

    @classmethod
    def rate_limited(cls, refusal: Refusal) -> CallError:
        """RESOURCE_EXHAUSTED with RetryInfo (when) and QuotaFailure (which limit); HTTP doors add Retry-After."""
        wait = max(refusal.retry_after_s, 0.001)
        delay = duration_pb2.Duration(seconds=int(wait), nanos=int((wait - int(wait)) * 1e9))
        error = cls.of(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"rate limit of the {refusal.limit} exceeded; retry in {wait:.2f} s",
            error_details_pb2.RetryInfo(retry_delay=delay),
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=refusal.limit, description=f"calls per {refusal.limit} at this gateway"
                    )
                ]
            ),
            reason=f"rate:{refusal.limit}",
        )
        error.retry_after_s = wait
        return error

    @classmethod
    def from_rpc_error(cls, error: grpc.aio.AioRpcError) -> CallError:
        """A service's error as it sent it: code, message and details (BadRequest, ...) pass through unchanged."""
        for key, value in error.trailing_metadata() or ():
            if key == "grpc-status-details-bin" and isinstance(value, bytes):
                with contextlib.suppress(Exception):
                    status = status_pb2.Status.FromString(value)
                    if status.code == error.code().value[0]:
                        return cls(status)
        code = error.code()
        if code == grpc.StatusCode.UNAVAILABLE:
            return cls.of(code, "the service is unavailable; retry shortly")
        return cls(status_pb2.Status(code=code.value[0], message=error.details() or code.name.lower()))


def field_violations(status: status_pb2.Status) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return found


@dataclass(frozen=True, slots=True)
class Call:
    """One incoming call, whatever door it came through."""

    protocol: str
    """grpc, connect or grpc-web."""
    method: str
    """/package.Service/Method"""
    authorization: str | None
    """The Authorization header or metadata value, as sent."""
    trace_carrier: Sequence[tuple[str, str]]
    """traceparent and tracestate as sent (empty when the caller sent none)."""
    client: str
    """The client's address: the peer, or the X-Forwarded-For entry the trusted proxies appended."""
    deadline: float | None
    """time.monotonic() by which the caller wants its answer, or None."""


def client_address(peer: str, forwarded_for: str | None, trusted_hops: int) -> str:
    """The address to count a call against: the peer, unless `trusted_hops` proxies appended X-Forwarded-For.

    Each trusted proxy appends the address it received the call from, so with N trusted proxies the client is the
    N-th entry from the right; anything left of it was written by the client and proves nothing.
    """
    if trusted_hops and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops][:64]
    return peer


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long calls may take: a caller's deadline is passed on, bounded; a call without one gets a default."""

    default_unary_s: float = 10.0
    max_unary_s: float = 30.0
    max_stream_s: float = 3600.0

    def deadline(self, asked: float | None, streaming: bool, now: float) -> float:
        longest = now + (self.max_stream_s if streaming else self.max_unary_s)
        if asked is None:
            return now + self.max_stream_s if streaming else now + self.default_unary_s
        return min(asked, longest)


class Backend:
    """One service reached over grpc.aio; multi-callables are made once per method."""

    def __init__(self, name: str, channel: grpc.aio.Channel) -> None:
        self.name = name
        self.channel = channel
        self._unary: dict[str, grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        self._stream: dict[str, grpc.aio.UnaryStreamMultiCallable[Any, Any]] = {}
        self._latency: dict[str, Any] = {}

    def latency(self, code: str) -> Any:
        """The latency histogram's child for this backend and `code` (looked up once: labels() is not free)."""
        found = self._latency.get(code)
        if found is None:
            found = self._latency[code] = BACKEND_LATENCY.labels(self.name, code)
        return found

    def unary(self, method: str, response: type[RES]) -> grpc.aio.UnaryUnaryMultiCallable[Message, RES]:
        found = self._unary.get(method)
        if found is None:
            found = self._unary[method] = self.channel.unary_unary(
                method, request_serializer=_serialize, response_deserializer=response.FromString
            )
        return found

    def stream(self, method: str, response: type[RES]) -> grpc.aio.UnaryStreamMultiCallable[Message, RES]:
        found = self._stream.get(method)
        if found is None:
            found = self._stream[method] = self.channel.unary_stream(
                method, request_serializer=_serialize, response_deserializer=response.FromString
            )
        return found

    async def close(self) -> None:
        await self.channel.close()


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


_tracer = tracing.tracer("sotong.gateway")


class Outbound:
    """What a route's handler needs to call services on the caller's behalf."""

    __slots__ = ("_deadline", "_metadata", "principal")

    def __init__(self, principal: auth.Principal, authorization: str, deadline: float) -> None:
        self.principal = principal
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", authorization),)
        self._deadline = deadline

    def remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise CallError.of(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the call was forwarded")
        return left

    def _metadata_with_trace(self) -> list[tuple[str, str]]:
        metadata = list(self._metadata)
        tracing.inject_metadata(metadata)
        return metadata

    async def call(self, backend: Backend, method: str, request: Message, response: type[RES]) -> RES:
        """One unary call to `backend` with the caller's token, remaining deadline and trace."""
        timeout = self.remaining()
        started = time.perf_counter()
        code = "OK"
        trace.get_current_span().set_attribute("peer.service", backend.name)
        try:
            reply: RES = await backend.unary(method, response)(
                request, metadata=self._metadata_with_trace(), timeout=timeout
            )
            return reply
        except grpc.aio.AioRpcError as error:
            code = error.code().name
            raise CallError.from_rpc_error(error) from None
        finally:
            backend.latency(code).observe(time.perf_counter() - started)

    async def stream(self, backend: Backend, method: str, request: Message, response: type[RES]) -> AsyncIterator[RES]:
        """A server stream from `backend`; cancelled at the service when the caller goes away."""
        timeout = self.remaining()
        trace.get_current_span().set_attribute("peer.service", backend.name)
        call = backend.stream(method, response)(request, metadata=self._metadata_with_trace(), timeout=timeout)
        try:
            async for item in call:
                yield item
        except grpc.aio.AioRpcError as error:
            raise CallError.from_rpc_error(error) from None
        finally:
            call.cancel()


Validate = Callable[[Any], list[FieldViolation]]
UnaryHandler = Callable[[Any, Outbound], Awaitable[Message]]
StreamHandler = Callable[[Any, Outbound], AsyncIterator[Message]]


def _no_violations(request: Any) -> list[FieldViolation]:
    return []


@dataclass(frozen=True)
class Route(Generic[REQ, RES]):
    """One method the gateway serves: its types, who may call it, how its request is checked and handled."""

    method: str
    request: type[REQ]
    response: type[RES]
    roles: frozenset[str]
    unary: UnaryHandler | None = None
    stream: StreamHandler | None = None
    validate: Validate = field(default=_no_violations)
    read_only: bool = False
    """No side effects (Connect may call it with GET)."""

    @property
    def streaming(self) -> bool:
        return self.stream is not None

    @property
    def service(self) -> str:
        return self.method.split("/")[1]

    @property
    def name(self) -> str:
        return self.method.rsplit("/", 1)[1]


class StreamSlots:
    """Server streams one caller may hold open at once: a watch holds a connection and a service's listener."""

    def __init__(self, per_caller: int) -> None:
        self._per_caller = per_caller
        self._open: dict[str, int] = {}

    @contextlib.contextmanager
    def hold(self, caller: str) -> Iterator[None]:
        count = self._open.get(caller, 0)
        if count >= self._per_caller:
            raise CallError.of(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"at most {self._per_caller} open streams per caller; close one first",
                error_details_pb2.QuotaFailure(
                    violations=[
                        error_details_pb2.QuotaFailure.Violation(subject="streams", description="open server streams")
                    ]
                ),
                reason="streams",
            )
        self._open[caller] = count + 1
        try:
            yield
        finally:
            left = self._open[caller] - 1
            if left:
                self._open[caller] = left
            else:
                del self._open[caller]


class Edge:
    """Checks and forwards calls; shared by the native gRPC door and the Connect/gRPC-Web door."""

    def __init__(
        self,
        routes: Sequence[Route[Any, Any]],
        verifier: auth.TokenVerifier,
        *,
        clients: Buckets,
        citizens: Buckets,
        streams: StreamSlots,
        deadlines: Deadlines,
    ) -> None:
        self.routes: Mapping[str, Route[Any, Any]] = {route.method: route for route in routes}
        self.policy = auth.Policy({route.method: route.roles for route in routes})
        self._verifier = verifier
        self._clients = clients
        self._citizens = citizens
        self._streams = streams
        self._deadlines = deadlines
        self._log = logs.get("gateway.edge")
        self._counted: dict[tuple[str, str, str], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def _record(self, call: Call, code: str, seconds: float) -> None:
        """Count and time the call (metric children are looked up once per protocol, method and code)."""
        key = (call.protocol, call.method, code)
        counted = self._counted.get(key)
        if counted is None:
            counted = self._counted[key] = REQUESTS.labels(*key)
        counted.inc()
        timed = self._timed.get(key[:2])
        if timed is None:
            timed = self._timed[key[:2]] = LATENCY.labels(call.protocol, call.method)
        timed.observe(seconds)

    # The checks ----------------------------------------------------------------------------------------------

    def _admit(self, route: Route[Any, Any], call: Call, request: Message) -> tuple[auth.Principal, str]:
        """Steps 1-5 of the module doc: the principal and the authorization value to forward, or CallError."""
        refusal = self._clients.take(call.client)
        if refusal is not None:
            raise CallError.rate_limited(refusal)
        authorization = call.authorization
        token = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else None
        if not token:
            raise CallError.of(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token", reason="unauthenticated")
        try:
            principal = self._verifier.verify(token)
            self.policy.check(route.method, principal)
        except auth.AuthError as error:
            if error.permission:
                raise CallError.of(grpc.StatusCode.PERMISSION_DENIED, str(error), reason="permission") from None
            raise CallError.of(grpc.StatusCode.UNAUTHENTICATED, str(error), reason="unauthenticated") from None
        if "citizen" in principal.roles:
            refusal = self._citizens.take(principal.subject)
            if refusal is not None:
                raise CallError.rate_limited(refusal)
        violations = route.validate(request)
        if violations:
            raise CallError.invalid(violations)
        request.DiscardUnknownFields()  # fields this contract does not know are not passed on
        return principal, "Bearer " + token

    def _span(self, call: Call) -> tuple[trace.Span, object]:
        parent = tracing.extract_metadata(call.trace_carrier) if call.trace_carrier else otel_context.Context()
        span = _tracer.start_span(
            call.method.lstrip("/"),
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.method": call.method, "sotong.protocol": call.protocol},
        )
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    def _refused(self, error: CallError, call: Call) -> None:
        if error.reason:
            REFUSED.labels(error.reason, call.protocol).inc()

    # Serving -------------------------------------------------------------------------------------------------

    async def unary(self, route: Route[Any, Any], request: Message, call: Call) -> Message:
        started = time.perf_counter()
        span, token = self._span(call)
        code = "OK"
        try:
            principal, authorization = self._admit(route, call, request)
            deadline = self._deadlines.deadline(call.deadline, False, time.monotonic())
            assert route.unary is not None
            return await route.unary(request, Outbound(principal, authorization, deadline))
        except CallError as error:
            code = error.code.name
            self._refused(error, call)
            span.set_status(Status(StatusCode.ERROR, code))
            raise
        except DomainError as error:
            code = error.code.name
            raise CallError.from_domain(error) from None
        except Exception:
            code = "INTERNAL"
            self._log.exception("unhandled error at the gateway", method=route.method)
            raise CallError.of(grpc.StatusCode.INTERNAL, "internal error") from None
        finally:
            self._record(call, code, time.perf_counter() - started)
            span.end()
            otel_context.detach(token)  # type: ignore[arg-type]

    async def stream(self, route: Route[Any, Any], request: Message, call: Call) -> AsyncIterator[Message]:
        started = time.perf_counter()
        span, token = self._span(call)
        code = "OK"
        try:
            principal, authorization = self._admit(route, call, request)
            deadline = self._deadlines.deadline(call.deadline, True, time.monotonic())
            assert route.stream is not None
            with self._streams.hold(principal.subject):
                OPEN_STREAMS.labels(route.method).inc()
                async for item in route.stream(request, Outbound(principal, authorization, deadline)):
                    yield item
        except CallError as error:
            code = error.code.name
            self._refused(error, call)
            span.set_status(Status(StatusCode.ERROR, code))
            raise
        except DomainError as error:
            code = error.code.name
            raise CallError.from_domain(error) from None
        except (GeneratorExit, asyncio.CancelledError):
            code = "CANCELLED"
            raise
        except Exception:
            code = "INTERNAL"
            self._log.exception("unhandled error at the gateway", method=route.method)
            raise CallError.of(grpc.StatusCode.INTERNAL, "internal error") from None
        finally:
            self._record(call, code, time.perf_counter() - started)
            span.end()
            otel_context.detach(token)  # type: ignore[arg-type]
