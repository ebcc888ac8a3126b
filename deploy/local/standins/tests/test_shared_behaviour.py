"""What every provider shares: idempotency, auth, rate limits, injected outages and drops, the control API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from sotong_standins.control import StandinControl, StandinControlError
from sotong_standins.server import Settings, StandinServer

from .conftest import TOKEN

POST_URL = "/sns/v19.0/seoul/feed"


async def post(http: aiohttp.ClientSession, key: str | None, message: str = "지진 발생") -> aiohttp.ClientResponse:
    headers = {"Idempotency-Key": key} if key else {}
    async with http.post(POST_URL, json={"message": message}, headers=headers) as response:
        await response.read()
        return response


async def test_repeated_key_is_acknowledged_but_counted_once(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    answers = []
    for _ in range(3):
        async with http.post(POST_URL, json={"message": "대피하세요"}, headers={"Idempotency-Key": "k1"}) as r:
            assert r.status == 200
            answers.append(await r.json())
    assert answers[0] == answers[1] == answers[2]  # a retry gets the original answer
    stats = (await control.stats())["sns"]
    assert stats["accepted"] == 1
    assert stats["unique_keys"] == 1
    assert stats["duplicates"] == 2
    assert stats["repeated_targets"] == 0
    deliveries = await control.deliveries("sns")
    assert [(d["key"], d["target"], d["text"]) for d in deliveries] == [("k1", "seoul", "대피하세요")]


async def test_new_key_for_same_message_counts_as_repeated_target(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    assert (await post(http, "a")).status == 200
    assert (await post(http, "b")).status == 200
    stats = await control.provider_stats("sns")
    assert stats["accepted"] == 2
    assert stats["repeated_targets"] == 1


async def test_key_reused_for_different_text_is_refused(http: aiohttp.ClientSession, control: StandinControl) -> None:
    assert (await post(http, "same", "first")).status == 200
    assert (await post(http, "same", "second")).status == 422
    stats = await control.provider_stats("sns")
    assert stats["key_conflicts"] == 1
    assert stats["accepted"] == 1


async def test_missing_idempotency_key_is_a_400(http: aiohttp.ClientSession) -> None:
    async with http.post(POST_URL, json={"message": "x"}) as response:
        assert response.status == 400


@pytest.mark.parametrize("auth", [None, "Bearer wrong", TOKEN])
async def test_requests_without_the_bearer_token_are_401(
    base_url: str, control: StandinControl, auth: str | None
) -> None:
    headers = {"Idempotency-Key": "k"} | ({"Authorization": auth} if auth else {})
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + POST_URL, json={"message": "x"}, headers=headers) as response,
    ):
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        body = await response.json()
    assert body["error"]["code"] == 190  # the Graph API's invalid-token code
    assert (await control.provider_stats("sns"))["rejected"] == {"401": 1}


async def test_rate_limit_answers_429_with_retry_after(http: aiohttp.ClientSession, control: StandinControl) -> None:
    await control.inject("sns", rate_limit_per_s=2, burst=2)
    statuses = [(await post(http, f"rl-{i}", f"m{i}")).status for i in range(5)]
    assert statuses[:2] == [200, 200]
    assert statuses[2:] == [429, 429, 429]
    async with http.post(POST_URL, json={"message": "x"}, headers={"Idempotency-Key": "late"}) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1
    stats = await control.provider_stats("sns")
    assert stats["rejected"]["429"] == 4
    assert stats["accepted"] == 2


async def test_injected_outage_then_recovery_after_duration(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    await control.inject("sms", fail_status=503, fail_rate=1.0, duration_s=0.6)
    body = {"type": "SMS", "from": "0221330000", "content": "한강 범람 주의", "messages": [{"to": "01012345678"}]}
    async with http.post("/sms/v2/services/svc/messages", json=body, headers={"Idempotency-Key": "o1"}) as r:
        assert r.status == 503
        assert int(r.headers["Retry-After"]) >= 1
        assert (await r.json())["error"]["errorCode"] == "503"
    await asyncio.sleep(0.7)
    async with http.post("/sms/v2/services/svc/messages", json=body, headers={"Idempotency-Key": "o1"}) as r:
        assert r.status == 202
    stats = await control.provider_stats("sms")
    assert stats["rejected"] == {"503": 1}
    assert stats["accepted"] == 1
    assert stats["faults"]["fail_rate"] == 0.0


async def test_seeded_faults_fail_the_same_requests_every_time(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    async def run() -> list[int]:
        await control.reset()
        await control.inject("sns", fail_rate=0.5, seed=42)
        return [(await post(http, f"s{i}", f"m{i}")).status for i in range(20)]

    first = await run()
    second = await run()
    assert first == second
    assert 200 in first and 503 in first


async def test_dropped_connection_after_delivery_is_a_duplicate_on_retry(
    http: aiohttp.ClientSession, control: StandinControl
) -> None:
    await control.inject("sns", drop_rate=1.0)
    with pytest.raises(aiohttp.ClientError):
        await post(http, "drop-1", "정전 안내")
    await control.inject("sns", drop_rate=0.0)
    assert (await post(http, "drop-1", "정전 안내")).status == 200
    stats = await control.provider_stats("sns")
    assert stats["dropped"] == 1
    assert stats["accepted"] == 1
    assert stats["duplicates"] == 1


async def test_injected_latency_delays_answers(http: aiohttp.ClientSession, control: StandinControl) -> None:
    await control.inject("sns", latency_ms=150)
    started = time.perf_counter()
    assert (await post(http, "slow")).status == 200
    assert time.perf_counter() - started >= 0.14


async def test_reset_forgets_deliveries_and_faults(http: aiohttp.ClientSession, control: StandinControl) -> None:
    await control.inject("all", latency_ms=1)
    assert (await post(http, "r1")).status == 200
    await control.reset()
    stats = await control.stats()
    assert stats["sns"]["accepted"] == 0
    assert stats["sns"]["requests"] == 0
    assert all(s["faults"]["latency_ms"] == 0 for s in stats.values())
    assert await control.deliveries("sns") == []


async def test_stats_cover_every_provider(control: StandinControl) -> None:
    stats = await control.stats()
    assert set(stats) == {"chat", "pager", "notice", "sns", "push", "kakao", "sms", "kakao_bot", "mail"}
    assert await control.health()


@pytest.mark.parametrize(
    "plan",
    [{"fail_status": 418}, {"fail_rate": 2}, {"nonsense": 1}, {"duration_s": -1}, {"latency_ms": "slow"}],
)
async def test_control_rejects_bad_fault_plans(control: StandinControl, plan: dict[str, Any]) -> None:
    with pytest.raises(StandinControlError, match="400"):
        await control._call("POST", "/sns", json=plan)


async def test_control_unknown_provider_is_404(control: StandinControl) -> None:
    with pytest.raises(StandinControlError, match="404"):
        await control.inject("fax", fail_rate=1.0)


async def test_realistic_limits_and_base_settings_apply_from_the_start() -> None:
    settings = Settings(
        http_port=0, smtp=False, token=None, realistic_limits=True, overrides={"sns": {"rate_limit_per_s": 1}}
    )
    standins = StandinServer(settings)
    ports = await standins.start()
    try:
        async with StandinControl(f"http://127.0.0.1:{ports.http}") as control:
            stats = await control.stats()
        assert "mail" not in stats
        assert stats["pager"]["faults"]["rate_limit_per_s"] == 2.0
        assert stats["push"]["faults"]["rate_limit_per_s"] == 20.0
        assert stats["sns"]["faults"]["rate_limit_per_s"] == 1.0
        async with aiohttp.ClientSession(f"http://127.0.0.1:{ports.http}") as session:
            assert (await post(session, "a")).status == 200  # no token configured: auth is off
            assert (await post(session, "b", "other")).status == 429
    finally:
        await standins.stop()
