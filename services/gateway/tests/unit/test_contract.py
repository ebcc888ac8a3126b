from __future__ import annotations

import uuid

from sotong.common.v1 import geo_pb2
from sotong.gateway.v1 import gateway_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_gateway import contract


def good(**fields: object) -> pb.SubmitReportRequest:
    values: dict[str, object] = {
        "kind": types.SUBMISSION_KIND_REPORT,
        "text": "보도블록이 깨졌어요",
        "district_code": "11140",
        "idempotency_key": str(uuid.uuid4()),
    }
    values.update(fields)
    return pb.SubmitReportRequest(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


def fields(request: pb.SubmitReportRequest) -> list[str]:
    return [v.field for v in contract.submit_report_violations(request)]


def test_a_good_report_passes() -> None:
    assert fields(good()) == []
    assert fields(good(district_code=None, point=geo_pb2.GeoPoint(lat=37.56, lng=126.97))) == []


def test_every_problem_is_named_at_once() -> None:
    request = pb.SubmitReportRequest(
        kind=99,  # type: ignore[arg-type]
        text=" ",
        category="도로",
        media_urls=["javascript:alert(1)"],
        contact=pb.ReporterContact(name="x" * 51),
        idempotency_key="a b",
    )
    assert fields(request) == [
        "kind", "text", "category", "media_urls[0]", "contact.name", "idempotency_key",
    ]  # fmt: skip


def test_a_report_needs_a_place_other_kinds_may_not() -> None:
    assert fields(good(district_code=None)) == ["location"]
    assert fields(good(district_code=None, kind=types.SUBMISSION_KIND_OPINION)) == []
    assert fields(good(district_code="")) == ["district_code"]  # a oneof member set, but empty


def test_location_shapes() -> None:
    assert fields(good(district_code="1114")) == ["district_code"]
    assert fields(good(district_code=None, point=geo_pb2.GeoPoint(lat=91, lng=float("nan")))) == [
        "point.lat",
        "point.lng",
    ]
    assert fields(good(district_code=None, address_text="  ")) == ["address_text"]
    assert fields(good(district_code=None, address_text="가" * 301)) == ["address_text"]


def test_limits() -> None:
    assert fields(good(text="가" * 5001)) == ["text"]
    assert fields(good(text="가" * 5000)) == []
    assert fields(good(media_urls=["https://img.example/1.jpg"] * 11)) == ["media_urls"]
    assert fields(good(idempotency_key="short")) == ["idempotency_key"]
    assert fields(good(idempotency_key="")) == ["idempotency_key"]


def test_control_characters_are_named_once() -> None:
    assert fields(good(text="불법\x00주차")) == ["text"]
    assert fields(good(contact=pb.ReporterContact(phone="010\x07"))) == ["contact.phone"]


def test_tracking_ids() -> None:
    assert contract.tracking_id_violations("261203-ABCDEF") == []
    assert [v.field for v in contract.tracking_id_violations("")] == ["tracking_id"]
    assert [v.field for v in contract.tracking_id_violations("가나다")] == ["tracking_id"]
    assert [v.field for v in contract.tracking_id_violations("x" * 65)] == ["tracking_id"]


def test_the_idempotency_key_is_scoped_to_the_caller() -> None:
    mine = contract.channel_message_id("citizen-kim", "key-12345")
    assert mine == contract.channel_message_id("citizen-kim", "key-12345")
    assert mine != contract.channel_message_id("citizen-lee", "key-12345")
    assert mine.startswith("gw-") and len(mine) <= 128 and "citizen-kim" not in mine


def test_to_intake_keeps_the_report_and_names_the_channel() -> None:
    request = good(district_code=None, point=geo_pb2.GeoPoint(lat=37.5, lng=127.0), media_urls=["https://a/b.jpg"])
    request.contact.CopyFrom(pb.ReporterContact(phone="010-1234-5678"))
    forwarded = contract.to_intake(request, "citizen-kim")
    assert forwarded.channel == "app"
    assert forwarded.channel_message_id == contract.channel_message_id("citizen-kim", request.idempotency_key)
    assert forwarded.WhichOneof("location") == "point" and forwarded.point.lat == 37.5
    assert forwarded.contact.phone == "010-1234-5678"
    assert list(forwarded.media_urls) == ["https://a/b.jpg"]


def test_citizens_do_not_see_who_on_the_staff_changed_a_status() -> None:
    found = intake.Submission(
        tracking_id="t-1",
        status=types.SUBMISSION_STATUS_ACKNOWLEDGED,
        channel="kakao",
        duplicate_candidate_of="t-0",
        duplicate_score=0.9,
        history=[intake.StatusChange(status=types.SUBMISSION_STATUS_ACKNOWLEDGED, changed_by="operator-lee")],
    )
    shown = contract.submission(found)
    assert shown.tracking_id == "t-1" and shown.status == types.SUBMISSION_STATUS_ACKNOWLEDGED
    assert "operator-lee" not in str(shown) and "kakao" not in str(shown) and "t-0" not in str(shown)
