"""The real dispatch process against providers that answer anything (issue 10, item 1): random statuses, bodies
that are not JSON, JSON of any shape, dropped connections, on every HTTP channel at once. The process stays up,
and every dispatch ends with every target delivered, failed or dead-lettered (receipts), or the dispatch in the
dead-letter topic; the channels keep going for the dispatches after."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, read_all

pytestmark = pytest.mark.reliability

CHANNELS = {
    "chat": pb.CHANNEL_GROUP_CHAT,
    "pager": pb.CHANNEL_PAGER,
    "notice": pb.CHANNEL_PORTAL_NOTICE,
    "sns": pb.CHANNEL_SNS,
    "push": pb.CHANNEL_NEWS_APP_PUSH,
    "kakao": pb.CHANNEL_KAKAO_CHANNEL,
    "sms": pb.CHANNEL_SMS,
    "kakao_bot": pb.CHANNEL_KAKAO_BOT,
}
PER_CHANNEL = 4
TARGETS = ["01011110001", "01011110002", "01011110003"]


class Chaos:
    """Every provider at once, answering from a seeded random menu (a third of the answers are good ones)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.requests = 0

    def _good(self, request: web.Request, body: Any) -> Any:
        path = request.path
        if path.endswith("conversations.open"):
            return {"success": True, "conversation": {"id": 7}}
        if path.endswith("/notices"):
            return {"notice": {"notice_id": "N-1"}}
        if path.endswith("/accounts"):
            return {"data": [{"id": "seoul"}, {"id": "mapo-gu"}]}
        if path.endswith(":multicast"):
            tokens = body.get("tokens", []) if isinstance(body, dict) else []
            return {"failureCount": 0, "responses": [{"name": t} for t in tokens]}
        if "/talk" in path:
            return {"taskId": "t", "status": "SUCCESS"}
        if "/messages" in path and isinstance(body, dict):
            return {"messages": [{"to": m.get("to"), "requestStatusCode": "A000"} for m in body.get("messages", [])]}
        return {"ok": True}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        roll = self.rng.random()
        if roll < 0.34:
            return web.json_response(self._good(request, body))
        if roll < 0.45:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        status = self.rng.choice([200, 201, 202, 400, 404, 409, 422, 429, 500, 502, 503])
        shape = self.rng.choice(
            [
                b"not json at all \x00\r\n",
                json.dumps(self.rng.choice([[], {}, None, 1, "x", {"responses": [1]}, {"messages": "x"}])).encode(),
                json.dumps({"data": None, "notice": [], "conversation": {"id": None}, "status": 5}).encode(),
                b"",
            ]
        )
        headers = {"Retry-After": self.rng.choice(["0", "abc", "1"])} if status == 429 else {}
        return web.Response(status=status, body=shape, headers=headers, content_type="application/json")


@pytest_asyncio.fixture
async def chaos() -> AsyncIterator[str]:
    provider = Chaos(seed=11)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", provider.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def dispatch(kind: str, n: int) -> pb.DispatchRequested:
    audience = pb.Audience(targets=TARGETS)
    if kind == "push":
        audience = pb.Audience(segment="all")
    return pb.DispatchRequested(
        dispatch_id=f"chaos-{kind}-{n}",
        message_id=f"M-{kind}-{n}",
        thread_id="INC-CHAOS",
        channel=CHANNELS[kind],  # type: ignore[arg-type]
        priority=pb.PRIORITY_EMERGENCY,
        purpose="stage2",
        audience=audience,
        renderings=[pb.Rendering(language="ko", title="[호우]\r\n경보", body="하천변 접근 금지", template_code="T")],
    )


async def test_the_dispatch_process_survives_providers_that_answer_anything(fresh_stack: Stack, chaos: str) -> None:
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    providers = {kind: f"{chaos}/{kind}" for kind in CHANNELS}
    env = localrun.dispatch_env(
        {"providers": providers, "token": "t"},
        publishing_channels=",".join(CHANNELS),
        publishing_max_attempts="3",
        publishing_backoff_base_s="0.01",
        publishing_backoff_cap_s="0.05",
        publishing_breaker_open_s="0.2",
        publishing_timeout_s="2",
        publishing_directory_push_devices="600",
    )
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    lane = fresh_stack.state.topic_prefix + "alerting.dispatch-emergency.v1"
    try:
        sent = [dispatch(kind, n) for n in range(PER_CHANNEL) for kind in CHANNELS]
        await localrun.publish_dispatches(fresh_stack.state.kafka_bootstrap, lane, sent)
        one = {pb.CHANNEL_GROUP_CHAT, pb.CHANNEL_PORTAL_NOTICE}  # the room, the board: one delivery each
        expected = {
            d.dispatch_id: 600 if d.channel == pb.CHANNEL_NEWS_APP_PUSH else 1 if d.channel in one else len(TARGETS)
            for d in sent
        }

        async def every_dispatch_ended() -> dict[str, str] | None:
            receipts = [
                pb.DeliveryReported.FromString(r.value)
                for r in await asyncio.to_thread(read_all, fresh_stack, "publishing.delivery-reported.v1")
            ]
            letters = await asyncio.to_thread(read_all, fresh_stack, "alerting.dispatch-emergency.v1.dlq")
            dead = {r.key.decode() for r in letters}
            counted: dict[str, int] = {}
            for r in receipts:
                counted[r.dispatch_id] = counted.get(r.dispatch_id, 0) + max(1, r.delivered_count + r.failed_count)
            ended = {}
            for dispatch_id, least in expected.items():
                if dispatch_id in dead:
                    ended[dispatch_id] = "dead-lettered"
                elif counted.get(dispatch_id, 0) >= least:
                    ended[dispatch_id] = "receipts"
            return ended if len(ended) == len(expected) else None

        ended = await eventually(every_dispatch_ended, timeout=240, every=1.0)
        assert worker.poll() is None, "the dispatch process is still running"
        print(f"{sum(v == 'receipts' for v in ended.values())} ended in receipts, "
              f"{sum(v == 'dead-lettered' for v in ended.values())} dead-lettered")  # fmt: skip
    finally:
        localrun.stop(worker)
    log = (run / "logs" / "publishing-dispatch.log").read_text(errors="replace")
    assert "a part of the process ended on its own" not in log
