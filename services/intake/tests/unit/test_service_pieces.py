"""Pure pieces of the running service: configuration parsing, list cursors, tracking ids and the contract mapping."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_intake import api, settings, status
from sotong_intake.contract import contract_field, submission_from_request
from sotong_intake.store import Filters
from sotong_intake.submission import Submission
from sotong_intake.tracking import idempotency_key, new_tracking_id

SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 32).decode()


def test_webhook_secrets_per_source_with_rotation() -> None:
    parsed = settings.parse_webhook_secrets(f"sns={SECRET_A};partner-x={SECRET_B} {SECRET_A};")
    assert parsed == {"sns": [SECRET_A], "partner-x": [SECRET_B, SECRET_A]}
    for bad in ("sns", f"={SECRET_A}", "sns=", "sns=whsec_c2hvcnQ=", f"bad name={SECRET_A}"):
        with pytest.raises(ValueError):
            settings.parse_webhook_secrets(bad)


def test_cursor_round_trip_is_bound_to_its_filters() -> None:
    filters = Filters(district_code="11440", category="streetlight")
    position = (datetime(2026, 11, 24, 9, 0, tzinfo=UTC), uuid.uuid4())
    token = api._encode_cursor(position, filters)
    assert api._decode_cursor(token, filters) == position
    assert api._decode_cursor(token, Filters(district_code="11680", category="streetlight")) is None
    assert api._decode_cursor("garbage", filters) is None
    assert api._decode_cursor("x" * 600, filters) is None


def test_tracking_ids_are_dated_and_unambiguous() -> None:
    ids = {new_tracking_id(datetime(2026, 11, 24, tzinfo=UTC)) for _ in range(2000)}
    assert len(ids) == 2000
    for tracking_id in ids:
        day, code = tracking_id.split("-")
        assert day == "261124" and len(code) == 8 and not set(code) & set("01IO")


def test_partner_message_ids_are_scoped_by_partner() -> None:
    def sub(channel: str, source: str | None) -> Submission:
        return Submission(kind="report", text="x", channel=channel, channel_message_id="m1", source=source)

    assert idempotency_key(sub("webhook", "water")) == "water:m1"
    assert idempotency_key(sub("webhook", "gas")) == "gas:m1"
    assert idempotency_key(sub("kakao", None)) == "m1"


def test_contract_mapping_and_field_names() -> None:
    request = pb.SubmitReportRequest(
        kind=types.SUBMISSION_KIND_DISASTER_REPORT,
        text="침수",
        point=geo_pb2.GeoPoint(lat=37.5, lng=127.0),
        channel="",
        contact=pb.ReporterContact(phone="010-1234-5678"),
    )
    submission = submission_from_request(request)
    assert submission.kind == "disaster_report" and submission.channel == "app"
    assert submission.location is not None and submission.location.point is not None
    assert submission.contact is not None and submission.contact.phone == "010-1234-5678"
    assert contract_field("location.lat") == "point.lat" and contract_field("media[3]") == "media_urls[3]"


def test_operator_statuses_and_closure() -> None:
    assert {"acknowledged", "in_progress", "resolved", "rejected", "referred", "duplicate"} == status.OPERATOR
    assert "received" not in status.CLOSED and "resolved" in status.CLOSED
    assert status.FROM_PROTO[types.SUBMISSION_STATUS_DUPLICATE] == "duplicate"


def test_only_ids_issued_today_or_yesterday_wait_to_be_stored() -> None:
    """Reads wait briefly for a report accepted moments ago; an old or mistyped id is answered at once."""
    from datetime import UTC, datetime

    from sotong_intake import tracking

    now = datetime(2026, 12, 3, 0, 5, tzinfo=UTC)
    assert tracking.recently_issued(tracking.new_tracking_id(now), now)
    assert tracking.recently_issued("261202-ABCDEFGH", now)  # accepted just before midnight UTC
    assert not tracking.recently_issued("261130-ABCDEFGH", now)
    assert not tracking.recently_issued("not-an-id", now)
