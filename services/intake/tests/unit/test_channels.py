"""Channel adapters: each payload maps onto a submission that passes (or fails) the common validation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sotong_common.webhooks import WebhookVerifier, sign
from sotong_intake.channels import ChannelPayloadError
from sotong_intake.channels.eungdapso import PortalStatus, status_of, submission_from_record
from sotong_intake.channels.kakao import (
    receipt_response,
    rejection_response,
    skill_message_id,
    submission_from_skill,
    text_response,
)
from sotong_intake.channels.partner_webhook import submission_from_webhook
from sotong_intake.channels.sns import kind_from_hashtags, submission_from_mention
from sotong_intake.submission import Channel, FieldViolation, GeoPoint, SubmissionKind, validate_submission

RECEIVED = datetime(2026, 11, 24, 3, 12, 30, tzinfo=UTC)


def kakao_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "intent": {"id": "intent-1", "name": "불편 신고"},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"ignoreMe": "true"},
            "block": {"id": "block-7", "name": "불편 신고"},
            "utterance": "망원동 가로등이 꺼져 있어요",
            "lang": "ko",
            "user": {
                "id": "b0f1e2d3c4botuserkey",
                "type": "botUserKey",
                "properties": {"plusfriendUserKey": "pfkey-1", "isFriend": True},
            },
        },
        "bot": {"id": "5f0000seoul", "name": "서울시 소통봇"},
        "action": {
            "name": "intake_skill",
            "clientExtra": None,
            "params": {
                "sys_location": "마포구 망원동",
                "sys_plugin_secureimage": json.dumps(
                    {
                        "privacyAgreement": "Y",
                        "imageQuantity": "2",
                        "secureUrls": "List(https://talk.kakaocdn.net/a.jpg, https://talk.kakaocdn.net/b.jpg)",
                        "expire": "2026-11-24T12:00:00",
                    }
                ),
            },
            "id": "action-1",
            "detailParams": {"sys_location": {"origin": "마포구 망원동", "value": "마포구 망원동", "groupName": ""}},
        },
        "contexts": [
            {
                "name": "report",
                "lifespan": 5,
                "ttl": 600,
                "params": {"lat": {"value": "37.5563", "resolvedValue": "37.5563"}, "lng": {"value": "126.9050"}},
            }
        ],
    }
    payload.update(overrides)
    return payload


def test_kakao_skill_request_to_submission() -> None:
    submission = submission_from_skill(kakao_payload(), RECEIVED)
    assert submission.channel == Channel.KAKAO
    assert submission.kind == SubmissionKind.REPORT
    assert submission.text == "망원동 가로등이 꺼져 있어요"
    assert submission.category == "streetlight"
    assert submission.location is not None
    assert submission.location.address == "마포구 망원동"
    assert submission.location.point == GeoPoint(37.5563, 126.9050)
    assert submission.media == ("https://talk.kakaocdn.net/a.jpg", "https://talk.kakaocdn.net/b.jpg")
    assert submission.contact is not None and submission.contact.channel_user_id == "b0f1e2d3c4botuserkey"
    assert submission.source == "kakao-bot-5f0000seoul"
    assert submission.channel_message_id is not None and submission.channel_message_id.startswith("kakao-")
    assert validate_submission(submission) == []


def test_kakao_message_id_is_stable_for_retries_only() -> None:
    payload = kakao_payload()
    same = skill_message_id(payload, RECEIVED + timedelta(seconds=5))
    assert skill_message_id(payload, RECEIVED) == same
    assert skill_message_id(payload, RECEIVED + timedelta(minutes=2)) != same
    other = kakao_payload()
    other["userRequest"]["utterance"] = "다른 내용"
    assert skill_message_id(other, RECEIVED) != same


def test_kakao_broken_payload_names_fields() -> None:
    with pytest.raises(ChannelPayloadError) as info:
        submission_from_skill({"userRequest": {"utterance": 3.5, "user": "nobody"}}, RECEIVED)
    fields = {v.field for v in info.value.violations}
    assert fields == {"userRequest.utterance", "userRequest.user", "userRequest.user.id"}


def test_kakao_unknown_block_is_a_complaint_without_location() -> None:
    payload = kakao_payload(action={"params": {}}, contexts=[])
    payload["userRequest"]["block"] = {"id": "b", "name": "폴백 블록"}
    payload["userRequest"]["utterance"] = "민원 처리가 너무 늦어요"
    submission = submission_from_skill(payload, RECEIVED)
    assert submission.kind == SubmissionKind.COMPLAINT and submission.location is None and submission.media == ()
    assert validate_submission(submission) == []


def test_kakao_response_round_trip() -> None:
    response = json.loads(json.dumps(receipt_response("SOT-2026-000123", "report")))
    assert response["version"] == "2.0"
    outputs = response["template"]["outputs"]
    assert len(outputs) == 1 and "SOT-2026-000123" in outputs[0]["simpleText"]["text"]
    assert "신고" in outputs[0]["simpleText"]["text"]
    assert [q["messageText"] for q in response["template"]["quickReplies"]] == ["처리 현황", "처음으로"]
    assert all(q["action"] == "message" for q in response["template"]["quickReplies"])
    long = text_response("가" * 1500)
    assert len(long["template"]["outputs"][0]["simpleText"]["text"]) == 1000
    with pytest.raises(ValueError):
        text_response()
    rejected = rejection_response([FieldViolation("text", "empty"), FieldViolation("media[0]", "bad")])
    assert "내용" in rejected["template"]["outputs"][0]["simpleText"]["text"]
    assert "사진" in rejected["template"]["outputs"][0]["simpleText"]["text"]


def mention(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "platform": "x",
        "post_id": "1859000000000000001",
        "author": {"handle": "@mangwon_resident", "id": "42"},
        "text": "@seoulcity @seoul_safety 망원동 도로가 침수됐어요 #제보",
        "created_at": "2026-11-24T12:00:00Z",
        "url": "https://x.example/mangwon_resident/status/1859000000000000001",
        "geo": {"lat": 37.5563, "lng": 126.9050},
        "media_urls": ["https://media.x.example/p1.jpg"],
    }
    payload.update(overrides)
    return payload


def test_sns_mention_to_submission() -> None:
    submission = submission_from_mention(mention())
    assert submission.channel == Channel.SNS
    assert submission.channel_message_id == "x:1859000000000000001"
    assert submission.source == "x"
    assert submission.text == "망원동 도로가 침수됐어요 #제보"
    assert submission.kind == SubmissionKind.REPORT
    assert submission.category == "flooding"  # a disaster category wins over road words
    assert submission.location is not None and submission.location.point == GeoPoint(37.5563, 126.9050)
    assert submission.contact is not None and submission.contact.channel_user_id == "@mangwon_resident"
    assert submission.submitted_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert submission.media == ("https://media.x.example/p1.jpg",)
    # A flooding form asks how deep the water is; a tweet never says, and is still accepted.
    assert [v.field for v in validate_submission(submission)] == []


def test_sns_kinds_and_errors() -> None:
    assert kind_from_hashtags("지하차도 물이 찼어요 #침수 #제보") == SubmissionKind.DISASTER_REPORT
    assert kind_from_hashtags("따릉이 좋아요") == SubmissionKind.OPINION
    assert kind_from_hashtags("#민원 답변 주세요") == SubmissionKind.COMPLAINT
    plain = submission_from_mention(mention(text="@seoulcity 한강공원 잘 쓰고 있어요", geo=None))
    assert plain.kind == SubmissionKind.OPINION and plain.location is None
    with pytest.raises(ChannelPayloadError) as info:
        submission_from_mention({"platform": "X Corp", "text": ["a"], "geo": {"lat": 37.5}})
    assert {v.field for v in info.value.violations} == {"platform", "post_id", "text", "geo"}


def portal_record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "민원번호": "2AA-2511-0012345",
        "민원유형": "불편신고",
        "제목": "망원동 빗물받이 막힘",
        "내용": "비만 오면 빗물받이가 막혀 물이 넘칩니다.",
        "처리상태": "접수",
        "접수일시": "2026-11-24 09:12:33",
        "자치구": "마포구",
        "위치": {"주소": "서울특별시 마포구 망원동 412-3", "위도": 37.5563, "경도": 126.9050},
        "첨부파일": ["https://eungdapso.seoul.go.kr/files/1.jpg"],
        "신청인": {"성명": "홍길동", "연락처": "010-1234-5678", "이메일": "hong@example.com"},
    }
    record.update(overrides)
    return record


def test_eungdapso_record_to_submission() -> None:
    submission = submission_from_record(portal_record())
    assert submission.channel == Channel.EUNGDAPSO and submission.channel_message_id == "2AA-2511-0012345"
    assert submission.kind == SubmissionKind.REPORT
    assert submission.title == "망원동 빗물받이 막힘"
    assert submission.location is not None and submission.location.district_code == "11440"
    assert submission.submitted_at == datetime(2026, 11, 24, 0, 12, 33, tzinfo=UTC)  # 09:12:33 KST
    assert submission.contact is not None and submission.contact.phone == "010-1234-5678"
    assert validate_submission(submission) == []
    assert submission_from_record(portal_record(자치구="11440")).location.district_code == "11440"  # type: ignore[union-attr]
    unknown = submission_from_record(portal_record(자치구="해운대구", 위치=None))
    assert [v.field for v in validate_submission(unknown)] == ["location.district_code"]


def test_eungdapso_status_and_errors() -> None:
    assert status_of(portal_record()) == PortalStatus.OPEN
    assert status_of(portal_record(처리상태="이첩")) == PortalStatus.OPEN
    assert status_of(portal_record(처리상태="완료")) == PortalStatus.CLOSED
    assert status_of(portal_record(처리상태="취하")) == PortalStatus.WITHDRAWN
    with pytest.raises(ChannelPayloadError):
        status_of(portal_record(처리상태="보류"))
    with pytest.raises(ChannelPayloadError) as info:
        submission_from_record(portal_record(민원번호=None, 접수일시="어제", 민원유형="칭찬"))
    assert {v.field for v in info.value.violations} == {"민원번호", "접수일시", "민원유형"}


SECRET = "whsec_" + base64.b64encode(b"p" * 32).decode()


def deliver(body: dict[str, Any] | bytes, msg_id: str = "msg_1") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    ts = 1_764_000_000
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(SECRET, msg_id, ts, raw)}
    return WebhookVerifier([SECRET]).verify(headers, raw, now=ts)


def test_partner_webhook_to_submission() -> None:
    body = {
        "kind": "report",
        "text": "보안등 고장",
        "category": "streetlight",
        "location": {"lat": 37.5006, "lng": 127.0364, "district_code": "11680"},
        "media": ["https://partner.example/1.jpg"],
        "attributes": {"pole_number": "A-123"},
        "contact": {"phone": "010-2222-3333"},
        "submitted_at": "2026-11-24T09:00:00+09:00",
    }
    submission = submission_from_webhook(deliver(body), "gangnam-facilities")
    assert submission.channel == Channel.WEBHOOK and submission.channel_message_id == "msg_1"
    assert submission.source == "gangnam-facilities"
    assert submission.attributes == {"pole_number": "A-123"}
    assert submission.submitted_at == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert validate_submission(submission) == []


def test_partner_webhook_bad_bodies() -> None:
    with pytest.raises(ChannelPayloadError):
        submission_from_webhook(deliver(b"not json"), "p")
    with pytest.raises(ChannelPayloadError):
        submission_from_webhook(deliver(b"[1,2]"), "p")
    with pytest.raises(ChannelPayloadError) as info:
        submission_from_webhook(deliver({"text": "x", "attributes": {"a": [1]}, "location": {"lng": 127}}), "p")
    assert {v.field for v in info.value.violations} == {"kind", "attributes.a", "location"}
