"""Civic campaigns: posts scheduled across official accounts, moderated first, with per-account results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import cards
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations

MAX_ACCOUNTS = 200
MAX_TEXT = 2_000


def _post(row: asyncpg.Record, results: dict[str, asyncpg.Record]) -> opb.CampaignPost:
    return opb.CampaignPost(
        post_id=str(row["post_id"]),
        campaign_id=str(row["campaign_id"]),
        text=row["shown_text"] or row["text"],
        url=row["url"],
        scheduled_at=views.ts(row["scheduled_at"]),
        account_ids=[str(a) for a in row["account_ids"]],
        status=row["status"],
        clauses=list(row["clauses"]),
        results=[
            opb.AccountResult(
                account_id=str(a),
                outcome=results[str(a)]["outcome"] if str(a) in results else "",
                at=views.ts(results[str(a)]["at"]) if str(a) in results else None,
                error=results[str(a)]["error"] if str(a) in results else "",
            )
            for a in row["account_ids"]
        ],
    )


def _time(v: Violations, field: str, message: Any, name: str) -> datetime | None:
    if not message.HasField(name):
        v.add(field, f"{field} must be set")
        return None
    try:
        found: datetime = getattr(message, name).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        v.add(field, f"{field} is out of range")
        return None
    return found


@refuse_control_characters
class CampaignRpcs:
    ctx: Context

    async def _posts(self, rows: list[asyncpg.Record]) -> list[opb.CampaignPost]:
        results = await self.ctx.campaigns.results([r["post_id"] for r in rows])
        return [_post(r, results.get(r["post_id"], {})) for r in rows]

    async def CreateCampaign(self, request: opb.CreateCampaignRequest, context: Any) -> opb.CreateCampaignResponse:
        v = Violations()
        title = v.text("title", request.title, limit=150, single_line=True)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        row, created = await self.ctx.campaigns.create(principal().subject, title, request_id)
        _, posts = await self.ctx.campaigns.campaign(row["campaign_id"])
        campaign = opb.Campaign(campaign_id=str(row["campaign_id"]), title=row["title"], posts=await self._posts(posts))
        return opb.CreateCampaignResponse(campaign=campaign, created=created)

    async def ScheduleCampaignPost(
        self, request: opb.ScheduleCampaignPostRequest, context: Any
    ) -> opb.ScheduleCampaignPostResponse:
        v = Violations()
        campaign_id = v.required_id("campaign_id", request.campaign_id)
        text = v.text("text", request.text, limit=MAX_TEXT)
        url = cards.check_qr_url(v, "url", request.url.strip())
        at = _time(v, "scheduled_at", request, "scheduled_at")
        if not 1 <= len(request.account_ids) <= MAX_ACCOUNTS:
            v.add("account_ids", f"account_ids must list 1 to {MAX_ACCOUNTS} official accounts")
        accounts = [v.required_id(f"account_ids[{i}]", a) for i, a in enumerate(request.account_ids[:MAX_ACCOUNTS])]
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        assert at is not None
        row, created = await self.ctx.campaigns.schedule(
            principal().subject, campaign_id, text, url, at, accounts, request_id
        )
        return opb.ScheduleCampaignPostResponse(post=(await self._posts([row]))[0], created=created)

    async def GetCampaign(self, request: opb.GetCampaignRequest, context: Any) -> opb.GetCampaignResponse:
        v = Violations()
        campaign_id = v.required_id("campaign_id", request.campaign_id)
        v.raise_if_any()
        row, posts = await self.ctx.campaigns.campaign(campaign_id)
        return opb.GetCampaignResponse(
            campaign=opb.Campaign(
                campaign_id=str(row["campaign_id"]), title=row["title"], posts=await self._posts(posts)
            )
        )

    async def ListCampaignCalendar(
        self, request: opb.ListCampaignCalendarRequest, context: Any
    ) -> opb.ListCampaignCalendarResponse:
        v = Violations()
        since = _time(v, "since", request, "since")
        until = _time(v, "until", request, "until")
        if since is not None and until is not None and until <= since:
            v.add("until", "until must be after since")
        v.raise_if_any()
        assert since is not None and until is not None
        rows = await self.ctx.campaigns.calendar(since, until)
        return opb.ListCampaignCalendarResponse(posts=await self._posts(rows))
