"""A market-street promotion end to end: moderation checks the text, the publishing service posts it to the city's
and the district's SNS accounts and pushes it to the news app users of the street's district (routine lane,
`partner.dispatch-requested.v1`), and the campaign shows per-channel results from the receipts. A text moderation
refuses sends nothing."""

from __future__ import annotations

from typing import Any

import pytest

from sotong.partner.v1 import partner_service_pb2 as pb
from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, read_all, token
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.e2e

ACCOUNTS = {"seoul", "seoul_x", "jongno-gu", "jongno-gu_x"}


async def test_a_street_campaign_is_checked_posted_and_counted(fresh_stack: Stack) -> None:
    fresh_stack.start_services(
        ("moderation-api", "partner-api", "partner-worker", "standins", "standins-fallback", "publishing-dispatch"),
        say=False,
    )
    state = fresh_stack.state
    assert state is not None
    staff = token(fresh_stack, "operator")
    async with channel(fresh_stack, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        request = pb.CreateCampaignRequest(
            street_code="jongno-jewelry",
            title="주얼리거리 가을 축제",
            body="10월 3일부터 공방 체험과 할인 행사가 열립니다. 문의 010-2345-6789",
            channels=[pb.CAMPAIGN_CHANNEL_SNS, pb.CAMPAIGN_CHANNEL_NEWS_APP],
            request_id="autumn-2026",
        )
        made = await api.CreateCampaign(request, metadata=staff)
        again = await api.CreateCampaign(request, metadata=staff)
        assert made.created and not again.created and again.campaign.campaign_id == made.campaign.campaign_id
        campaign = made.campaign
        assert campaign.status == pb.CAMPAIGN_STATUS_DISPATCHED, campaign
        assert "personal_data" in campaign.moderation_categories
        assert "010-2345-6789" not in campaign.published_body and "문의 ***-****-****" in campaign.published_body

        async def counted() -> pb.Campaign | None:
            found = (
                await api.GetCampaign(pb.GetCampaignRequest(campaign_id=campaign.campaign_id), metadata=staff)
            ).campaign
            results = {r.channel: r for r in found.results}
            sns, app = results.get(pb.CAMPAIGN_CHANNEL_SNS), results.get(pb.CAMPAIGN_CHANNEL_NEWS_APP)
            return found if sns and app and sns.delivered == len(ACCOUNTS) and app.delivered > 0 else None

        done = await eventually(counted, timeout=120, every=0.5)
        app = next(r for r in done.results if r.channel == pb.CAMPAIGN_CHANNEL_NEWS_APP)
        assert app.failed == 0 and app.dead_lettered == 0

        profane = pb.CreateCampaignRequest(
            street_code="yangnyeongsi",
            title="약령시 축제",
            body="씨발 이런 축제 안 오면 손해",
            channels=[pb.CAMPAIGN_CHANNEL_SNS],
            request_id="bad-1",
        )
        refused = (await api.CreateCampaign(profane, metadata=staff)).campaign
        assert refused.status == pb.CAMPAIGN_STATUS_REFUSED and "profanity" in refused.moderation_categories

    base = f"http://127.0.0.1:{state.standins_ports['standins']['http']}"
    async with StandinControl(base) as standins:
        posts: list[dict[str, Any]] = await standins.deliveries("sns")
    assert {p["target"] for p in posts} == ACCOUNTS
    assert all("공방 체험" in p["text"] and "010-2345-6789" not in p["text"] for p in posts), posts[0]
    assert not any("약령시" in p["text"] for p in posts)
    dispatched = read_all(fresh_stack, "partner.dispatch-requested.v1")
    assert len(dispatched) == 2  # one request per channel; the refused campaign asked for nothing
