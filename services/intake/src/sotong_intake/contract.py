"""The gRPC contract and the domain model, both ways: requests to `Submission`, stored rows to `pb.Submission`.

The raw topic carries the same `SubmitReportRequest`, so the worker maps it with the same function and an upstream
system gets exactly the validation a gRPC caller gets.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common.errors import FieldViolation
from sotong_intake import status
from sotong_intake import submission as domain
from sotong_intake.submission import Contact, GeoPoint, Location, Submission

# The domain model names location fields by meaning; the contract names them by wire field.
_FIELD_NAMES = {
    "location.lat": "point.lat",
    "location.lng": "point.lng",
    "location.address": "address_text",
    "location.district_code": "district_code",
    "media": "media_urls",
}


def contract_field(name: str) -> str:
    if name.startswith("media["):
        return "media_urls" + name[len("media") :]
    return _FIELD_NAMES.get(name, name)


def contract_violations(violations: Sequence[domain.FieldViolation]) -> list[FieldViolation]:
    return [FieldViolation(contract_field(v.field), v.description) for v in violations]


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


def submission_to_proto(row: asyncpg.Record, history: Sequence[asyncpg.Record] = ()) -> pb.Submission:
    """A stored row as the contract shows it; never the contact (operators see it only through its owner)."""
    submission = pb.Submission(
        tracking_id=row["tracking_id"],
        kind=status.KIND_TO_PROTO.get(row["kind"], types.SUBMISSION_KIND_UNSPECIFIED),
        text=row["text"],
        category=row["category"] or "",
        district_code=row["district_code"] or "",
        status=status.TO_PROTO.get(row["status"], types.SUBMISSION_STATUS_UNSPECIFIED),
        channel=row["channel"],
        moderation_categories=list(row["moderation_categories"]),
        neighbourhood_code=row["neighbourhood_code"] or "",
        address_text=row["address_text"] or "",
        media_urls=list(row["media_urls"]),
        duplicate_of=row["duplicate_of_tracking_id"] or "",
        duplicate_candidate_of=row["duplicate_candidate_tracking_id"] or "",
        duplicate_score=row["duplicate_score"] or 0.0,
        follower_count=row["follower_count"],
    )
    if row["lat"] is not None and row["lng"] is not None:
        submission.point.CopyFrom(geo_pb2.GeoPoint(lat=row["lat"], lng=row["lng"]))
    submission.received_at.FromDatetime(row["received_at"])
    submission.updated_at.FromDatetime(row["updated_at"])
    for change in history:
        submission.history.append(status_change(change))
    return submission


def status_change(change: asyncpg.Record) -> pb.StatusChange:
    item = pb.StatusChange(
        status=status.TO_PROTO.get(change["status"], types.SUBMISSION_STATUS_UNSPECIFIED),
        note=change["note"],
        changed_by=change["changed_by"],
    )
    item.changed_at.FromDatetime(change["changed_at"])
    return item


def accepted_event(
    submission: Submission,
    submission_id: str,
    tracking_id: str,
    district_code: str | None,
    neighbourhood_code: str | None,
    sealed_contact: bytes | None,
    received_at: datetime,
    webhook: tuple[str, str] | None = None,
    synced: tuple[str, str] | None = None,
) -> ev.SubmissionAccepted:
    """The acceptance event of a validated submission (its contact, if any, already sealed)."""
    location = submission.location
    event = ev.SubmissionAccepted(
        submission_id=submission_id,
        tracking_id=tracking_id,
        kind=submission.kind,
        text=submission.text,
        channel=submission.channel,
        channel_message_id=submission.channel_message_id or "",
        source=submission.source or "",
        category=submission.category or "",
        title=submission.title or "",
        address_text=(location.address or "") if location else "",
        location_district_code=(location.district_code or "") if location else "",
        district_code=district_code or "",
        neighbourhood_code=neighbourhood_code or "",
        media_urls=list(submission.media),
        attributes=dict(submission.attributes),
        sealed_contact=sealed_contact or b"",
        author=submission.author or "",
        webhook_source=webhook[0] if webhook else "",
        webhook_id=webhook[1] if webhook else "",
        synced_status=synced[0] if synced else "",
        synced_note=synced[1] if synced else "",
    )
    if location is not None and location.point is not None:
        event.point.CopyFrom(geo_pb2.GeoPoint(lat=location.point.lat, lng=location.point.lng))
    event.received_at.FromDatetime(received_at)
    if submission.submitted_at is not None:
        event.submitted_at.FromDatetime(submission.submitted_at)
    return event


def submission_from_accepted(event: ev.SubmissionAccepted) -> Submission:
    """The submission an acceptance event carries (without its contact, which stays sealed)."""
    point = GeoPoint(event.point.lat, event.point.lng) if event.HasField("point") else None
    location = None
    if point is not None or event.address_text or event.location_district_code:
        location = Location(
            point=point, address=event.address_text or None, district_code=event.location_district_code or None
        )
    return Submission(
        kind=event.kind,
        text=event.text,
        channel=event.channel,
        channel_message_id=event.channel_message_id or None,
        source=event.source or None,
        category=event.category or None,
        title=event.title or None,
        location=location,
        media=tuple(event.media_urls),
        submitted_at=event.submitted_at.ToDatetime(tzinfo=UTC) if event.HasField("submitted_at") else None,
        attributes=dict(event.attributes),
        author=event.author or None,
    )


def accepted_problem(event: ev.SubmissionAccepted) -> str | None:
    """Why an acceptance event cannot be stored (a writer that broke the contract), or None. Only intake's doors
    write the topic, after validating, so this checks the shape, not the content rules."""
    try:
        uuid.UUID(event.submission_id)
    except ValueError:
        return f"submission_id {event.submission_id[:40]!r} is not a UUID"
    if not event.tracking_id:
        return "tracking_id is empty"
    if event.kind not in set(domain.SubmissionKind):
        return f"kind {event.kind[:40]!r} is not one of {', '.join(domain.SubmissionKind)}"
    if not event.HasField("received_at"):
        return "received_at is missing"
    return None
