"""Open311 GeoReport v2 shapes: service list, definitions, POST form mapping and errors, request JSON and XML."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest

from sotong_intake.open311 import (
    Open311RequestError,
    ServiceRequestView,
    Status,
    created_json,
    created_xml,
    errors_xml,
    requests_json,
    requests_xml,
    service_definition,
    service_definition_xml,
    service_list,
    service_list_xml,
    submission_from_form,
)
from sotong_intake.submission import Channel, FieldViolation, GeoPoint, SubmissionKind

SERVICE_KEYS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_KEYS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def test_service_list_json_and_xml() -> None:
    services = service_list()
    codes = [s["service_code"] for s in services]
    assert {"road-damage", "illegal-parking", "streetlight", "garbage", "noise", "park-facility", "ttareungyi"} <= set(
        codes
    )
    assert {"flooding", "other"} <= set(codes)
    for entry in services:
        assert set(entry) == SERVICE_KEYS and entry["type"] == "realtime"
    flooding = next(s for s in services if s["service_code"] == "flooding")
    assert flooding["service_name"] == "침수·배수 불량" and flooding["metadata"] is True
    assert "침수" in flooding["keywords"].split(",")
    english = {s["service_code"]: s for s in service_list("en")}
    assert english["ttareungyi"]["service_name"] == "Ttareungyi public bike"
    assert english["garbage"]["metadata"] is False

    xml = service_list_xml()
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "services"
    parsed = {s.findtext("service_code"): s for s in root.findall("service")}
    assert set(parsed) == set(codes)
    assert parsed["flooding"].findtext("metadata") == "true"
    assert parsed["flooding"].findtext("service_name") == "침수·배수 불량"


def test_service_definition() -> None:
    definition = service_definition("flooding")
    assert definition is not None and definition["service_code"] == "flooding"
    (depth,) = definition["attributes"]
    assert depth["code"] == "water_depth" and depth["datatype"] == "singlevaluelist" and depth["required"] is True
    assert depth["variable"] is True and depth["order"] == 1
    assert [v["key"] for v in depth["values"]] == ["ankle", "knee", "waist"]
    assert service_definition("no-such") is None and service_definition_xml("no-such") is None

    xml = service_definition_xml("flooding", lang="en")
    assert xml is not None
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "service_definition" and root.findtext("service_code") == "flooding"
    attribute = root.find("attributes/attribute")
    assert attribute is not None and attribute.findtext("required") == "true"
    assert [v.findtext("name") for v in attribute.findall("values/value")] == [
        "up to the ankle",
        "about knee-deep",
        "waist-deep or more",
    ]


def form(**fields: str | list[str]) -> dict[str, str | list[str]]:
    base: dict[str, str | list[str]] = {
        "service_code": "flooding",
        "lat": "37.5563",
        "long": "126.9050",
        "description": "망원동 지하차도가 무릎까지 잠겼습니다",
        "attribute[water_depth]": "knee",
        "first_name": "길동",
        "last_name": "홍",
        "email": "hong@example.com",
        "media_url": "https://photos.example/1.jpg",
        "api_key": "ignored-here",
    }
    base.update(fields)
    return base


def test_post_form_to_submission() -> None:
    submission = submission_from_form(form())
    assert submission.channel == Channel.OPEN311 and submission.category == "flooding"
    assert submission.kind == SubmissionKind.DISASTER_REPORT
    assert submission.location is not None and submission.location.point == GeoPoint(37.5563, 126.905)
    assert submission.attributes == {"water_depth": "knee"}
    assert submission.contact is not None and submission.contact.name == "홍길동"
    assert submission.media == ("https://photos.example/1.jpg",)
    by_address = submission_from_form(form(lat="", long="", address_string="서울 마포구 망원동 412"))
    assert by_address.location is not None and by_address.location.point is None
    english = submission_from_form(form(first_name="Jane", last_name="Doe"))
    assert english.contact is not None and english.contact.name == "Jane Doe"


def errors_of(fields: dict[str, str | list[str]]) -> list[FieldViolation]:
    with pytest.raises(Open311RequestError) as info:
        submission_from_form(fields)
    assert all(e["code"] == 400 for e in info.value.errors())
    return info.value.violations


def test_post_form_errors_use_open311_field_names() -> None:
    assert [v.field for v in errors_of(form(service_code="unicorns"))] == ["service_code"]
    assert [v.field for v in errors_of(form(lat="", long=""))] == ["lat"]
    assert [v.field for v in errors_of(form(long=""))] == ["long"]
    assert [v.field for v in errors_of(form(lat="north", long="east"))] == ["lat"]
    assert [v.field for v in errors_of(form(lat="35.1796", long="129.0756"))] == ["lat"]  # Busan
    assert [v.field for v in errors_of(form(description=""))] == ["description"]
    assert [v.field for v in errors_of(form(description="가" * 4001))] == ["description"]
    assert [v.field for v in errors_of(form(**{"attribute[water_depth]": "ocean"}))] == ["attribute[water_depth]"]
    assert [v.field for v in errors_of(form(media_url="file:///etc/passwd"))] == ["media_url"]
    several = errors_of(form(service_code="", description="", email="nope"))
    assert [v.field for v in several] == ["service_code", "description", "email"]


def test_error_json_and_xml_shapes() -> None:
    with pytest.raises(Open311RequestError) as info:
        submission_from_form(form(service_code=""))
    errors = json.loads(json.dumps(info.value.errors()))
    assert errors == [{"code": 400, "description": "service_code: service_code is required"}]
    xml = errors_xml(info.value.violations)
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "errors"
    assert [(e.findtext("code"), e.findtext("description")) for e in root.findall("error")] == [
        ("400", "service_code: service_code is required")
    ]


def test_multivalue_attributes_are_joined() -> None:
    # No catalogue category uses a multivaluelist yet; the form mapping still keeps every value.
    with pytest.raises(Open311RequestError) as info:
        submission_from_form(form(**{"attribute[water_depth][]": ["ankle", "knee"]}))
    assert any(v.field == "attribute[water_depth]" for v in info.value.violations)


VIEW = ServiceRequestView(
    service_request_id="SOT-2026-000123",
    status=Status.CLOSED,
    service_code="streetlight",
    requested_datetime=datetime(2026, 11, 24, 0, 12, 33, tzinfo=UTC),
    updated_datetime=datetime(2026, 11, 25, 1, 0, 0, tzinfo=UTC),
    description="보안등이 꺼져 있어요",
    status_notes="보안등 교체 완료",
    address="서울특별시 마포구 망원동 412-3",
    lat=37.5563,
    long=126.905,
    media_url="https://photos.example/1.jpg",
)


def test_request_json() -> None:
    (entry,) = json.loads(requests_json([VIEW]))
    assert set(entry) == REQUEST_KEYS
    assert entry["status"] == "closed" and entry["service_name"] == "가로등·보안등 고장"
    assert entry["requested_datetime"] == "2026-11-24T09:12:33+09:00"
    assert entry["updated_datetime"] == "2026-11-25T10:00:00+09:00"
    assert entry["expected_datetime"] is None
    assert entry["agency_responsible"] == "자치구 건설관리과"
    assert entry["lat"] == 37.5563 and entry["long"] == 126.905


def test_request_xml_parses_back() -> None:
    xml = requests_xml([VIEW, ServiceRequestView("SOT-2", Status.OPEN, "garbage", VIEW.requested_datetime)])
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "service_requests"
    first, second = root.findall("request")
    assert {child.tag for child in first} == REQUEST_KEYS
    assert first.findtext("service_request_id") == "SOT-2026-000123"
    assert first.findtext("status") == "closed" and first.findtext("status_notes") == "보안등 교체 완료"
    assert first.findtext("lat") == "37.5563" and first.findtext("long") == "126.905"
    assert first.findtext("requested_datetime") == "2026-11-24T09:12:33+09:00"
    assert second.findtext("status") == "open" and second.findtext("status_notes") == ""  # empty element


def test_created_response() -> None:
    assert created_json("SOT-9") == [{"service_request_id": "SOT-9", "service_notice": None, "account_id": None}]
    root = ET.fromstring(created_xml("SOT-9", "48시간 내 처리").split("\n", 1)[1])
    assert root.findtext("request/service_request_id") == "SOT-9"
    assert root.findtext("request/service_notice") == "48시간 내 처리"


def test_naive_times_are_refused() -> None:
    naive = ServiceRequestView("x", Status.OPEN, "garbage", datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        naive.to_json()
