"""The gRPC contract and the domain model, both ways: requests to `Submission`, stored rows to `pb.Submission`.

The raw topic carries the same `SubmitReportRequest`, so the worker maps it with the same function and an upstream
system gets exactly the validation a gRPC caller gets.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from sotong.common.v1 import geo_pb2
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
