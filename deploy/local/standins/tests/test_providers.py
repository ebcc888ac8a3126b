"""Each provider's own request shape, validation and error body, over real HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sotong_standins.control import StandinControl
from sotong_standins.providers.sns import x_weighted_length

ROUTING_KEY = "R" * 32


async def call(
    http: aiohttp.ClientSession, path: str, body: Any, key: str | None = "k1", method: str = "POST"
) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    async with http.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


# --- group chat (KakaoWork-like) ---------------------------------------------------------------------------


async def test_chat_opens_a_room_once_and_posts_into_it(http: aiohttp.ClientSession, control: StandinControl) -> None:
    room = {"user_ids": [11, 12, 13], "conversation_name": "지진 대응반"}
    status, first = await call(http, "/chat/v1/conversations.open", room, key="inc-1:room")
    assert status == 200 and first["success"] is True
    _, again = await call(http, "/chat/v1/conversations.open", room, key="inc-1:room")
    assert again["conversation"]["id"] == first["conversation"]["id"]
    conversation_id = first["conversation"]["id"]
    status, sent = await call(
        http, "/chat/v1/messages.send", {"conversation_id": conversation_id, "text": "상황실 개설"}, key="inc-1:m1"
    )
    assert status == 200 and sent["message"]["text"] == "상황실 개설"
    stats = await control.provider_stats("chat")
    assert stats["extra"] == {"conversations": 1}
    assert stats["accepted"] == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"conversation_id": "1"}, 400, "missing_parameter"),
        ({"text": "x"}, 400, "missing_parameter"),
        ({"conversation_id": "999", "text": "x"}, 404, "conversation_not_found"),
        ({"conversation_id": "1", "text": "x" * 4001}, 400, "invalid_parameter"),
    ],
)
async def test_chat_validation(http: aiohttp.ClientSession, body: Any, status: int, code: str) -> None:
    got, answer = await call(http, "/chat/v1/messages.send", body)
    assert got == status
    assert answer == {"success": False, "error": {"code": code, "message": answer["error"]["message"]}}


# --- pager (PagerDuty Events v2-like) ----------------------------------------------------------------------


def trigger(dedup_key: str) -> dict[str, Any]:
    return {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": "규모 5.1 지진", "source": "sotong-alerting", "severity": "critical"},
    }


async def test_pager_trigger_then_acknowledge(http: aiohttp.ClientSession, control: StandinControl) -> None:
    status, body = await call(http, "/pager/v2/enqueue", trigger("inc-1"), key="inc-1:page:duty")
    assert (status, body["status"], body["dedup_key"]) == (202, "success", "inc-1")
    await call(http, "/pager/v2/enqueue", trigger("inc-1"), key="inc-1:page:duty")  # retry
    ack = {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "inc-1"}
    status, _ = await call(http, "/pager/v2/enqueue", ack, key="inc-1:ack")
    assert status == 202
    stats = await control.provider_stats("pager")
    assert stats["extra"] == {"incidents": {"acknowledged": 1}}
    assert stats["duplicates"] == 1


async def test_pager_invalid_event_lists_every_problem(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "/pager/v2/enqueue", {"routing_key": "short", "event_action": "trigger"})
    assert status == 400
    assert body["status"] == "invalid event"
    assert len(body["errors"]) >= 2


# --- complaint portal notice board ---------------------------------------------------------------------------


async def test_notice_posts_and_reads_back(http: aiohttp.ClientSession) -> None:
    notice = {
        "title": "지진 긴급 안내",
        "content": "시민 여러분은 안전한 곳으로 대피하시기 바랍니다.",
        "category": "disaster",
        "department": "안전총괄실",
        "feedback_open": True,
    }
    status, body = await call(http, "/eungdapso/api/v1/notices", notice)
    assert status == 201 and body["resultCode"] == "00"
    notice_id = body["notice"]["notice_id"]
    status, read = await call(http, f"/eungdapso/api/v1/notices/{notice_id}", None, method="GET")
    assert status == 200 and read["notice"]["title"] == "지진 긴급 안내"
    update = notice | {"category": "update", "refers_to": notice_id}
    assert (await call(http, "/eungdapso/api/v1/notices", update, key="k2"))[0] == 201


@pytest.mark.parametrize(
    "body",
    [
        {"content": "c", "category": "disaster", "department": "d"},
        {"title": "t" * 101, "content": "c", "category": "disaster", "department": "d"},
        {"title": "t", "content": "c", "category": "gossip", "department": "d"},
        {"title": "t", "content": "c", "category": "cancel", "department": "d", "refers_to": "N404"},
    ],
)
async def test_notice_validation(http: aiohttp.ClientSession, body: Any) -> None:
    status, answer = await call(http, "/eungdapso/api/v1/notices", body)
    assert status == 400
    assert answer["resultCode"] == "E400"


# --- SNS (Graph-like) ----------------------------------------------------------------------------------------


async def test_sns_posts_for_registered_accounts_only(http: aiohttp.ClientSession, control: StandinControl) -> None:
    status, body = await call(http, "/sns/v19.0/gangnam-gu/feed", {"message": "강남구 대피소 안내"})
    assert status == 200 and body["id"].startswith("gangnam-gu_")
    status, body = await call(http, "/sns/v19.0/not-an-account/feed", {"message": "x"}, key="k2")
    assert status == 404 and body["error"]["type"] == "GraphMethodException"
    async with http.get("/sns/v19.0/accounts") as response:
        assert len((await response.json())["data"]) >= 150


async def test_sns_x_counts_hangul_double(http: aiohttp.ClientSession) -> None:
    assert x_weighted_length("가" * 140) == 280
    assert x_weighted_length("see https://seoul.go.kr/a/very/long/path") == 4 + 23
    assert (await call(http, "/sns/v19.0/seoul_x/feed", {"message": "가" * 140}))[0] == 200
    status, body = await call(http, "/sns/v19.0/seoul_x/feed", {"message": "가" * 141}, key="k2")
    assert status == 400 and body["error"]["code"] == 100
    assert (await call(http, "/sns/v19.0/seoul/feed", {}, key="k3"))[0] == 400


# --- KakaoTalk channel (SENS alimtalk-like) ---------------------------------------------------------------


def alimtalk(messages: list[dict[str, Any]], template: str = "SOTONG_NOTICE") -> dict[str, Any]:
    return {"plusFriendId": "@seoul", "templateCode": template, "messages": messages}


async def test_alimtalk_renders_variables_and_reports_per_recipient(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    variables = {"title": "폭염 경보", "body": "외출을 자제하세요."}
    messages: list[dict[str, Any]] = [
        {"to": "01011112222", "variables": variables},
        {"to": "010-bad", "variables": variables},
        {"to": "01033334444", "variables": {"title": "only title"}},
        {"to": "01055556666", "content": "[서울특별시 알림]\n폭염 경보\n\n외출을 자제하세요."},
        {"to": "01077778888", "content": "아무 내용"},
    ]
    status, body = await call(http, "/kakao/alimtalk/v2/services/svc/messages", alimtalk(messages))
    assert status == 202
    codes = [m["requestStatusCode"] for m in body["messages"]]
    assert codes == ["A000", "E101", "E102", "A000", "E103"]
    assert body["messages"][0]["content"] == "[서울특별시 알림]\n폭염 경보\n\n외출을 자제하세요."
    stats = await control.provider_stats("kakao")
    assert stats["accepted"] == 2
    assert stats["item_failures"] == {"E101": 1, "E102": 1, "E103": 1}


async def test_kakao_request_level_validation(http: aiohttp.ClientSession) -> None:
    many = [{"to": f"010{i:08d}", "variables": {"title": "t", "body": "b"}} for i in range(101)]
    assert (await call(http, "/kakao/alimtalk/v2/services/svc/messages", alimtalk(many)))[0] == 400
    unknown = alimtalk([{"to": "01011112222"}], template="NOPE")
    status, body = await call(http, "/kakao/alimtalk/v2/services/svc/messages", unknown)
    assert status == 400 and body["error"]["errorCode"] == "400"
    friend = {"plusFriendId": "@seoul", "messages": [{"to": "01011112222", "content": "친구톡"}]}
    assert (await call(http, "/kakao/friendtalk/v2/services/svc/messages", friend))[0] == 202


# --- SMS (SENS-like) ---------------------------------------------------------------------------------------


def sms(content: str, kind: str = "SMS", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "from": "0221330000", "content": content, "messages": [{"to": "01012345678"}]} | extra


async def test_sms_counts_euc_kr_bytes(http: aiohttp.ClientSession, control: StandinControl) -> None:
    assert (await call(http, "/sms/v2/services/svc/messages", sms("가" * 45)))[0] == 202  # 90 bytes
    status, body = await call(http, "/sms/v2/services/svc/messages", sms("가" * 46), key="k2")
    assert status == 400 and "90-byte" in body["error"]["message"]
    lms = sms("가" * 1000, "LMS", subject="재난 안내")
    assert (await call(http, "/sms/v2/services/svc/messages", lms, key="k3"))[0] == 202
    assert (await call(http, "/sms/v2/services/svc/messages", sms("가" * 1001, "LMS"), key="k4"))[0] == 400
    stats = await control.provider_stats("sms")
    assert stats["extra"]["by_type"] == {"SMS": 1, "LMS": 1}


@pytest.mark.parametrize(
    "body",
    [
        sms("emoji 🔥"),
        sms("x", kind="FAX"),
        sms("x") | {"from": "0101234"},
        sms("x") | {"messages": [{"to": "010-1234-5678"}]},
        sms("x", subject="subject on SMS"),
        sms("x") | {"messages": [{"to": "01012345678"}] * 101},
        sms(""),
    ],
)
async def test_sms_validation(http: aiohttp.ClientSession, body: Any) -> None:
    status, answer = await call(http, "/sms/v2/services/svc/messages", body)
    assert status == 400
    assert answer["error"]["errorCode"] == "400"


async def test_sms_recipients_are_deliveries_keyed_per_number(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    body = sms("대피 안내") | {"messages": [{"to": "01000000001"}, {"to": "01000000002"}]}
    for _ in range(2):
        assert (await call(http, "/sms/v2/services/svc/messages", body, key="inc-1:sms"))[0] == 202
    stats = await control.provider_stats("sms")
    assert (stats["accepted"], stats["duplicates"]) == (2, 2)
    targets = sorted(d["target"] for d in await control.deliveries("sms"))
    assert targets == ["01000000001", "01000000002"]


async def test_sms_key_reused_for_other_text_refuses_the_whole_request(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    first = sms("첫 안내") | {"messages": [{"to": "01000000001"}]}
    second = sms("다른 안내") | {"messages": [{"to": "01000000002"}, {"to": "01000000001"}]}
    assert (await call(http, "/sms/v2/services/svc/messages", first, key="same"))[0] == 202
    assert (await call(http, "/sms/v2/services/svc/messages", second, key="same"))[0] == 422
    stats = await control.provider_stats("sms")
    assert stats["accepted"] == 1  # nothing of the refused request was recorded


# --- KakaoTalk chatbot (Open Builder event API) -------------------------------------------------------------------


def talk(
    users: list[str], text: str = "[서울시] 민원이 접수되었습니다.", event: str = "sotong_message"
) -> dict[str, Any]:
    return {
        "event": {"name": event, "data": {"text": text}},
        "user": [{"type": "botUserKey", "id": u, "properties": {}} for u in users],
        "params": {},
    }


async def test_kakao_bot_messages_each_user_once_per_key(http: aiohttp.ClientSession, control: StandinControl) -> None:
    path = "/kakao-bot/v2/bots/sotong-seoul-bot/talk"
    status, body = await call(http, path, talk(["bot-user-1", "bot-user-2"]), key="reply-1")
    assert status == 200 and body["status"] == "SUCCESS" and body["taskId"]
    status, _ = await call(http, path, talk(["bot-user-1", "bot-user-2"]), key="reply-1")  # a retry
    assert status == 200
    stats = await control.provider_stats("kakao_bot")
    assert stats["accepted"] == 2 and stats["duplicates"] == 2 and stats["extra"]["by_event"] == {"sotong_message": 2}
    keys = {d["key"] for d in await control.deliveries("kakao_bot")}
    assert keys == {"reply-1:bot-user-1", "reply-1:bot-user-2"}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/kakao-bot/v2/bots/another-bot/talk", talk(["u"]), 404),
        ("/kakao-bot/v2/bots/sotong-seoul-bot/talk", talk(["u"], event="unregistered"), 400),
        ("/kakao-bot/v2/bots/sotong-seoul-bot/talk", talk(["u"], text=""), 400),
        ("/kakao-bot/v2/bots/sotong-seoul-bot/talk", talk(["u"], text="가" * 1001), 400),
        ("/kakao-bot/v2/bots/sotong-seoul-bot/talk", talk([f"u{n}" for n in range(101)]), 400),
        ("/kakao-bot/v2/bots/sotong-seoul-bot/talk", talk([]), 400),
        ("/kakao-bot/v2/bots/sotong-seoul-bot/talk", talk(["line\nbreak"]), 400),
    ],
)
async def test_kakao_bot_refuses_what_kakao_refuses(
    http: aiohttp.ClientSession, path: str, body: Any, status: int
) -> None:
    assert (await call(http, path, body))[0] == status
