"""Open311 GeoReport v2 on the real stack, driven by a real Open311 client library (`georeport` from PyPI).

`georeport` has no POST call, so requests are posted as any Open311 client does: a form POST (requests library).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from georeport import GeoReport

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import auth
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, sql, stored, token

pytestmark = pytest.mark.service

API_KEY = "open311-test-key"


@pytest.fixture()
def intake_http(fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    assert fresh_stack.state is not None
    fresh_stack.state.http_ports = {"intake-http": free_ports(1)[0]}
    monkeypatch.setenv("SOTONG_INTAKE_OPEN311_API_KEYS", API_KEY)
    fresh_stack.start_services(("intake-http", "intake-worker"), say=False)
    yield f"http://127.0.0.1:{fresh_stack.state.http_ports['intake-http']}/open311/v2"


def post(root: str, fmt: str = "json", **form: Any) -> requests.Response:
    fields: dict[str, Any] = {
        "api_key": API_KEY,
        "service_code": "streetlight",
        "lat": "37.5663",
        "long": "126.9779",
        "description": "시청 앞 가로등이 꺼졌어요. 연락 주세요 010-2345-6789",
        "email": "citizen@example.com",
        "first_name": "민수",
        "last_name": "김",
    }
    fields.update(form)
    return requests.post(f"{root}/requests.{fmt}", data={k: v for k, v in fields.items() if v is not None}, timeout=10)


async def test_services_and_definitions_in_json_and_xml(intake_http: str) -> None:
    json_client = GeoReport(intake_http)
    xml_client = GeoReport(intake_http, output_format="xml")
    services = await asyncio.to_thread(json_client.get_service_list)
    xml_services = await asyncio.to_thread(xml_client.get_service_list)
    definition = await asyncio.to_thread(json_client.get_service_definition, "flooding")
    xml_definition = await asyncio.to_thread(xml_client.get_service_definition, "flooding")
    codes = {s["service_code"] for s in services}
    assert {"streetlight", "flooding", "road-damage"} <= codes
    assert {s["service_code"] for s in xml_services} == codes
    assert all(s["type"] == "realtime" for s in services)
    assert definition["service_code"] == "flooding"
    assert "water_depth" in [a["code"] for a in definition["attributes"]]
    assert xml_definition["service_code"] == "flooding"
    missing = await asyncio.to_thread(requests.get, f"{intake_http}/services/no-such.json", timeout=10)
    assert missing.status_code == 404 and "service_code" in missing.json()[0]["description"]


async def test_post_then_read_back_with_the_client(intake_http: str, fresh_stack: Stack) -> None:
    created = await asyncio.to_thread(post, intake_http)
    assert created.status_code == 200, created.text
    request_id = created.json()[0]["service_request_id"]
    created_xml = await asyncio.to_thread(post, intake_http, "xml", description="두 번째 가로등도 꺼졌어요")
    assert created_xml.status_code == 200 and created_xml.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    xml_id = created_xml.text.split("<service_request_id>")[1].split("<")[0]
    await stored(fresh_stack, request_id, xml_id)
    client = GeoReport(intake_http)
    one = await asyncio.to_thread(client.get_service_request, request_id)
    one_xml = await asyncio.to_thread(GeoReport(intake_http, output_format="xml").get_service_request, request_id)
    assert one["service_request_id"] == request_id and one["status"] == "open"
    assert one["service_code"] == "streetlight" and abs(one["lat"] - 37.5663) < 1e-9
    assert one_xml["service_request_id"] == request_id
    # Personal data never leaves: not the contact, and not the text before moderation has published it.
    assert one["description"] == ""
    shown = json.dumps(one, ensure_ascii=False) + json.dumps(one_xml, ensure_ascii=False)
    assert "citizen@example.com" not in shown and "2345-6789" not in shown and "김민수" not in shown
    rows = await sql(
        fresh_stack,
        "SELECT s.channel, s.district_code, c.sealed FROM submissions s"
        " JOIN reporter_contacts c ON c.submission_id = s.id WHERE s.tracking_id = $1",
        request_id,
        schema="intake",
    )
    assert rows[0]["channel"] == "open311" and rows[0]["district_code"] == "11140"
    assert b"citizen@example.com" not in bytes(rows[0]["sealed"])

    # The public list shows moderated requests only; filters by status and service_code work.
    await sql(fresh_stack, "UPDATE submissions SET status = 'published'", schema="intake")
    await sql(
        fresh_stack,
        "UPDATE submissions SET status = 'resolved', closed_at = now() WHERE tracking_id = $1",
        request_id,
        schema="intake",
    )
    everything = await asyncio.to_thread(client.get_service_requests)
    closed = await asyncio.to_thread(client.get_service_requests, status="closed")
    open_ = await asyncio.to_thread(client.get_service_requests, status="open", service_code="streetlight")
    other = await asyncio.to_thread(client.get_service_requests, service_code="garbage")
    assert len(everything) == 2
    assert [r["service_request_id"] for r in closed] == [request_id]
    assert len(open_) == 1 and open_[0]["service_request_id"] != request_id
    assert other == []


@pytest.mark.parametrize(
    ("form", "status", "field"),
    [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"lat": "north"}, 400, "lat"),
        ({"lat": "35.1796", "long": "129.0756"}, 400, "lat"),  # Busan: outside the service area
        ({"service_code": "nope"}, 400, "service_code"),
        ({"description": ""}, 400, "description"),
        ({"description": "가" * 4001}, 400, "description"),
        ({"service_code": "flooding"}, 400, "attribute[water_depth]"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ],
)
async def test_bad_posts_get_open311_errors_naming_the_field(
    intake_http: str, fresh_stack: Stack, form: dict[str, Any], status: int, field: str
) -> None:
    reply = await asyncio.to_thread(post, intake_http, **form)
    reply_xml = await asyncio.to_thread(post, intake_http, "xml", **form)
    assert reply.status_code == status
    assert any(e["description"].startswith(field) for e in reply.json()), reply.text
    assert reply_xml.status_code == status and "<errors>" in reply_xml.text and field in reply_xml.text
    rows = await sql(fresh_stack, "SELECT count(*) AS n FROM submissions", schema="intake")
    assert rows[0]["n"] == 0


async def test_bad_queries_are_400_and_unknown_ids_404(intake_http: str) -> None:
    bad_date = await asyncio.to_thread(requests.get, f"{intake_http}/requests.json?start_date=yesterday", timeout=10)
    bad_status = await asyncio.to_thread(requests.get, f"{intake_http}/requests.xml?status=pending", timeout=10)
    unknown = await asyncio.to_thread(requests.get, f"{intake_http}/requests/000000-NOTHERE.json", timeout=10)
    assert bad_date.status_code == 400 and bad_date.json()[0]["description"].startswith("start_date")
    assert bad_status.status_code == 400 and "status" in bad_status.text
    assert unknown.status_code == 404


PERSONAL = (
    "시청 앞 가로등이 꺼졌어요. 연락은 (010)2345-6789 또는 010 - 2345 - 6789, 010ㆍ2345ㆍ6789,"
    " 공일공 이삼사오 육칠팔구 로 주세요. 저희 집은 세종대로 12 301동 1203호, 메일 minsu.kim@example.com"
)
LEAKS = ("2345", "6789", "이삼사오", "육칠팔구", "301동", "1203호", "세종대로 12", "minsu.kim")
SPAM = "최저가 대출 상담은 오픈채팅 open.kakao.com/o/abc123 으로 오세요"


def citizen(stack: Stack, subject: str) -> tuple[tuple[str, str], ...]:
    assert stack.state is not None
    return (("authorization", "Bearer " + auth.issue(stack.state.jwt_secret, subject, ["citizen"])),)


async def test_public_views_show_what_moderation_published_and_nothing_before(
    intake_http: str, fresh_stack: Stack
) -> None:
    """Issue 10 item 5: before moderation decides, the public (Open311, other citizens) reads nothing of the text;
    afterwards exactly moderation's masked text; a removed submission's text never; author and operators the
    original throughout."""
    fresh_stack.start_services(("intake-api",), say=False)  # beside the fixture's intake-http and intake-worker
    author, other, operator = (
        citizen(fresh_stack, "citizen-author"),
        citizen(fresh_stack, "citizen-other"),
        token(fresh_stack, "operator"),
    )
    async with channel(fresh_stack, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        ids = {}
        for name, text in (("personal", PERSONAL), ("spam", SPAM)):
            reply = await stub.SubmitReport(
                pb.SubmitReportRequest(
                    kind=types.SUBMISSION_KIND_REPORT,
                    text=text,
                    category="streetlight",
                    point=geo_pb2.GeoPoint(lat=37.5663, lng=126.9779),
                    channel="app",
                ),
                metadata=author,
            )
            ids[name] = reply.tracking_id
        await stored(fresh_stack, *ids.values())

        async def text_for(who: tuple[tuple[str, str], ...], name: str) -> str:
            found = await stub.GetSubmission(pb.GetSubmissionRequest(tracking_id=ids[name]), metadata=who)
            return found.submission.text

        def open311(name: str, fmt: str = "json") -> requests.Response:
            return requests.get(f"{intake_http}/requests/{ids[name]}.{fmt}", timeout=10)

        # Before moderation has decided (its worker is not even running): nothing public.
        assert await text_for(other, "personal") == ""
        assert await text_for(author, "personal") == PERSONAL
        assert await text_for(operator, "personal") == PERSONAL
        before = await asyncio.to_thread(open311, "personal")
        assert before.status_code == 200 and before.json()[0]["description"] == ""
        listing = await asyncio.to_thread(requests.get, f"{intake_http}/requests.json", timeout=10)
        assert ids["personal"] not in listing.text
        assert not any(leak in before.text + listing.text for leak in LEAKS)

        fresh_stack.start_services(("moderation-worker",), say=False)

        async def moderated() -> bool:
            shown = {
                name: (await stub.GetSubmission(pb.GetSubmissionRequest(tracking_id=i), metadata=operator)).submission
                for name, i in ids.items()
            }
            return (
                shown["personal"].status == types.SUBMISSION_STATUS_PUBLISHED
                and shown["spam"].status == types.SUBMISSION_STATUS_REMOVED
            )

        await eventually(moderated, timeout=120)
        rows = await sql(
            fresh_stack,
            "SELECT tracking_id, id::text AS id FROM submissions WHERE tracking_id = ANY($1)",
            list(ids.values()),
            schema="intake",
        )
        content = {r["tracking_id"]: r["id"] for r in rows}
        decision = await sql(
            fresh_stack,
            "SELECT masked_text, action, evidence FROM decisions WHERE content_id = $1",
            content[ids["personal"]],
            schema="moderation",
        )
        masked = decision[0]["masked_text"]
        assert decision[0]["action"] == "publish" and masked != PERSONAL and len(masked) == len(PERSONAL)
        assert not any(leak in masked for leak in LEAKS), masked

        # After: exactly moderation's masked text for the public; the original for its author and operators.
        assert await text_for(other, "personal") == masked
        assert await text_for(author, "personal") == PERSONAL
        assert await text_for(operator, "personal") == PERSONAL
        after = await asyncio.to_thread(open311, "personal")
        after_xml = await asyncio.to_thread(open311, "personal", "xml")
        assert after.json()[0]["description"] == masked
        assert after_xml.status_code == 200 and masked in after_xml.text
        listing = await asyncio.to_thread(requests.get, f"{intake_http}/requests.json", timeout=10)
        listed = {r["service_request_id"]: r for r in listing.json()}
        assert listed[ids["personal"]]["description"] == masked
        assert not any(leak in after.text + after_xml.text + listing.text for leak in LEAKS)

        # Removed: its text reaches no one but its author and operators.
        assert await text_for(other, "spam") == ""
        assert await text_for(author, "spam") == SPAM
        assert (await asyncio.to_thread(open311, "spam")).status_code == 404
        assert ids["spam"] not in listing.text and "open.kakao.com" not in listing.text
