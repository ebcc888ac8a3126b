"""Status back to the citizen, end to end: a report filed through the KakaoTalk chatbot skill gets its "received"
and "resolved" messages at the chatbot stand-in, once each, through intake's outbox and the publishing service,
and the citizen's bot user key is never in clear on a topic, in a log line or in a span."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sotong.intake.v1 import intake_events_pb2 as ev
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong.publishing.v1 import publishing_events_pb2 as pub
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, read_all, token
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.e2e

BOT_USER = "kakao-botuser-7f3a9c1e5d"


@pytest.fixture()
def platform(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(say=False)
    return fresh_stack


def skill(utterance: str) -> dict[str, Any]:
    return {
        "userRequest": {
            "utterance": utterance,
            "user": {"id": BOT_USER, "type": "botUserKey", "properties": {}},
            "block": {"id": "b-report", "name": "불편 신고"},
        },
        "action": {"params": {"sys_location": "서울특별시 마포구 성산동"}},
        "bot": {"id": "sotong-seoul-bot"},
    }


async def test_a_chatbot_report_gets_received_and_resolved_once_each_and_its_contact_stays_sealed(
    platform: Stack,
) -> None:
    state = platform.state
    assert state is not None
    url = f"http://127.0.0.1:{state.http_ports['intake-http']}/kakao/skill"
    body = json.dumps(skill("성산동 사거리 신호등이 고장 나서 깜빡이지 않아요"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Sotong-Skill-Token": state.kakao_skill_token}
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # Kakao retries a slow skill call: the same report, one reply
            async with http.post(url, data=body, headers=headers) as reply:
                assert reply.status == 200
    base = f"http://127.0.0.1:{state.standins_ports['standins']['http']}"
    async with StandinControl(base) as standins:

        async def messages(count: int) -> list[Any] | None:
            found = await standins.deliveries("kakao_bot", target=BOT_USER)
            return found if len(found) >= count else None

        (received,) = await eventually(lambda: messages(1), timeout=90)
        assert "접수되었습니다" in received["text"]
        async with channel(platform, "intake-api") as ch:
            intake = pb_grpc.IntakeServiceStub(ch)
            operator = token(platform, "operator")
            listed = await intake.ListSubmissions(pb.ListSubmissionsRequest(channel="kakao"), metadata=operator)
            (mine,) = [s for s in listed.submissions if "신호등" in s.text]
            await intake.UpdateStatus(
                pb.UpdateStatusRequest(
                    tracking_id=mine.tracking_id, status=types.SUBMISSION_STATUS_RESOLVED, note="신호등을 수리했습니다."
                ),
                metadata=operator,
            )
        both = await eventually(lambda: messages(2), timeout=90)
        await asyncio.sleep(3)  # anything sent twice would arrive by now
        final = await standins.deliveries("kakao_bot", target=BOT_USER)
        assert len(final) == 2, "received and resolved, once each"
        assert "처리가 완료" in both[0]["text"] and mine.tracking_id in both[0]["text"]
        stats = (await standins.stats())["kakao_bot"]
        assert stats["repeated_targets"] == 0 and stats["key_conflicts"] == 0

    # The contact is sealed on the topic (the dispatch names it by its ref), and no log line or span shows it.
    requests = [pub.DispatchRequested.FromString(r.value) for r in read_all(platform, "intake.dispatch-requested.v1")]
    assert len(requests) == 2 and all(r.purpose == "status_reply" for r in requests)
    assert all(r.audience.sealed_targets and not r.audience.targets for r in requests)
    for topic in ("intake.dispatch-requested.v1", "publishing.delivery-reported.v1", "intake.submission-received.v1"):
        for record in read_all(platform, topic):
            assert BOT_USER.encode() not in record.value
    received_events = [
        ev.SubmissionReceived.FromString(r.value) for r in read_all(platform, "intake.submission-received.v1")
    ]
    (submission_id,) = {e.submission_id for e in received_events if e.tracking_id == mine.tracking_id}
    receipts = [pub.DeliveryReported.FromString(r.value) for r in read_all(platform, "publishing.delivery-reported.v1")]
    mine_receipts = [r for r in receipts if r.requester == "intake"]
    assert {r.target for r in mine_receipts} == {f"intake:contact:{submission_id}"}
    run = Path(state.run_dir)
    for log in (run / "logs").glob("*.log"):
        if log.name.startswith("standins"):
            continue  # the provider stand-in is the citizen's phone: it must see the key
        assert BOT_USER not in log.read_text(errors="replace"), log.name
    assert BOT_USER not in Path(state.trace_file).read_text()
