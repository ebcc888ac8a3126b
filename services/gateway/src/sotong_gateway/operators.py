"""The services' own contracts, served through the gateway for operators' consoles, under the services' roles.

An operator console in a browser calls `sotong.intake.v1.IntakeService/ListSubmissions` over Connect or gRPC-Web
exactly as a native client calls intake over gRPC: the same protos, the same method names, the same roles. The
gateway checks the roles first (a refused call never reaches the service), drops fields the contract does not
know, and forwards the request with the caller's token, deadline and trace.

`ROLES` repeats each service's `POLICY` (a service's code is not imported here; tests/contract compares the two,
so a role changed in a service and not here fails the build). Methods for machines inside the platform are not
served at the edge: intake's SubmitBatch (a client stream for upstream systems; browsers cannot send one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from sotong.alerting.v1 import alerting_service_pb2 as alerting
from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.moderation.v1 import moderation_service_pb2 as moderation
from sotong_gateway.edge import Backend, Outbound, Route

STAFF = frozenset({"operator", "approver", "dept_admin"})

ROLES: dict[str, dict[str, frozenset[str]]] = {
    "sotong.intake.v1.IntakeService": {
        "SubmitReport": frozenset({"citizen", "operator", "service"}),
        "GetSubmission": frozenset({"citizen", "operator", "moderator", "service"}),
        "ListSubmissions": frozenset({"operator"}),
        "UpdateStatus": frozenset({"operator"}),
        "WatchSubmission": frozenset({"citizen", "operator", "service"}),
        "FollowSubmission": frozenset({"citizen"}),
    },
    "sotong.alerting.v1.AlertingService": {
        "ReportIncident": frozenset({"operator", "approver", "service"}),
        "ConfirmIncident": frozenset({"operator", "approver"}),
        "IngestCap": frozenset({"service", "partner"}),
        "Acknowledge": frozenset({"operator", "approver", "dept_admin"}),
        "DraftAlert": frozenset({"operator", "approver"}),
        "PreviewAlert": frozenset({"operator", "approver"}),
        "ApproveAlert": frozenset({"operator", "approver"}),
        "IssueAlert": frozenset({"operator", "approver"}),
        "UpdateAlert": frozenset({"operator", "approver"}),
        "CancelAlert": frozenset({"operator", "approver"}),
        "GetIncident": STAFF,
        "GetAlert": STAFF | {"service", "partner"},
        "ListIncidents": STAFF,
        "WatchIncident": STAFF,
        "GetCapFeed": STAFF | {"citizen", "service", "partner"},
    },
    "sotong.moderation.v1.ModerationService": {
        "GetDecision": frozenset({"moderator", "operator", "service"}),
        "CheckText": frozenset({"citizen", "moderator", "operator", "service"}),
        "ListQueue": frozenset({"moderator"}),
        "Decide": frozenset({"moderator"}),
        "Appeal": frozenset({"citizen", "operator"}),
        "ExportDecisions": frozenset({"moderator", "operator"}),
    },
}
NOT_AT_THE_EDGE = frozenset({"/sotong.intake.v1.IntakeService/SubmitBatch"})

SERVICES = {
    "sotong.intake.v1.IntakeService": intake.DESCRIPTOR.services_by_name["IntakeService"],
    "sotong.alerting.v1.AlertingService": alerting.DESCRIPTOR.services_by_name["AlertingService"],
    "sotong.moderation.v1.ModerationService": moderation.DESCRIPTOR.services_by_name["ModerationService"],
}


def _unary(backend: Backend, path: str, response: type[Message]) -> Callable[[Message, Outbound], Awaitable[Message]]:
    async def forward(request: Message, out: Outbound) -> Message:
        return await out.call(backend, path, request, response)

    return forward


def _stream(
    backend: Backend, path: str, response: type[Message]
) -> Callable[[Message, Outbound], AsyncIterator[Message]]:
    async def forward(request: Message, out: Outbound) -> AsyncIterator[Message]:
        async for item in out.stream(backend, path, request, response):
            yield item

    return forward


def _route(service: str, method: MethodDescriptor, backend: Backend, roles: frozenset[str]) -> Route[Any, Any]:
    path = f"/{service}/{method.name}"
    request = message_factory.GetMessageClass(method.input_type)
    response = message_factory.GetMessageClass(method.output_type)
    read_only = method.GetOptions().idempotency_level == method.GetOptions().NO_SIDE_EFFECTS
    if method.server_streaming:
        return Route(path, request, response, roles, stream=_stream(backend, path, response), read_only=read_only)
    return Route(path, request, response, roles, unary=_unary(backend, path, response), read_only=read_only)


def routes(backends: dict[str, Backend]) -> list[Route[Any, Any]]:
    """Every method of the three services with roles in `ROLES`, except `NOT_AT_THE_EDGE`.

    A method a service added after this table is not served (fail closed) until its roles are written here;
    tests/contract/test_gateway_roles.py names it.
    """
    found = []
    for service, descriptor in SERVICES.items():
        for method in descriptor.methods:
            roles = ROLES[service].get(method.name)
            if roles is None or f"/{service}/{method.name}" in NOT_AT_THE_EDGE or method.client_streaming:
                continue
            found.append(_route(service, method, backends[service], roles))
    return found
