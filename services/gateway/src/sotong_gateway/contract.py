"""The public contract's rules (`sotong.gateway.v1`), checked before anything is forwarded, and its mapping to
the services' contracts.

The limits are the ones the proto comments promise, so a generated client's author reads them there. They match
intake's own (sotong_intake.submission), which still checks what only it can (a point inside Seoul, a known
category); the gateway's checks are the contract's shape: required fields, lengths, formats, enum values and
control characters, each refusal naming its field as the contract names it.
"""

from __future__ import annotations

import hashlib
import math
import re
from urllib.parse import urlsplit

from sotong.gateway.v1 import gateway_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common.errors import FieldViolation
from sotong_common.text_fields import control_character_violations

MAX_TEXT_CHARS = 5_000
MAX_CATEGORY_CHARS = 64
MAX_ADDRESS_CHARS = 300
MAX_MEDIA = 10
MAX_MEDIA_URL_CHARS = 2_048
MAX_NAME_CHARS = 50
MAX_PHONE_CHARS = 32
MAX_EMAIL_CHARS = 254
MAX_TRACKING_ID_CHARS = 64
CHANNEL = "app"
"""Intake's channel for the city's app and web pages (sotong_intake.submission.Channel.APP)."""

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{8,64}")
_DISTRICT_CODE = re.compile(r"[0-9]{5}")
_KINDS = frozenset(types.SubmissionKind.values()) - {types.SUBMISSION_KIND_UNSPECIFIED}


def _printable_ascii(value: str) -> bool:
    return value.isascii() and value.isprintable()


def tracking_id_violations(tracking_id: str) -> list[FieldViolation]:
    if not tracking_id or len(tracking_id) > MAX_TRACKING_ID_CHARS or not _printable_ascii(tracking_id):
        return [FieldViolation("tracking_id", "tracking_id must be 1-64 printable ASCII characters")]
    return []


def submit_report_violations(request: pb.SubmitReportRequest) -> list[FieldViolation]:
    """Every problem of a SubmitReportRequest at once, so that a citizen fixes them in one go."""
    found = control_character_violations(request)
    named = {v.field for v in found}

    def fail(name: str, why: str) -> None:
        if name not in named:
            found.append(FieldViolation(name, why))
            named.add(name)

    if request.kind not in _KINDS:
        fail("kind", "kind is required: complaint, report, opinion or disaster report")
    text = request.text.strip()
    if not text:
        fail("text", "text must not be empty")
    elif len(text) > MAX_TEXT_CHARS:
        fail("text", f"text has {len(text)} characters; at most {MAX_TEXT_CHARS} are accepted")
    if request.category and (len(request.category) > MAX_CATEGORY_CHARS or not _printable_ascii(request.category)):
        fail("category", f"category must be a code of at most {MAX_CATEGORY_CHARS} printable ASCII characters")
    where = request.WhichOneof("location")
    if where == "point":
        lat, lng = request.point.lat, request.point.lng
        if not (math.isfinite(lat) and -90 <= lat <= 90):
            fail("point.lat", "point.lat must be a latitude between -90 and 90")
        if not (math.isfinite(lng) and -180 <= lng <= 180):
            fail("point.lng", "point.lng must be a longitude between -180 and 180")
    elif where == "address_text":
        if not request.address_text.strip():
            fail("address_text", "address_text must not be empty when given")
        elif len(request.address_text) > MAX_ADDRESS_CHARS:
            fail("address_text", f"address_text must be at most {MAX_ADDRESS_CHARS} characters")
    elif where == "district_code":
        if not _DISTRICT_CODE.fullmatch(request.district_code):
            fail("district_code", "district_code must be a five-digit SIG_CD such as 11140")
    elif request.kind == types.SUBMISSION_KIND_REPORT:
        fail("location", "a report needs a location: point, address_text or district_code")
    if len(request.media_urls) > MAX_MEDIA:
        fail("media_urls", f"{len(request.media_urls)} media URLs; at most {MAX_MEDIA} are accepted")
    for index, url in enumerate(request.media_urls[:MAX_MEDIA]):
        name = f"media_urls[{index}]"
        parts = urlsplit(url) if len(url) <= MAX_MEDIA_URL_CHARS else None
        if parts is None:
            fail(name, f"a media URL must be at most {MAX_MEDIA_URL_CHARS} characters")
        elif parts.scheme not in {"http", "https"} or not parts.netloc:
            fail(name, "a media URL must be an absolute http(s) URL")
    if request.HasField("contact"):
        for name, value, limit in (
            ("contact.name", request.contact.name, MAX_NAME_CHARS),
            ("contact.phone", request.contact.phone, MAX_PHONE_CHARS),
            ("contact.email", request.contact.email, MAX_EMAIL_CHARS),
        ):
            if len(value) > limit:
                fail(name, f"{name} must be at most {limit} characters")
    if not request.idempotency_key:
        fail("idempotency_key", "idempotency_key is required: choose one per report and send it again on retries")
    elif not _IDEMPOTENCY_KEY.fullmatch(request.idempotency_key):
        fail("idempotency_key", "idempotency_key must be 8-64 characters of letters, digits, '.', '_', ':', '-'")
    return found


def channel_message_id(subject: str, idempotency_key: str) -> str:
    """Intake's idempotency key for a citizen's report: the caller's key, scoped to the caller.

    Intake accepts each (channel, channel_message_id) once; hashing in the subject keeps two citizens who chose
    the same key apart, and keeps the subject out of the stored id.
    """
    digest = hashlib.sha256(f"{subject}\n{idempotency_key}".encode()).hexdigest()
    return "gw-" + digest[:40]


def to_intake(request: pb.SubmitReportRequest, subject: str) -> intake.SubmitReportRequest:
    forwarded = intake.SubmitReportRequest(
        kind=request.kind,
        text=request.text,
        category=request.category,
        media_urls=list(request.media_urls),
        channel=CHANNEL,
        channel_message_id=channel_message_id(subject, request.idempotency_key),
    )
    where = request.WhichOneof("location")
    if where == "point":
        forwarded.point.CopyFrom(request.point)
    elif where == "address_text":
        forwarded.address_text = request.address_text
    elif where == "district_code":
        forwarded.district_code = request.district_code
    if request.HasField("contact"):
        forwarded.contact.CopyFrom(
            intake.ReporterContact(name=request.contact.name, phone=request.contact.phone, email=request.contact.email)
        )
    return forwarded


def status_change(change: intake.StatusChange) -> pb.StatusChange:
    """A status change as citizens see it: without the staff member's id (`changed_by` stays inside)."""
    shown = pb.StatusChange(status=change.status, note=change.note)
    if change.HasField("changed_at"):
        shown.changed_at.CopyFrom(change.changed_at)
    return shown


def submission(found: intake.Submission) -> pb.Submission:
    """A submission as the app shows it: no channel, no operator's duplicate scoring."""
    shown = pb.Submission(
        tracking_id=found.tracking_id,
        kind=found.kind,
        text=found.text,
        category=found.category,
        district_code=found.district_code,
        status=found.status,
        history=[status_change(change) for change in found.history],
        follower_count=found.follower_count,
        address_text=found.address_text,
        media_urls=list(found.media_urls),
        duplicate_of=found.duplicate_of,
    )
    for name in ("received_at", "updated_at", "point"):
        if found.HasField(name):
            getattr(shown, name).CopyFrom(getattr(found, name))
    return shown
