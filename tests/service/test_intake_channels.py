"""Intake's channel adapters on the real stack: KakaoTalk skill, SNS mentions, 응답소 sync, signed partner webhooks
(Standard Webhooks: rotation, tolerance, replay) and the upstream raw topic, each normalized into
intake.submission-received.v1 with the channel's idempotency."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import events, topics
from sotong_common.webhooks import sign
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, produce_raw, read_all, sql, stored

pytestmark = pytest.mark.service

SKILL_TOKEN = "kakao-skill-token"
SNS_SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
PORTAL_SECRET = "whsec_" + base64.b64encode(b"e" * 32).decode()
PARTNER_NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
PARTNER_OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()


@pytest.fixture()
def http(fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    assert fresh_stack.state is not None
    fresh_stack.state.http_ports = {"intake-http": free_ports(1)[0]}
    monkeypatch.setenv("SOTONG_INTAKE_KAKAO_SKILL_TOKEN", SKILL_TOKEN)
    monkeypatch.setenv(
        "SOTONG_INTAKE_WEBHOOK_SECRETS",
        f"sns={SNS_SECRET};eungdapso={PORTAL_SECRET};water-utility={PARTNER_NEW} {PARTNER_OLD}",
    )
    fresh_stack.start_services(("intake-http", "intake-worker"), say=False)
    yield f"http://127.0.0.1:{fresh_stack.state.http_ports['intake-http']}"


def signed(secret: str, body: Any, msg_id: str | None = None, at: int | None = None) -> tuple[dict[str, str], bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    at = int(time.time()) if at is None else at
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": sign(secret, msg_id, at, raw),
        "content-type": "application/json",
    }, raw


async def send(url: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as reply:
        return reply.status, await reply.json(content_type=None)


def skill_payload(utterance: str = "망원동 가로등이 꺼져 있어요") -> dict[str, Any]:
    return {
        "userRequest": {
            "block": {"id": "block-7", "name": "불편 신고"},
            "utterance": utterance,
            "user": {"id": "botuserkey-123", "type": "botUserKey", "properties": {}},
        },
        "bot": {"id": "5f0000seoul", "name": "서울시 소통봇"},
        "action": {"name": "intake_skill", "params": {"sys_location": "마포구 망원동", "phone": "010-2345-6789"}},
        "contexts": [],
    }


async def count(stack: Stack) -> int:
    rows = await sql(stack, "SELECT count(*) AS n FROM submissions", schema="intake")
    return int(rows[0]["n"])


async def test_kakao_skill_receipt_idempotency_and_friendly_refusal(http: str, fresh_stack: Stack) -> None:
    url, auth = f"{http}/kakao/skill", {"X-Sotong-Skill-Token": SKILL_TOKEN}
    body = json.dumps(skill_payload(), ensure_ascii=False).encode()
    status, first = await send(url, auth, body)
    status_again, again = await send(url, auth, body)  # Kakao's retry of the same request
    no_token, _ = await send(url, {}, body)
    broken, broken_body = await send(url, auth, json.dumps({"userRequest": {"utterance": 3}}).encode())
    refused_status, refused = await send(url, auth, json.dumps(skill_payload(" "), ensure_ascii=False).encode())
    assert status == status_again == 200
    text = first["template"]["outputs"][0]["simpleText"]["text"]
    tracking_id = text.split("접수번호: ")[1].split("\n")[0]
    assert tracking_id in again["template"]["outputs"][0]["simpleText"]["text"]
    assert no_token == 401
    assert broken == 400 and "userRequest.user" in [e["field"] for e in broken_body["errors"]]
    assert refused_status == 200 and "내용" in refused["template"]["outputs"][0]["simpleText"]["text"]
    await stored(fresh_stack, tracking_id)
    rows = await sql(
        fresh_stack,
        "SELECT s.channel, s.district_code, s.kind, c.sealed FROM submissions s"
        " JOIN reporter_contacts c ON c.submission_id = s.id WHERE s.tracking_id = $1",
        tracking_id,
        schema="intake",
    )
    assert [(r["channel"], r["district_code"], r["kind"]) for r in rows] == [("kakao", "11440", "report")]
    assert b"botuserkey" not in bytes(rows[0]["sealed"]) and b"2345" not in bytes(rows[0]["sealed"])
    assert await count(fresh_stack) == 1
    log = (fresh_stack.run_dir / "logs" / "intake-http.log").read_text()
    assert "2345-6789" not in log and "botuserkey-123" not in log


async def test_sns_mentions_are_signed_once_only_and_normalized(http: str, fresh_stack: Stack) -> None:
    mention = {
        "platform": "x",
        "post_id": "1859000000000000001",
        "author": {"handle": "@citizen", "id": "123"},
        "text": "@seoulcity 망원동 도로가 침수됐어요 #침수",
        "created_at": "2026-11-24T12:00:00Z",
        "geo": {"lat": 37.5563, "lng": 126.9050},
    }
    headers, body = signed(SNS_SECRET, mention)
    accepted = await send(f"{http}/webhooks/sns", headers, body)
    replayed = await send(f"{http}/webhooks/sns", headers, body)
    redelivered = await send(f"{http}/webhooks/sns", *signed(SNS_SECRET, mention))  # new delivery, same post
    wrong_key = await send(f"{http}/webhooks/sns", *signed(PORTAL_SECRET, mention))
    stale = await send(f"{http}/webhooks/sns", *signed(SNS_SECRET, mention, at=int(time.time()) - 3600))
    tampered_headers, _ = signed(SNS_SECRET, mention)
    tampered = await send(f"{http}/webhooks/sns", tampered_headers, body.replace("망원동".encode(), "합정동".encode()))
    assert accepted[0] == 202 and accepted[1]["created"]
    assert replayed[0] == 409 and replayed[1]["error"] == "replayed"
    assert redelivered[0] == 202 and not redelivered[1]["created"]
    assert redelivered[1]["tracking_id"] == accepted[1]["tracking_id"]
    assert (wrong_key[0], wrong_key[1]["error"]) == (401, "signature_mismatch")
    assert (stale[0], stale[1]["error"]) == (401, "timestamp_too_old")
    assert (tampered[0], tampered[1]["error"]) == (401, "signature_mismatch")
    await stored(fresh_stack, accepted[1]["tracking_id"])
    assert await count(fresh_stack) == 1
    records = await eventually(lambda: _received(fresh_stack, 1))
    event = ev.SubmissionReceived.FromString(records[0].value)
    assert (event.channel, event.channel_message_id) == ("sns", "x:1859000000000000001")
    assert event.kind == types.SUBMISSION_KIND_DISASTER_REPORT and event.district_code == "11440"
    assert event.contact_ref.startswith("intake:contact:")  # the handle is personal data: only a reference
    assert b"@citizen" not in records[0].value


async def _received(stack: Stack, want: int) -> list[Any] | None:
    records = await asyncio.to_thread(read_all, stack, topics.SUBMISSION_RECEIVED, 1000)
    return records if len(records) >= want else None


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


async def test_eungdapso_sync_creates_once_and_closes_on_completion(http: str, fresh_stack: Stack) -> None:
    url = f"{http}/webhooks/eungdapso"
    created = await send(url, *signed(PORTAL_SECRET, portal_record()))
    synced_again = await send(url, *signed(PORTAL_SECRET, portal_record(처리상태="처리중")))
    completed = await send(url, *signed(PORTAL_SECRET, portal_record(처리상태="완료")))
    bad = await send(url, *signed(PORTAL_SECRET, portal_record(민원번호=None, 접수일시="어제")))
    assert created[0] == 202 and created[1]["created"]
    assert synced_again[1] == {"tracking_id": created[1]["tracking_id"], "created": False}
    assert completed[0] == 202 and not completed[1]["created"]
    assert bad[0] == 400 and {"민원번호", "접수일시"} <= {e["field"] for e in bad[1]["errors"]}

    async def closed() -> list[Any] | None:
        rows = await sql(
            fresh_stack,
            "SELECT s.status, s.channel_message_id, array_agg(h.status ORDER BY h.id) AS history FROM submissions s"
            " JOIN submission_status_history h ON h.submission_id = s.id GROUP BY s.id",
            schema="intake",
        )
        return rows if rows and rows[0]["status"] == "resolved" else None

    rows = await eventually(closed, timeout=30)
    assert [(r["status"], r["channel_message_id"], r["history"]) for r in rows] == [
        ("resolved", "2AA-2511-0012345", ["received", "resolved"])
    ]

    async def status_event() -> list[Any] | None:
        records = await asyncio.to_thread(read_all, fresh_stack, topics.SUBMISSION_STATUS_CHANGED, 1000)
        return records or None

    change = ev.SubmissionStatusChanged.FromString((await eventually(status_event))[0].value)
    assert (change.channel, change.channel_message_id, change.changed_by) == (
        "eungdapso",
        "2AA-2511-0012345",
        "eungdapso",
    )
    assert change.status == types.SUBMISSION_STATUS_RESOLVED


async def test_partner_webhook_key_rotation_bad_body_and_replay(http: str, fresh_stack: Stack) -> None:
    url = f"{http}/webhooks/partner/water-utility"
    body = {
        "kind": "report",
        "text": "상수도 누수: 마포구청 앞",
        "category": "other",
        "location": {"lat": 37.5663, "lng": 126.9016},
        "contact": {"phone": "010-9876-5432"},
    }
    with_new = await send(url, *signed(PARTNER_NEW, body))
    with_old = await send(url, *signed(PARTNER_OLD, {**body, "text": "두 번째 누수 신고"}))
    bad_headers, bad_body = signed(PARTNER_NEW, {"kind": "report", "text": "", "location": {"lat": "north"}})
    bad = await send(url, bad_headers, bad_body)
    bad_replayed = await send(url, bad_headers, bad_body)
    unknown_partner = await send(f"{http}/webhooks/partner/nobody", *signed(PARTNER_NEW, body))
    missing = await send(url, {"content-type": "application/json"}, json.dumps(body).encode())
    assert with_new[0] == 202 and with_old[0] == 202 and with_new[1]["tracking_id"] != with_old[1]["tracking_id"]
    assert bad[0] == 400 and {"text", "location.lat"} <= {e["field"] for e in bad[1]["errors"]}
    assert bad_replayed[0] == 409
    assert unknown_partner[0] == 404
    assert (missing[0], missing[1]["error"]) == (401, "missing_header")
    await stored(fresh_stack, with_new[1]["tracking_id"], with_old[1]["tracking_id"])
    rows = await sql(fresh_stack, "SELECT channel, source, channel_message_id FROM submissions", schema="intake")
    assert {(r["channel"], r["source"]) for r in rows} == {("webhook", "water-utility")}
    assert all(r["channel_message_id"].startswith("water-utility:msg_") for r in rows)
    deliveries = await sql(fresh_stack, "SELECT count(*) AS n FROM webhook_deliveries", schema="intake")
    assert deliveries[0]["n"] == 3


async def test_raw_topic_submissions_are_normalized_and_invalid_ones_dead_lettered(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("intake-worker",), say=False)
    good = pb.SubmitReportRequest(
        kind=types.SUBMISSION_KIND_COMPLAINT,
        text="버스정류장 의자가 부서졌어요",
        category="other",
        point=geo_pb2.GeoPoint(lat=37.5663, lng=126.9779),
        channel="callcenter",
        channel_message_id="120-0001",
    )
    no_message_id = pb.SubmitReportRequest(kind=types.SUBMISSION_KIND_OPINION, text="좋은 정책입니다", channel="app")
    invalid = pb.SubmitReportRequest(kind=types.SUBMISSION_KIND_REPORT, text="", point=geo_pb2.GeoPoint(lat=95, lng=0))

    def headers() -> list[tuple[str, bytes]]:
        return events.EventMetadata.new(topics.RAW_SUBMISSION, "upstream-test").headers(with_trace=False)

    twice = headers()
    for message, meta, key in [
        (good, headers(), b"a"),
        (good, headers(), b"a"),  # the same channel message again
        (no_message_id, twice, b"b"),
        (no_message_id, twice, b"b"),  # a redelivery of the same event
        (invalid, headers(), b"c"),
    ]:
        produce_raw(fresh_stack, topics.RAW_SUBMISSION, events.encode(message), key=key, headers=meta)

    async def stored() -> list[Any] | None:
        migrated = await sql(fresh_stack, "SELECT to_regclass('submissions') AS t", schema="intake")
        if migrated[0]["t"] is None:
            return None
        rows = await sql(
            fresh_stack, "SELECT channel, district_code FROM submissions ORDER BY channel", schema="intake"
        )
        return rows if len(rows) >= 2 else None

    rows = await eventually(stored)
    dead = await eventually(
        lambda: asyncio.to_thread(read_all, fresh_stack, topics.dlq_name(topics.RAW_SUBMISSION), 1000)
    )
    await asyncio.sleep(1.0)  # give a wrongly duplicated insert the chance to show up
    assert await count(fresh_stack) == 2
    assert [(r["channel"], r["district_code"]) for r in rows] == [("app", None), ("callcenter", "11140")]
    assert len(dead) == 1 and dead[0].key == b"c"
    error = dict(dead[0].headers)[events.H_ERROR].decode()
    assert "text" in error and "point.lat" in error
    received = await eventually(lambda: _received(fresh_stack, 2))
    assert len(received) == 2
