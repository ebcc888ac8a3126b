"""Every HTTP adapter against a provider that answers anything: random statuses, bodies that are not JSON, JSON of
the wrong shape, fields missing, fewer results than targets, NUL and line breaks in error texts, dropped
connections. Whatever comes back, `Route.deliver` ends every target as delivered, failed or dead, and no exception
escapes: one provider's odd answer is a failed delivery or a dead letter, never a dead process.

A real HTTP server plays the provider (aiohttp on a free port); hypothesis chooses its answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_publishing.delivery import Outcome, Route
from sotong_publishing.providers.base import Job, MemoryRefs, Provider
from sotong_publishing.providers.chat import ChatProvider
from sotong_publishing.providers.kakao_bot import KakaoBotProvider
from sotong_publishing.providers.notice import NoticeProvider
from sotong_publishing.providers.pager import PagerProvider
from sotong_publishing.providers.push import PushProvider
from sotong_publishing.providers.sens import KakaoProvider, SmsProvider
from sotong_publishing.providers.sns import SnsProvider
from sotong_publishing.retry import Backoff

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Shapes close to the real answers (so the deeper parsing paths run) and anything at all.
plausible = st.one_of(
    st.fixed_dictionaries({"responses": st.lists(json_values, max_size=5), "failureCount": json_values}),
    st.fixed_dictionaries({"messages": json_values}),
    st.fixed_dictionaries(
        {"messages": st.lists(st.fixed_dictionaries({"to": json_values, "requestStatusCode": json_values}), max_size=4)}
    ),
    st.fixed_dictionaries({"notice": json_values}),
    st.fixed_dictionaries({"conversation": json_values}),
    st.fixed_dictionaries({"data": json_values}),
    st.fixed_dictionaries({"status": st.sampled_from(["SUCCESS", "FAIL", "ERROR", "?"]) | json_values}),
    json_values,
)
answers = st.fixed_dictionaries(
    {
        "status": st.sampled_from([200, 201, 202, 204, 400, 401, 404, 408, 409, 422, 429, 500, 502, 503, 504]),
        "body": st.one_of(
            plausible.map(lambda v: json.dumps(v).encode()),
            st.binary(max_size=40),
            st.text(max_size=40).map(lambda t: (t + "\x00\r\nX-Injected: 1").encode()),
        ),
        "retry_after": st.none() | st.sampled_from(["0", "1", "abc", "-3", "1e9", "inf", "nan"]),
        "drop": st.booleans(),
    }
)


class Chaos:
    """An HTTP provider whose next answers are set by the test."""

    def __init__(self) -> None:
        self.script: list[dict[str, Any]] = []
        self.calls = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        answer = self.script[self.calls % len(self.script)]
        self.calls += 1
        if answer["drop"] and self.calls % 3 == 0:
            assert request.transport is not None
            request.transport.close()  # hang up without an answer
            return web.Response(status=200)
        headers = {"Retry-After": answer["retry_after"]} if answer["retry_after"] is not None else {}
        return web.Response(status=answer["status"], body=answer["body"], headers=headers)


@pytest.fixture(scope="module")
async def chaos() -> AsyncIterator[tuple[Chaos, str]]:
    provider = Chaos()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", provider.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield provider, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def adapters(url: str) -> list[Provider]:
    common: dict[str, Any] = {"timeout_s": 2.0}
    return [
        ChatProvider("chat", url, "t", **common),
        PagerProvider("pager", url, "t", "k" * 32, **common),
        NoticeProvider("notice", url, "t", MemoryRefs(), "부서", **common),
        SnsProvider("sns", url, "t", **common),
        PushProvider("push", url, "t", "p", **common),
        SmsProvider("sms", url, "t", "svc", "0221330000", **common),
        KakaoProvider("kakao", url, "t", "svc", "@seoul", **common),
        KakaoBotProvider("kakao_bot", url, "t", "bot", "sotong_message", **common),
    ]


def job(kind: str) -> Job:
    dispatch = pb.DispatchRequested(
        dispatch_id="fuzz-1",
        message_id="m",
        thread_id="INC-F",
        purpose="stage2",
        audience=pb.Audience(targets=["officer-1", "officer-2"]),
        renderings=[pb.Rendering(language="ko", title="[호우]\r\n경보", body="하천변 접근 금지", template_code="T")],
    )
    return Job(dispatch)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(answers, min_size=1, max_size=4))
async def test_whatever_a_provider_answers_every_target_ends_delivered_failed_or_dead(
    chaos: tuple[Chaos, str], script: list[dict[str, Any]]
) -> None:
    provider, url = chaos
    provider.script = script
    provider.calls = 0
    for adapter in adapters(url):
        route = Route(adapter, None, Backoff(0.001, 0.002, 3), breaker_failures=100, max_hold_s=0.05)
        targets = ["0101111222" + str(n) for n in range(min(3, adapter.max_batch))]
        try:
            # Bounded: an answer that stalls the route (a Retry-After of 10^9 s once did) fails here, not by a hang.
            outcomes = await asyncio.wait_for(route.deliver(job(adapter.kind), targets), timeout=20)
        finally:
            await route.close()
        assert sorted(o.target for o in outcomes) == sorted(targets), adapter.kind
        assert all(o.outcome in (Outcome.DELIVERED, Outcome.FAILED, Outcome.DEAD) for o in outcomes), adapter.kind
