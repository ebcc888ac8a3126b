"""Submission statuses: the database's words, the contract's enum, and what a moderation decision means."""

from __future__ import annotations

from sotong.intake.v1 import intake_types_pb2 as types
from sotong.moderation.v1 import moderation_events_pb2 as moderation

RECEIVED = "received"
PUBLISHED = "published"
IN_REVIEW = "in_review"
REMOVED = "removed"

TO_PROTO: dict[str, types.SubmissionStatus.ValueType] = {
    RECEIVED: types.SUBMISSION_STATUS_RECEIVED,
    PUBLISHED: types.SUBMISSION_STATUS_PUBLISHED,
    IN_REVIEW: types.SUBMISSION_STATUS_IN_REVIEW,
    REMOVED: types.SUBMISSION_STATUS_REMOVED,
    "acknowledged": types.SUBMISSION_STATUS_ACKNOWLEDGED,
    "in_progress": types.SUBMISSION_STATUS_IN_PROGRESS,
    "resolved": types.SUBMISSION_STATUS_RESOLVED,
    "rejected": types.SUBMISSION_STATUS_REJECTED,
    "referred": types.SUBMISSION_STATUS_REFERRED,
    "duplicate": types.SUBMISSION_STATUS_DUPLICATE,
}

FROM_DECISION: dict[moderation.Action.ValueType, str] = {
    moderation.ACTION_PUBLISH: PUBLISHED,
    moderation.ACTION_REVIEW: IN_REVIEW,
    moderation.ACTION_REMOVE: REMOVED,
}

KIND_FROM_PROTO: dict[types.SubmissionKind.ValueType, str] = {
    types.SUBMISSION_KIND_COMPLAINT: "complaint",
    types.SUBMISSION_KIND_REPORT: "report",
    types.SUBMISSION_KIND_OPINION: "opinion",
    types.SUBMISSION_KIND_DISASTER_REPORT: "disaster_report",
}
KIND_TO_PROTO = {v: k for k, v in KIND_FROM_PROTO.items()}

DUPLICATE = "duplicate"
# Statuses an operator may set (UpdateStatus); moderation's are set by decisions only.
OPERATOR: frozenset[str] = frozenset({"acknowledged", "in_progress", "resolved", "rejected", "referred", DUPLICATE})
# Closed statuses start the contact retention clock and read as "closed" in Open311.
CLOSED: frozenset[str] = frozenset({"resolved", "rejected", "referred", DUPLICATE, REMOVED})
FROM_PROTO = {v: k for k, v in TO_PROTO.items()}
