"""Opinion-leader briefings: leaders with consent, drafts, approval with embargo, receipts, RSVPs, replies."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import asyncpg

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import briefings
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.briefing_store import NewLeader
from sotong_community.input_rules import Violations

CHANNELS = {opb.LEADER_CHANNEL_SMS: "sms", opb.LEADER_CHANNEL_KAKAO: "kakao", opb.LEADER_CHANNEL_MAIL: "mail"}
CHANNEL_PROTO = {v: k for k, v in CHANNELS.items()}
RSVPS = {opb.RSVP_YES: "yes", opb.RSVP_NO: "no", opb.RSVP_MAYBE: "maybe"}
RSVP_PROTO = {v: k for k, v in RSVPS.items()}
MAX_LEADERS = 500


def _view(row: asyncpg.Record, recipients: list[asyncpg.Record]) -> opb.Briefing:
    return opb.Briefing(
        briefing_id=str(row["briefing_id"]),
        title=row["title"],
        body=row["body"],
        embargo_until=views.ts(row["embargo_until"]),
        status=opb.BRIEFING_STATUS_APPROVED if row["status"] == "approved" else opb.BRIEFING_STATUS_DRAFT,
        drafted_by=row["drafted_by"],
        approved_by=row["approved_by"],
        recipients=[
            opb.BriefingRecipient(
                leader_id=str(r["leader_id"]),
                delivery=r["delivery"],
                delivered_at=views.ts(r["delivered_at"]),
                rsvp=RSVP_PROTO.get(r["rsvp"], opb.RSVP_UNSPECIFIED),
                reply_tracking_id=r["reply_tracking_id"],
            )
            for r in recipients
        ],
    )


def _ids(briefing_id: str, leader_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    v = Violations()
    b = v.required_id("briefing_id", briefing_id)
    leader = v.required_id("leader_id", leader_id)
    v.raise_if_any()
    return b, leader


@refuse_control_characters
class BriefingRpcs:
    ctx: Context

    async def RegisterLeader(self, request: opb.RegisterLeaderRequest, context: Any) -> opb.RegisterLeaderResponse:
        v = Violations()
        leader = request.leader
        name = v.text("leader.name", leader.name, limit=80, single_line=True)
        organisation = v.text("leader.organisation", leader.organisation, required=False, limit=120,
                              single_line=True)  # fmt: skip
        field = v.text("leader.field", leader.field, required=False, limit=80, single_line=True)
        district = v.district("leader.district_code", leader.district_code)
        channel = CHANNELS.get(leader.channel)
        contact = leader.contact.strip()
        if channel is None:
            v.add("leader.channel", "leader.channel must be SMS, KAKAO or MAIL")
        else:
            problem = briefings.contact_problem(channel, contact)
            if problem is not None:
                v.add("leader.contact", f"leader.contact must be {problem}")
        purpose = v.text("leader.consent_purpose", leader.consent_purpose, limit=300, single_line=True)
        expires = None
        if not leader.HasField("consent_expires_at"):
            v.add("leader.consent_expires_at", "leader.consent_expires_at must be set (consent has an expiry)")
        else:
            try:
                expires = leader.consent_expires_at.ToDatetime(tzinfo=UTC)
            except (ValueError, OverflowError):
                v.add("leader.consent_expires_at", "leader.consent_expires_at is out of range")
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        assert channel is not None and expires is not None
        new = NewLeader(name, organisation, field, district, channel, contact, purpose, expires)
        row, created = await self.ctx.briefings.register(principal().subject, new, request_id)
        shown_name, shown_contact = name, contact
        if not created:
            data = self.ctx.briefings.personal(row)
            shown_name, shown_contact = data["name"], data["contact"]
        return opb.RegisterLeaderResponse(
            leader=opb.Leader(
                leader_id=str(row["leader_id"]),
                name=shown_name,
                organisation=row["organisation"],
                field=row["field"],
                district_code=row["district_code"],
                channel=CHANNEL_PROTO[row["channel"]],
                contact=shown_contact,
                consent_purpose=row["consent_purpose"],
                consent_expires_at=views.ts(row["consent_expires_at"]),
            ),
            created=created,
        )

    async def DraftBriefing(self, request: opb.DraftBriefingRequest, context: Any) -> opb.DraftBriefingResponse:
        v = Violations()
        title = v.text("title", request.title, limit=150, single_line=True)
        body = v.text("body", request.body, limit=briefings.MAX_BODY)
        embargo = None
        if request.HasField("embargo_until"):
            try:
                embargo = request.embargo_until.ToDatetime(tzinfo=UTC)
            except (ValueError, OverflowError):
                v.add("embargo_until", "embargo_until is out of range")
        if not 1 <= len(request.leader_ids) <= MAX_LEADERS:
            v.add("leader_ids", f"leader_ids must list 1 to {MAX_LEADERS} leaders")
        leaders = [v.required_id(f"leader_ids[{i}]", x) for i, x in enumerate(request.leader_ids[:MAX_LEADERS])]
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        row, created = await self.ctx.briefings.draft(principal().subject, title, body, embargo, leaders, request_id)
        _, recipients = await self.ctx.briefings.get(row["briefing_id"])
        return opb.DraftBriefingResponse(briefing=_view(row, recipients), created=created)

    async def ApproveBriefing(self, request: opb.ApproveBriefingRequest, context: Any) -> opb.ApproveBriefingResponse:
        v = Violations()
        briefing_id = v.required_id("briefing_id", request.briefing_id)
        v.raise_if_any()
        await self.ctx.briefings.approve(briefing_id, principal().subject)
        row, recipients = await self.ctx.briefings.get(briefing_id)
        return opb.ApproveBriefingResponse(briefing=_view(row, recipients))

    async def GetBriefing(self, request: opb.GetBriefingRequest, context: Any) -> opb.GetBriefingResponse:
        v = Violations()
        briefing_id = v.required_id("briefing_id", request.briefing_id)
        v.raise_if_any()
        row, recipients = await self.ctx.briefings.get(briefing_id)
        return opb.GetBriefingResponse(briefing=_view(row, recipients))

    async def RecordBriefingRsvp(
        self, request: opb.RecordBriefingRsvpRequest, context: Any
    ) -> opb.RecordBriefingRsvpResponse:
        answer = RSVPS.get(request.rsvp)
        if answer is None:
            v = Violations()
            v.add("rsvp", "rsvp must be YES, NO or MAYBE")
            v.raise_if_any()
        assert answer is not None
        briefing_id, leader_id = _ids(request.briefing_id, request.leader_id)
        return opb.RecordBriefingRsvpResponse(changed=await self.ctx.briefings.rsvp(briefing_id, leader_id, answer))

    async def RecordBriefingReply(
        self, request: opb.RecordBriefingReplyRequest, context: Any
    ) -> opb.RecordBriefingReplyResponse:
        v = Violations()
        text = v.text("text", request.text, limit=3_000)
        district = v.district("district_code", request.district_code)
        v.raise_if_any()
        briefing_id, leader_id = _ids(request.briefing_id, request.leader_id)
        filed = await self.ctx.briefings.reply(briefing_id, leader_id, text, district)
        return opb.RecordBriefingReplyResponse(filed=filed)
