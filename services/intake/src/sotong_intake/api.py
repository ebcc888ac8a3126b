"""Intake's gRPC API process: `sotong.intake.v1.IntakeService`, plus the outbox relay that publishes its events.

Run as `sotong-intake-api`. Configuration comes from SOTONG_* variables (settings.py); a bad one stops the
process with one line naming it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import auth, config, database, logs, metrics, outbox, producer, tracing
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound
from sotong_common.geo import Place, Seoul
from sotong_common.server import Server
from sotong_intake import settings, status
from sotong_intake.store import SubmissionStore
from sotong_intake.submission import Contact, GeoPoint, Location, Submission, validate_submission

SERVICE = "sotong.intake.v1.IntakeService"

POLICY = auth.Policy(
    {
        f"/{SERVICE}/SubmitReport": {"citizen", "operator", "service"},
        f"/{SERVICE}/GetSubmission": {"citizen", "operator", "moderator", "service"},
    }
)

# The domain model names location fields by meaning; the contract names them by wire field.
_FIELD_NAMES = {
    "location.lat": "point.lat",
    "location.lng": "point.lng",
    "location.address": "address_text",
    "location.district_code": "district_code",
    "media": "media_urls",
}


def _contract_field(name: str) -> str:
    if name.startswith("media["):
        return "media_urls" + name[len("media") :]
    return _FIELD_NAMES.get(name, name)


def submission_from_request(request: pb.SubmitReportRequest) -> Submission:
    which = request.WhichOneof("location")
    location = None
    if which == "point":
        location = Location(point=GeoPoint(request.point.lat, request.point.lng))
    elif which == "address_text":
        location = Location(address=request.address_text)
    elif which == "district_code":
        location = Location(district_code=request.district_code)
    contact = None
    if request.HasField("contact"):
        c = request.contact
        contact = Contact(name=c.name or None, phone=c.phone or None, email=c.email or None)
    return Submission(
        kind=status.KIND_FROM_PROTO.get(request.kind, "unspecified"),
        text=request.text,
        channel=request.channel or "app",
        channel_message_id=request.channel_message_id or None,
        category=request.category or None,
        location=location,
        media=tuple(request.media_urls),
        contact=contact,
    )


class IntakeService(pb_grpc.IntakeServiceServicer):
    def __init__(self, store: SubmissionStore, seoul: Seoul) -> None:
        self._store = store
        self._seoul = seoul
        self._log = logs.get("intake.api")

    async def SubmitReport(self, request: pb.SubmitReportRequest, context: Any) -> pb.SubmitReportResponse:
        submission = submission_from_request(request)
        violations = validate_submission(submission, self._seoul)
        if violations:
            raise InvalidArgument([FieldViolation(_contract_field(v.field), v.description) for v in violations])
        place = self._resolve(submission)
        accepted = await self._store.accept(submission, place)
        self._log.info(
            "submission accepted" if accepted.created else "submission already accepted",
            tracking_id=accepted.tracking_id,
            channel=submission.channel,
            district=place.district_code if place else None,
        )
        return pb.SubmitReportResponse(tracking_id=accepted.tracking_id, created=accepted.created)

    def _resolve(self, submission: Submission) -> Place | None:
        location = submission.location
        if location is None:
            return None
        if location.point is not None:
            return self._seoul.resolve_point(location.point.lat, location.point.lng)
        if location.address:
            return self._seoul.resolve_address(location.address)
        return None

    async def GetSubmission(self, request: pb.GetSubmissionRequest, context: Any) -> pb.GetSubmissionResponse:
        if not request.tracking_id or len(request.tracking_id) > 64:
            raise InvalidArgument(FieldViolation("tracking_id", "tracking_id must be 1-64 characters"))
        found = await self._store.get(request.tracking_id)
        if found is None:
            raise NotFound(f"no submission with tracking id {request.tracking_id}")
        row = found.row
        submission = pb.Submission(
            tracking_id=row["tracking_id"],
            kind=status.KIND_TO_PROTO.get(row["kind"], types.SUBMISSION_KIND_UNSPECIFIED),
            text=row["text"],
            category=row["category"] or "",
            district_code=row["district_code"] or "",
            status=status.TO_PROTO.get(row["status"], types.SUBMISSION_STATUS_UNSPECIFIED),
            channel=row["channel"],
            moderation_categories=list(row["moderation_categories"]),
        )
        submission.received_at.FromDatetime(row["received_at"])
        for change in found.history:
            item = submission.history.add(
                status=status.TO_PROTO.get(change["status"], types.SUBMISSION_STATUS_UNSPECIFIED),
                note=change["note"],
                changed_by=change["changed_by"],
            )
            item.changed_at.FromDatetime(change["changed_at"])
        return pb.GetSubmissionResponse(submission=submission)


async def serve(values: dict[str, Any]) -> None:
    pool = await database.connect(values["DATABASE_URL"], settings.SCHEMA, settings.MIGRATIONS)
    kafka = producer.durable(values["KAFKA_BOOTSTRAP"], "sotong-intake-api")
    await kafka.start()
    relay = outbox.OutboxRelay(pool, kafka, settings.SCHEMA)
    relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
    server = Server("intake", POLICY, values["JWT_SECRET"], host=values["LISTEN_HOST"], port=values["GRPC_PORT"])
    server.add(SERVICE, lambda s: pb_grpc.add_IntakeServiceServicer_to_server(
        IntakeService(SubmissionStore(pool, values["INTAKE_CONTACT_KEYS"]), Seoul.load()), s
    ))  # fmt: skip
    port = await server.start()
    logs.get("intake.api").info("intake api serving", grpc_port=port)

    async def close() -> None:
        relay.stop()
        await relay_task
        await kafka.stop()
        await pool.close()

    await server.serve_until_signalled(on_stop=[close])


def main() -> None:
    values = config.load_or_exit(settings.API)
    logs.configure("intake-api", values["LOG_LEVEL"])
    tracing.configure("intake", values["OTEL_EXPORTER"], values["OTEL_FILE"], values["OTEL_ENDPOINT"])
    metrics.serve(values["METRICS_PORT"], values["LISTEN_HOST"])
    grpc.aio.init_grpc_aio()
    asyncio.run(serve(values))


if __name__ == "__main__":
    main()
