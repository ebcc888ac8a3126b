"""Domain errors and how they reach a gRPC client: real status codes with google.rpc details.

Service code raises these; the server's error interceptor turns them into a status with a BadRequest (field
violations), PreconditionFailure or similar detail, so clients see which field is wrong instead of a string.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of errors a service reports to its caller on purpose."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def status(self) -> status_pb2.Status:
        return status_pb2.Status(code=self.code.value[0], message=self.message)


class InvalidArgument(DomainError):
    """Bad input; carries one violation per wrong field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: list[FieldViolation] | FieldViolation, message: str | None = None) -> None:
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        fields = ", ".join(v.field for v in self.violations)
        super().__init__(message or f"invalid {fields}: " + "; ".join(v.description for v in self.violations))

    def status(self) -> status_pb2.Status:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in self.violations
                ]
            )
        )
        return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=self.message, details=[detail])


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(DomainError):
    """A per-caller quota or a time budget ran out; the message says which and what to do."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(DomainError):
    """A dependency is away (the database restarting, the broker unreachable): nothing was done, try again.

    Carries a google.rpc.RetryInfo detail with the delay the client should wait, so clients and the gateway back
    off instead of hammering a recovering system.
    """

    code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, message: str, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def status(self) -> status_pb2.Status:
        from google.protobuf import duration_pb2

        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(self.retry_after_s * 1000))
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=self.message, details=[detail])


def retry_after(error: grpc.aio.AioRpcError | grpc.RpcError) -> float | None:
    """The RetryInfo delay of an UNAVAILABLE answer, in seconds (for clients and tests)."""
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToMilliseconds()) / 1000
    return None


def field_violations(error: grpc.aio.AioRpcError | grpc.RpcError) -> list[FieldViolation]:
    """Read the BadRequest field violations back from an RPC error (for clients and tests)."""
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    found: list[FieldViolation] = []
    if status is None:
        return found
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return found
