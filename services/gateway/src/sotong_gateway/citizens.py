"""`sotong.gateway.v1.GatewayService`: what the city's app and web pages do, each mapped onto the services.

Each method's roles are a subset of the roles the service behind it admits (tests/contract checks it), so a
call the gateway lets through is one the service would take from the same token; the service checks the token
again (defence in depth) and records the caller as it always does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sotong.alerting.v1 import alerting_service_pb2 as alerting
from sotong.gateway.v1 import gateway_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2 as intake
from sotong_common.errors import FieldViolation
from sotong_gateway import alerts, contract
from sotong_gateway.edge import Backend, Outbound, Route

SERVICE = pb.DESCRIPTOR.services_by_name["GatewayService"].full_name
INTAKE = intake.DESCRIPTOR.services_by_name["IntakeService"].full_name
ALERTING = alerting.DESCRIPTOR.services_by_name["AlertingService"].full_name

CITIZEN = frozenset({"citizen"})
READERS = frozenset({"citizen", "operator"})
ALERT_READERS = frozenset({"citizen", "operator", "approver", "dept_admin", "partner", "service"})

# Which service method each public method calls (the contract test compares roles along these lines).
BACKEND_METHODS = {
    "SubmitReport": f"/{INTAKE}/SubmitReport",
    "GetSubmission": f"/{INTAKE}/GetSubmission",
    "WatchSubmission": f"/{INTAKE}/WatchSubmission",
    "FollowSubmission": f"/{INTAKE}/FollowSubmission",
    "ListActiveAlerts": f"/{ALERTING}/GetCapFeed",
    "GetCapFeed": f"/{ALERTING}/GetCapFeed",
}


def _tracking_id(request: Any) -> list[FieldViolation]:
    return contract.tracking_id_violations(request.tracking_id)


class Citizens:
    """The handlers of GatewayService; `routes()` is what the edge serves."""

    def __init__(self, intake_backend: Backend, alerting_backend: Backend) -> None:
        self._intake = intake_backend
        self._alerting = alerting_backend

    async def submit_report(self, request: pb.SubmitReportRequest, out: Outbound) -> pb.SubmitReportResponse:
        forwarded = contract.to_intake(request, out.principal.subject)
        reply = await out.call(self._intake, BACKEND_METHODS["SubmitReport"], forwarded, intake.SubmitReportResponse)
        return pb.SubmitReportResponse(tracking_id=reply.tracking_id, created=reply.created)

    async def get_submission(self, request: pb.GetSubmissionRequest, out: Outbound) -> pb.GetSubmissionResponse:
        reply = await out.call(
            self._intake,
            BACKEND_METHODS["GetSubmission"],
            intake.GetSubmissionRequest(tracking_id=request.tracking_id),
            intake.GetSubmissionResponse,
        )
        return pb.GetSubmissionResponse(submission=contract.submission(reply.submission))

    async def watch_submission(
        self, request: pb.WatchSubmissionRequest, out: Outbound
    ) -> AsyncIterator[pb.WatchSubmissionResponse]:
        changes = out.stream(
            self._intake,
            BACKEND_METHODS["WatchSubmission"],
            intake.WatchSubmissionRequest(tracking_id=request.tracking_id),
            intake.WatchSubmissionResponse,
        )
        async for item in changes:
            yield pb.WatchSubmissionResponse(change=contract.status_change(item.change))

    async def follow_submission(
        self, request: pb.FollowSubmissionRequest, out: Outbound
    ) -> pb.FollowSubmissionResponse:
        reply = await out.call(
            self._intake,
            BACKEND_METHODS["FollowSubmission"],
            intake.FollowSubmissionRequest(tracking_id=request.tracking_id),
            intake.FollowSubmissionResponse,
        )
        return pb.FollowSubmissionResponse(follower_count=reply.follower_count, created=reply.created)

    async def _feed(self, out: Outbound) -> alerting.GetCapFeedResponse:
        return await out.call(
            self._alerting, BACKEND_METHODS["GetCapFeed"], alerting.GetCapFeedRequest(), alerting.GetCapFeedResponse
        )

    async def list_active_alerts(
        self, request: pb.ListActiveAlertsRequest, out: Outbound
    ) -> pb.ListActiveAlertsResponse:
        return alerts.active_alerts((await self._feed(out)).atom_xml)

    async def get_cap_feed(self, request: pb.GetCapFeedRequest, out: Outbound) -> pb.GetCapFeedResponse:
        feed = await self._feed(out)
        return pb.GetCapFeedResponse(atom_xml=feed.atom_xml, entries=feed.entries)

    def routes(self) -> list[Route[Any, Any]]:
        def method(name: str) -> str:
            return f"/{SERVICE}/{name}"

        return [
            Route(
                method("SubmitReport"),
                pb.SubmitReportRequest,
                pb.SubmitReportResponse,
                CITIZEN,
                unary=self.submit_report,
                validate=contract.submit_report_violations,
            ),
            Route(
                method("GetSubmission"),
                pb.GetSubmissionRequest,
                pb.GetSubmissionResponse,
                READERS,
                unary=self.get_submission,
                validate=_tracking_id,
                read_only=True,
            ),
            Route(
                method("WatchSubmission"),
                pb.WatchSubmissionRequest,
                pb.WatchSubmissionResponse,
                READERS,
                stream=self.watch_submission,
                validate=_tracking_id,
            ),
            Route(
                method("FollowSubmission"),
                pb.FollowSubmissionRequest,
                pb.FollowSubmissionResponse,
                CITIZEN,
                unary=self.follow_submission,
                validate=_tracking_id,
            ),
            Route(
                method("ListActiveAlerts"),
                pb.ListActiveAlertsRequest,
                pb.ListActiveAlertsResponse,
                ALERT_READERS,
                unary=self.list_active_alerts,
                read_only=True,
            ),
            Route(
                method("GetCapFeed"),
                pb.GetCapFeedRequest,
                pb.GetCapFeedResponse,
                ALERT_READERS,
                unary=self.get_cap_feed,
                read_only=True,
            ),
        ]
