"""Partner notifications on the real stack: merchant changes sent to partner platforms as signed Standard Webhooks.

Three platform endpoints answer as scripted: one fails twice then accepts (retried on the schedule, same
webhook-id, valid signatures), one answers 410 Gone (disabled, nothing more is sent to it), one is down for good
(dead-lettered after the whole schedule, then replayed once it is back, with the same webhook-id). The schedule is
the spec's, shrunk by SOTONG_PARTNER_WEBHOOK_SCHEDULE_SCALE for the test.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from sotong.partner.v1 import partner_service_pb2 as pb
from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
from sotong_common.webhooks import WebhookVerifier
from sotong_localstack.partner import registration
from sotong_localstack.stack import PARTNER_PLATFORM, Stack
from sotong_localstack.testing import channel, eventually, token

pytestmark = pytest.mark.service

SCALE = "0.0001"  # 5 s -> 0.5 ms ... 24 h -> 8.6 s: the whole schedule (75.6 h) in about 27 s


@dataclass
class Receiver:
    """Partner-platform endpoints with scripted answers, recording what arrived."""

    scripts: dict[str, list[int]] = field(default_factory=dict)
    default: dict[str, int] = field(default_factory=dict)
    arrived: dict[str, list[tuple[str, str, bytes, dict[str, str]]]] = field(default_factory=lambda: defaultdict(list))

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        headers = dict(request.headers)
        self.arrived[name].append((headers["webhook-id"], headers["webhook-timestamp"], body, headers))
        script = self.scripts.get(name, [])
        status = script.pop(0) if script else self.default.get(name, 204)
        return web.Response(status=status, text="gone" if status == 410 else "")


@pytest.fixture()
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{name}", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield found, f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    finally:
        await runner.cleanup()


async def test_retries_410_dead_letters_and_replay(
    fresh_stack: Stack, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOTONG_PARTNER_WEBHOOK_SCHEDULE_SCALE", SCALE)
    fresh_stack.start_services(("partner-api", "partner-worker"), say=False)
    hooks, base = receiver
    hooks.scripts["flaky"] = [500, 503]
    hooks.default["gone"] = 410
    hooks.default["down"] = 503
    staff, owner = token(fresh_stack, "operator"), token(fresh_stack, "partner")
    async with channel(fresh_stack, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        endpoints = {}
        for name in ("flaky", "gone", "down"):
            made = await api.RegisterWebhookEndpoint(
                pb.RegisterWebhookEndpointRequest(platform=PARTNER_PLATFORM, url=f"{base}/{name}"), metadata=staff
            )
            assert made.secret.startswith("whsec_")
            endpoints[name] = made
        other = await api.RegisterWebhookEndpoint(
            pb.RegisterWebhookEndpointRequest(platform="google_merchant", url=f"{base}/other"), metadata=staff
        )
        consenting = registration(
            "eunbit", "220-81-62517", consents=[pb.ConsentInput(platform=PARTNER_PLATFORM, granted=True)]
        )
        merchant_id = (await api.RegisterMerchant(consenting, metadata=owner)).merchant.merchant_id
        await api.VerifyMerchant(
            pb.VerifyMerchantRequest(merchant_id=merchant_id, decision=pb.VERIFICATION_DECISION_APPROVE), metadata=staff
        )

        await eventually(lambda: _at_least(hooks, "flaky", 4), timeout=60)  # registered: 3 attempts; verified: 1
        flaky = hooks.arrived["flaky"]
        ids = [a[0] for a in flaky]
        counts = Counter(ids)  # two events, two failures in all: each failed attempt came again with its webhook-id
        assert len(counts) == 2 and sum(counts.values()) == 4 and max(counts.values()) >= 2
        verifier = WebhookVerifier([endpoints["flaky"].secret], tolerance_s=300)
        for msg_id, _, body, headers in flaky:
            assert verifier.verify(headers, body).id == msg_id
        assert b'"type":"merchant.registered"' in flaky[0][2] and b"010-" not in flaky[0][2]  # no personal data

        gone = await _endpoint_deliveries(api, staff, endpoints["gone"].endpoint.endpoint_id)
        assert len(hooks.arrived["gone"]) == 1  # the 410 disabled it: the second event was never sent
        assert {d.status for d in gone} == {pb.WEBHOOK_DELIVERY_STATUS_DISCARDED}
        assert hooks.arrived["other"] == []  # the merchant never consented to that platform

        down_id = endpoints["down"].endpoint.endpoint_id

        async def dead() -> list[pb.WebhookDelivery] | None:
            found = await _endpoint_deliveries(api, staff, down_id)
            return (
                found if len(found) == 2 and all(d.status == pb.WEBHOOK_DELIVERY_STATUS_DEAD for d in found) else None
            )

        dead_ones = await eventually(dead, timeout=120, every=1.0)
        assert all(d.attempts == 10 for d in dead_ones)
        attempts_before = len(hooks.arrived["down"])
        assert attempts_before == 20
        hooks.default["down"] = 200
        replayed = await api.ReplayWebhookDeliveries(
            pb.ReplayWebhookDeliveriesRequest(endpoint_id=down_id), metadata=staff
        )
        assert replayed.replayed == 2
        await eventually(lambda: _at_least(hooks, "down", attempts_before + 2), timeout=30)
        await asyncio.sleep(1)
        after = hooks.arrived["down"][attempts_before:]
        assert len(after) == 2 and {a[0] for a in after} == {a[0] for a in hooks.arrived["down"][:attempts_before]}
        again = await api.ReplayWebhookDeliveries(
            pb.ReplayWebhookDeliveriesRequest(endpoint_id=down_id), metadata=staff
        )
        assert again.replayed == 0  # delivered ones are not dead any more

        gone_id = endpoints["gone"].endpoint.endpoint_id
        await api.EnableWebhookEndpoint(pb.EnableWebhookEndpointRequest(endpoint_id=gone_id), metadata=staff)
        hooks.default["gone"] = 204
        await api.SetConsent(
            pb.SetConsentRequest(merchant_id=merchant_id, platform=PARTNER_PLATFORM, granted=False), metadata=owner
        )
        await eventually(lambda: _at_least(hooks, "gone", 2), timeout=30)
        assert b'"type":"merchant.consent_changed"' in hooks.arrived["gone"][-1][2]  # a withdrawal is still told
    del other


async def _at_least(hooks: Receiver, name: str, count: int) -> bool:
    return len(hooks.arrived[name]) >= count


async def _endpoint_deliveries(
    api: pb_grpc.PartnerServiceStub, staff: tuple[tuple[str, str], ...], endpoint_id: str
) -> list[pb.WebhookDelivery]:
    reply = await api.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(endpoint_id=endpoint_id), metadata=staff)
    return list(reply.deliveries)
