"""The news-app push stand-in: FCM-shaped single sends and the 500-item batch and multicast APIs."""

from __future__ import annotations

from typing import Any

import aiohttp

from sotong_standins.control import StandinControl

BASE = "/push/v1/projects/seoul-news-app/messages"
NOTE = {"title": "[서울시] 지진", "body": "탁자 밑으로 대피하세요."}


def item(i: int, token: str | None = None) -> dict[str, Any]:
    return {"idempotency_key": f"inc-1:push:{i}", "message": {"token": token or f"tok-{i}", "notification": NOTE}}


async def batch(http: aiohttp.ClientSession, items: list[Any]) -> tuple[int, Any]:
    async with http.post(BASE + ":batchSend", json={"requests": items}) as response:
        return response.status, await response.json()


async def test_batch_returns_one_result_per_item_in_order(http: aiohttp.ClientSession, control: StandinControl) -> None:
    items = [item(i) for i in range(3)] + [item(3, token="stale:gone"), item(4)]
    status, body = await batch(http, items)
    assert status == 200
    assert body["successCount"] == 4
    assert body["failureCount"] == 1
    results = body["responses"]
    assert len(results) == 5
    assert results[0]["name"].startswith("projects/seoul-news-app/messages/")
    assert results[3]["error"]["code"] == 404
    assert results[3]["error"]["details"][0]["errorCode"] == "UNREGISTERED"
    stats = await control.provider_stats("push")
    assert stats["accepted"] == 4
    assert stats["item_failures"] == {"UNREGISTERED": 1}


async def test_retried_batch_is_acknowledged_without_second_delivery(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    items = [item(i) for i in range(500)]
    _, first = await batch(http, items)
    _, second = await batch(http, items)
    assert second["successCount"] == 500
    assert second["duplicateCount"] == 500
    assert [r["name"] for r in first["responses"]] == [r["name"] for r in second["responses"]]
    stats = await control.provider_stats("push")
    assert stats["accepted"] == 500
    assert stats["duplicates"] == 500
    assert stats["repeated_targets"] == 0


async def test_batch_over_500_or_malformed_is_a_400(http: aiohttp.ClientSession) -> None:
    status, body = await batch(http, [item(i) for i in range(501)])
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    for bad in (
        [{"message": {"token": "t", "notification": NOTE}}],  # no idempotency key
        [{"idempotency_key": "k", "message": {"notification": NOTE}}],  # no target
        [{"idempotency_key": "k", "message": {"token": "t", "topic": "x", "notification": NOTE}}],
        [{"idempotency_key": "k", "message": {"token": "t", "data": {"n": 1}}}],  # data values must be strings
        [{"idempotency_key": "k", "message": {"token": "t"}}],  # nothing to show
        [],
    ):
        status, _ = await batch(http, bad)
        assert status == 400, bad


async def test_item_failures_can_be_injected_for_partial_retry(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    await control.inject("push", item_fail_rate=0.3, seed=1)
    items = [item(i) for i in range(200)]
    _, body = await batch(http, items)
    failed = [i for i, r in enumerate(body["responses"]) if "error" in r]
    assert 20 < len(failed) < 100
    assert all(body["responses"][i]["error"]["status"] == "UNAVAILABLE" for i in failed)
    await control.inject("push", item_fail_rate=0.0)
    _, retry = await batch(http, [items[i] for i in failed])
    assert retry["successCount"] == len(failed)
    stats = await control.provider_stats("push")
    assert stats["accepted"] == 200
    assert stats["duplicates"] == 0


async def test_multicast_keys_each_token_under_the_request_key(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    body = {"tokens": ["a", "b", "stale:c"], "message": {"notification": NOTE}}
    for _ in range(2):
        async with http.post(BASE + ":multicast", json=body, headers={"Idempotency-Key": "inc-1:m"}) as r:
            answer = await r.json()
            assert r.status == 200
            assert answer["successCount"] == 2
    stats = await control.provider_stats("push")
    assert stats["accepted"] == 2
    assert stats["duplicates"] == 2
    keys = sorted(d["key"] for d in await control.deliveries("push"))
    assert keys == ["inc-1:m:a", "inc-1:m:b"]


async def test_single_send_and_topic(http: aiohttp.ClientSession, control: StandinControl) -> None:
    message = {"message": {"topic": "district-jongno", "notification": NOTE}}
    async with http.post(BASE + ":send", json=message, headers={"Idempotency-Key": "s1"}) as r:
        assert r.status == 200
        assert (await r.json())["name"].startswith("projects/seoul-news-app/messages/")
    deliveries = await control.deliveries("push", target="topic:district-jongno")
    assert deliveries[0]["text"] == "[서울시] 지진\n탁자 밑으로 대피하세요."
