"""Submission validation: each rule names the field it is about."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sotong_intake.submission import (
    MAX_MEDIA,
    MAX_TEXT_CHARS,
    Channel,
    Contact,
    FieldViolation,
    GeoPoint,
    Location,
    Submission,
    SubmissionKind,
    clean_text,
    validate_submission,
)

CITY_HALL = GeoPoint(37.5663, 126.9779)


def valid(**changes: object) -> Submission:
    base = Submission(
        kind=SubmissionKind.REPORT,
        text="시청 앞 보도블록이 깨져 있어요",
        channel=Channel.APP,
        category="road-damage",
        location=Location(point=CITY_HALL),
        media=("https://media.sotong.example/a.jpg",),
        contact=Contact(name="김민수", phone="010-1234-5678", email="minsu@example.com"),
        attributes={"hazard_size": "small"},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def fields(submission: Submission) -> list[str]:
    return [v.field for v in validate_submission(submission)]


def test_valid_submission_has_no_violations() -> None:
    assert validate_submission(valid()) == []
    assert validate_submission(valid(kind="opinion", location=None, category=None, attributes={})) == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b"])
def test_empty_text(text: str) -> None:
    violations = validate_submission(valid(text=text))
    assert violations == [FieldViolation("text", "text must not be empty")]


def test_text_length_limit() -> None:
    assert fields(valid(text="가" * MAX_TEXT_CHARS)) == []
    assert fields(valid(text="가" * (MAX_TEXT_CHARS + 1))) == ["text"]


def test_unknown_kind_and_channel() -> None:
    assert fields(valid(kind="petition")) == ["kind"]
    assert fields(valid(channel="fax")) == ["channel"]


@pytest.mark.parametrize(
    ("point", "field"),
    [
        (GeoPoint(91.0, 126.9), "location.lat"),
        (GeoPoint(-91.0, 126.9), "location.lat"),
        (GeoPoint(37.5, 181.0), "location.lng"),
        (GeoPoint(math.nan, 126.9), "location.lat"),
        (GeoPoint(37.5, math.inf), "location.lng"),
        (GeoPoint(35.1796, 129.0756), "location"),  # Busan: valid coordinates, outside the service area
    ],
)
def test_bad_points(point: GeoPoint, field: str) -> None:
    assert fields(valid(location=Location(point=point))) == [field]


def test_report_needs_a_location_but_opinion_does_not() -> None:
    assert fields(valid(location=None)) == ["location"]
    assert fields(valid(location=Location(address="  "))) == ["location"]
    assert fields(valid(location=Location(address="서울 중구 세종대로 110"))) == []
    assert fields(valid(location=Location(district_code="11140"))) == []
    assert fields(valid(location=Location(district_code="26110"))) == ["location.district_code"]  # Busan 중구
    assert fields(valid(kind="opinion", location=None)) == []


def test_media_rules() -> None:
    assert fields(valid(media=("ftp://x.example/a.jpg",))) == ["media[0]"]
    assert fields(valid(media=("https://ok.example/a.jpg", "javascript:alert(1)"))) == ["media[1]"]
    assert fields(valid(media=("/relative/path.jpg",))) == ["media[0]"]
    assert fields(valid(media=("https://x.example/" + "a" * 2100,))) == ["media[0]"]
    many = tuple(f"https://x.example/{i}.jpg" for i in range(MAX_MEDIA + 1))
    assert fields(valid(media=many)) == ["media"]
    assert fields(valid(media=many[:MAX_MEDIA])) == []
    assert fields(valid(media=("https://x.example/a.jpg",) * 2)) == ["media"]


def test_channel_message_id() -> None:
    assert fields(valid(channel=Channel.KAKAO)) == ["channel_message_id"]
    assert fields(valid(channel=Channel.KAKAO, channel_message_id="msg-1")) == []
    assert fields(valid(channel_message_id="x" * 129)) == ["channel_message_id"]
    assert fields(valid(channel_message_id="has space")) == ["channel_message_id"]
    assert fields(valid(channel=Channel.APP, channel_message_id=None)) == []


def test_category_and_attributes() -> None:
    assert fields(valid(category="unicorns", attributes={})) == ["category"]
    assert fields(valid(attributes={"hazard_size": "gigantic"})) == ["attributes.hazard_size"]
    assert fields(valid(attributes={"colour": "red"})) == ["attributes.colour"]
    assert fields(valid(category=None)) == ["attributes"]
    # Flooding requires the water depth.
    assert fields(valid(category="flooding", attributes={})) == ["attributes.water_depth"]
    assert fields(valid(category="flooding", attributes={"water_depth": "knee"})) == []
    # ... but only where a form asked for it: chat and SNS cannot.
    kakao_flood = valid(category="flooding", attributes={}, channel=Channel.KAKAO, channel_message_id="k-1")
    assert fields(kakao_flood) == []


def test_contact_rules() -> None:
    assert fields(valid(contact=Contact(phone="+82 10 1234 5678"))) == []
    assert fields(valid(contact=Contact(phone="02-120"))) == ["contact.phone"]
    assert fields(valid(contact=Contact(email="not-an-email"))) == ["contact.email"]
    assert fields(valid(contact=Contact(name="가" * 51))) == ["contact.name"]


def test_all_violations_reported_at_once() -> None:
    bad = valid(kind="x", text="", media=("ftp://a",), contact=Contact(email="@"))
    assert fields(bad) == ["kind", "text", "media[0]", "contact.email"]


def test_contact_repr_hides_personal_data() -> None:
    text = repr(valid())
    assert "010-1234-5678" not in text and "minsu@example.com" not in text and "김민수" not in text
    assert "redacted" in text


def test_clean_text_normalizes_korean_and_controls() -> None:
    decomposed = "\u1109\u1165\u1100\u116d\u1103\u1169\u11bc"  # 서교동 typed as separate jamo
    assert clean_text(f"  {decomposed}\x00\x07 ") == "서교동"
    assert clean_text("줄\n바꿈") == "줄\n바꿈"
