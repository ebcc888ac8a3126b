"""Civic campaigns on the real stack (issue 12, item 7): a post scheduled across chosen official accounts is
moderated first, then held by the publishing service until its time and posted once on each account (SNS
stand-in), with per-account results from the receipts; a post moderation removes reaches no account; the
calendar lists posts in time order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
import pytest

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common.errors import field_violations
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.service

DELAY_S = 20


async def test_a_campaign_post_is_moderated_held_until_its_time_and_posted_once_per_account(
    fresh_stack: Stack,
) -> None:
    stack = fresh_stack
    assert stack.state is not None
    run = Path(stack.state.run_dir)
    standins, ports = localrun.start_standins(run, "standins")
    env = localrun.dispatch_env(ports, publishing_channels="sns", publishing_backoff_cap_s="0.5")
    dispatch = localrun.start_dispatch(run, stack.state.env(), env)
    stack.start_services(("community-api", "community-worker", "moderation-worker"), say=False)
    operator = person(stack, "campaign-desk", "operator")
    try:
        async with StandinControl(ports["base_url"]) as control, channel(stack, "community-api") as ch:
            async with aiohttp.ClientSession() as session, session.post(
                f"{ports['base_url']}/_control/sns/accounts",
                json={"accounts": {"green-fb": "facebook", "green-ig": "instagram"}},
                headers={"Authorization": f"Bearer {env['SOTONG_PUBLISHING_PROVIDER_TOKEN']}"},
            ) as answer:  # fmt: skip
                assert answer.status == 200
            stub = pb_grpc.CommunityServiceStub(ch)
            account_ids = []
            for platform, handle, url, target in (
                ("facebook", "seoul.green", "https://www.facebook.com/seoul.green", "green-fb"),
                ("instagram", "seoul.green", "https://www.instagram.com/seoul.green/", "green-ig"),
            ):
                made = await stub.RegisterAccount(
                    opb.RegisterAccountRequest(
                        account=opb.SnsAccount(platform=platform, handle=handle, url=url, department="climate",
                                               department_name="기후환경정책과", publishing_target=target),
                        request_id=target,
                    ),
                    metadata=operator,
                )  # fmt: skip
                account_ids.append(made.account.account_id)
            campaign = await stub.CreateCampaign(
                opb.CreateCampaignRequest(title="1회용품 줄이기 주간", request_id="c-1"), metadata=operator
            )
            campaign_id = campaign.campaign.campaign_id
            at = datetime.now(UTC) + timedelta(seconds=DELAY_S)
            good = opb.ScheduleCampaignPostRequest(
                campaign_id=campaign_id,
                text="이번 주는 텀블러 데이! 다회용컵을 써 주세요.",
                url="https://news.seoul.go.kr/env",
                account_ids=account_ids,
                request_id="p-1",
            )
            good.scheduled_at.FromDatetime(at)
            scheduled = await stub.ScheduleCampaignPost(good, metadata=operator)
            assert scheduled.created and scheduled.post.status == "in_moderation"
            bad = opb.ScheduleCampaignPostRequest(campaign_id=campaign_id, text="씨발 이런 걸 캠페인이라고 병신아",
                                                  account_ids=account_ids[:1], request_id="p-2")  # fmt: skip
            bad.scheduled_at.FromDatetime(at - timedelta(seconds=5))
            removed = await stub.ScheduleCampaignPost(bad, metadata=operator)

            async def statuses() -> dict[str, str] | None:
                got = await stub.GetCampaign(opb.GetCampaignRequest(campaign_id=campaign_id), metadata=operator)
                found = {p.post_id: p.status for p in got.campaign.posts}
                return found if "in_moderation" not in found.values() else None

            decided = await eventually(statuses, timeout=60)
            assert decided == {scheduled.post.post_id: "scheduled", removed.post.post_id: "removed"}

            # Held until its time.
            while datetime.now(UTC) < at - timedelta(seconds=1):
                for target in ("green-fb", "green-ig"):
                    assert not await control.deliveries("sns", target=target), "posted before its time"
                await asyncio.sleep(0.5)

            async def results() -> list[opb.AccountResult] | None:
                got = await stub.GetCampaign(opb.GetCampaignRequest(campaign_id=campaign_id), metadata=operator)
                post = next(p for p in got.campaign.posts if p.post_id == scheduled.post.post_id)
                return list(post.results) if all(r.outcome == "delivered" for r in post.results) else None

            found = await eventually(results, timeout=60)
            assert sorted(r.account_id for r in found) == sorted(account_ids)
            assert all(r.at.ToDatetime(tzinfo=UTC) >= at for r in found)
            await asyncio.sleep(2)
            for target in ("green-fb", "green-ig"):
                posts = await control.deliveries("sns", target=target)
                assert len(posts) == 1 and "텀블러" in str(posts[0]), target

            calendar = opb.ListCampaignCalendarRequest()
            calendar.since.FromDatetime(at - timedelta(minutes=1))
            calendar.until.FromDatetime(at + timedelta(minutes=1))
            listed = await stub.ListCampaignCalendar(calendar, metadata=operator)
            assert [p.post_id for p in listed.posts] == [removed.post.post_id, scheduled.post.post_id]
            gone = next(p for p in listed.posts if p.post_id == removed.post.post_id)
            assert list(gone.clauses) == ["profanity"]

            with pytest.raises(grpc.aio.AioRpcError) as wrong:
                nobody = "00000000-0000-0000-0000-000000000001"
                unknown = opb.ScheduleCampaignPostRequest(
                    campaign_id=campaign_id, text="t", request_id="p-3", account_ids=[account_ids[0], nobody]
                )
                unknown.scheduled_at.FromDatetime(at)
                await stub.ScheduleCampaignPost(unknown, metadata=operator)
            assert [v.field for v in field_violations(wrong.value)] == ["account_ids[1]"]
    finally:
        localrun.stop(dispatch)
        localrun.stop(standins)
