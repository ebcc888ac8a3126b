"""Temporary smoke test while building the partner service."""

from __future__ import annotations

import aiohttp
import pytest

from sotong.partner.v1 import partner_service_pb2 as pb
from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
from sotong_localstack.partner import product, registration
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, token

pytestmark = pytest.mark.service


async def test_smoke(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("moderation-api", "partner-api", "partner-http", "partner-worker"), say=False)
    state = fresh_stack.state
    assert state is not None
    async with channel(fresh_stack, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        owner = token(fresh_stack, "partner")
        staff = token(fresh_stack, "operator")
        reply = await api.RegisterMerchant(registration("eunbit", "220-81-62517"), metadata=owner)
        mid = reply.merchant.merchant_id
        print(reply)
        await api.VerifyMerchant(
            pb.VerifyMerchantRequest(merchant_id=mid, decision=pb.VERIFICATION_DECISION_APPROVE), metadata=staff
        )
        for i in range(3):
            r = await api.UpsertProduct(
                pb.UpsertProductRequest(
                    merchant_id=mid, product=product(f"R{i}", f"은반지 {i}호 <b>new</b>", 10000 + i)
                ),
                metadata=owner,
            )
            print(r.created, r.changed)
        url = f"http://127.0.0.1:{state.http_ports['partner-http']}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/ep/eunbit/naver/full.tsv") as resp:
                print(resp.status, resp.headers)
                print(await resp.text())
            async with http.get(f"{url}/ep/eunbit/naver/summary.tsv") as resp:
                print(resp.status, await resp.text())
            async with http.get(f"{url}/m/eunbit") as resp:
                print(resp.status, (await resp.text())[:500])
        c = await api.CreateCampaign(
            pb.CreateCampaignRequest(
                street_code="jongno-jewelry",
                title="주얼리거리 가을 축제",
                body="10월 3일부터 공방 체험과 할인 행사가 열립니다.",
                channels=[pb.CAMPAIGN_CHANNEL_SNS, pb.CAMPAIGN_CHANNEL_NEWS_APP],
                request_id="c1",
            ),
            metadata=staff,
        )
        print(c)
