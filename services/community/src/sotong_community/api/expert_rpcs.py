"""The SNS expert network: experts with consent, search by field and language, panels, invitations, RSVPs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import experts
from sotong_community.api import views
from sotong_community.api.briefing_rpcs import RSVPS
from sotong_community.api.context import Context
from sotong_community.expert_store import NewExpert
from sotong_community.input_rules import Violations

MAX_PANEL = 100


def _timestamp(v: Violations, field: str, message: Any, name: str) -> datetime | None:
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
class ExpertRpcs:
    ctx: Context

    def _view(self, row: asyncpg.Record) -> opb.Expert:
        personal = self.ctx.experts.personal(row)
        return opb.Expert(
            expert_id=str(row["expert_id"]),
            name=personal["name"],
            email=personal["email"],
            organisation=row["organisation"],
            country=row["country"],
            languages=list(row["languages"]),
            fields=list(row["fields"]),
            consent_purpose=row["consent_purpose"],
            consent_expires_at=views.ts(row["consent_expires_at"]),
        )

    async def RegisterExpert(self, request: opb.RegisterExpertRequest, context: Any) -> opb.RegisterExpertResponse:
        v = Violations()
        e = request.expert
        name = v.text("expert.name", e.name, limit=80, single_line=True)
        email = experts.check_email(v, "expert.email", e.email.strip())
        organisation = v.text("expert.organisation", e.organisation, required=False, limit=120, single_line=True)
        country = experts.check_country(v, "expert.country", e.country)
        languages = experts.check_languages(v, "expert.languages", list(e.languages))
        fields = experts.check_fields(v, "expert.fields", list(e.fields))
        purpose = v.text("expert.consent_purpose", e.consent_purpose, limit=300, single_line=True)
        expires = _timestamp(v, "expert.consent_expires_at", e, "consent_expires_at")
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        assert expires is not None
        new = NewExpert(name, email, organisation, country, languages, fields, purpose, expires)
        row, created = await self.ctx.experts.register(principal().subject, new, request_id)
        return opb.RegisterExpertResponse(expert=self._view(row), created=created)

    async def SearchExperts(self, request: opb.SearchExpertsRequest, context: Any) -> opb.SearchExpertsResponse:
        v = Violations()
        if request.field:
            experts.check_fields(v, "field", [request.field])
        if request.language:
            experts.check_languages(v, "language", [request.language])
        v.raise_if_any()
        rows = await self.ctx.experts.search(request.field, request.language, datetime.now(UTC))
        return opb.SearchExpertsResponse(experts=[self._view(r) for r in rows])

    async def CreatePanel(self, request: opb.CreatePanelRequest, context: Any) -> opb.CreatePanelResponse:
        v = Violations()
        p = request.panel
        title = v.text("panel.title", p.title, limit=150, single_line=True)
        field = experts.check_fields(v, "panel.field", [p.field] if p.field else [], required=False)
        if not 1 <= len(p.expert_ids) <= MAX_PANEL:
            v.add("panel.expert_ids", f"panel.expert_ids must list 1 to {MAX_PANEL} experts")
        members = [v.required_id(f"panel.expert_ids[{i}]", x) for i, x in enumerate(p.expert_ids[:MAX_PANEL])]
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        row, member_ids, created = await self.ctx.experts.create_panel(
            principal().subject, title, field[0] if field else "", members, request_id
        )
        panel = opb.Panel(panel_id=str(row["panel_id"]), title=row["title"], field=row["field"],
                          expert_ids=[str(m) for m in member_ids])  # fmt: skip
        return opb.CreatePanelResponse(panel=panel, created=created)

    async def InvitePanel(self, request: opb.InvitePanelRequest, context: Any) -> opb.InvitePanelResponse:
        v = Violations()
        panel_id = v.required_id("panel_id", request.panel_id)
        title = v.text("title", request.title, limit=150, single_line=True)
        starts_at = _timestamp(v, "starts_at", request, "starts_at")
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        assert starts_at is not None
        row, lapsed, created = await self.ctx.experts.invite(principal().subject, panel_id, title, starts_at,
                                                             request_id)  # fmt: skip
        invitation, rsvps = await self.ctx.experts.invitation(row["invitation_id"])
        return opb.InvitePanelResponse(invitation=_invitation(invitation, rsvps), created=created,
                                       consent_expired=lapsed)  # fmt: skip

    async def RecordExpertRsvp(
        self, request: opb.RecordExpertRsvpRequest, context: Any
    ) -> opb.RecordExpertRsvpResponse:
        v = Violations()
        invitation_id = v.required_id("invitation_id", request.invitation_id)
        expert_id = v.required_id("expert_id", request.expert_id)
        answer = RSVPS.get(request.rsvp)
        if answer is None:
            v.add("rsvp", "rsvp must be YES, NO or MAYBE")
        v.raise_if_any()
        assert answer is not None
        await self.ctx.experts.rsvp(invitation_id, expert_id, answer)
        invitation, rsvps = await self.ctx.experts.invitation(invitation_id)
        return opb.RecordExpertRsvpResponse(invitation=_invitation(invitation, rsvps))


def _invitation(row: asyncpg.Record, rsvps: dict[str, str]) -> opb.PanelInvitation:
    return opb.PanelInvitation(
        invitation_id=str(row["invitation_id"]),
        panel_id=str(row["panel_id"]),
        title=row["title"],
        starts_at=views.ts(row["starts_at"]),
        rsvps=rsvps,
    )
