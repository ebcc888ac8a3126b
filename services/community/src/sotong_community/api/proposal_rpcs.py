"""Spaces and proposals: authoring, supports, likes, the forum, answers and accountability."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sotong.community.v1 import community_service_pb2 as pb
from sotong_common import auth
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import communities, input_rules, ledger
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations
from sotong_community.proposal_store import Draft

LISTED_STATES = (
    "published", "forum_open", "answer_required", "answer_overdue", "answered", "in_progress", "done", "archived",
    "withdrawn",
)  # fmt: skip
STANCES = {pb.STANCE_AGREE: "agree", pb.STANCE_DISAGREE: "disagree", pb.STANCE_NEUTRAL: "neutral"}


def _proposal_id(field: str, value: str) -> Any:
    v = Violations()
    found = v.required_id(field, value)
    v.raise_if_any()
    return found


@refuse_control_characters
class ProposalRpcs:
    ctx: Context

    async def UpsertSpace(self, request: pb.UpsertSpaceRequest, context: Any) -> pb.UpsertSpaceResponse:
        v = Violations()
        v.space_id("space.space_id", request.space.space_id)
        if not request.space.space_id:
            v.add("space.space_id", "space.space_id must not be empty")
        v.raise_if_any()
        space = views.space_from_proto(request.space).validated()
        return pb.UpsertSpaceResponse(space=views.space(await self.ctx.proposals.upsert_space(space)))

    async def GetSpace(self, request: pb.GetSpaceRequest, context: Any) -> pb.GetSpaceResponse:
        v = Violations()
        space_id = v.space_id("space_id", request.space_id)
        v.raise_if_any()
        return pb.GetSpaceResponse(space=views.space(await self.ctx.proposals.space(space_id)))

    async def CreateProposal(self, request: pb.CreateProposalRequest, context: Any) -> pb.CreateProposalResponse:
        v = Violations()
        space_id = v.space_id("space_id", request.space_id)
        title = v.text("title", request.title, limit=input_rules.MAX_TITLE, single_line=True)
        body = v.text("body", request.body, limit=input_rules.MAX_BODY)
        category = v.category("category", request.category)
        district = v.district("district_code", request.district_code)
        community_id = v.optional_id("community_id", request.community_id)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        caller = principal()
        if community_id is not None:
            group = await self.ctx.groups.get(community_id)
            communities.require_active(group["status"])
            communities.require_manager(
                await self.ctx.groups.role(community_id, caller.subject), "file proposals on its behalf"
            )
        row, created = await self.ctx.proposals.create(
            caller.subject,
            Draft(space_id, title, body, category, district, community_id, request.draft, request_id),
        )
        return pb.CreateProposalResponse(proposal=views.proposal(row, caller), created=created)

    async def EditProposal(self, request: pb.EditProposalRequest, context: Any) -> pb.EditProposalResponse:
        v = Violations()
        proposal_id = v.required_id("proposal_id", request.proposal_id)
        title = v.text("title", request.title, limit=input_rules.MAX_TITLE, single_line=True)
        body = v.text("body", request.body, limit=input_rules.MAX_BODY)
        category = v.category("category", request.category)
        district = v.district("district_code", request.district_code)
        v.raise_if_any()
        caller = principal()
        row = await self.ctx.proposals.edit(caller.subject, proposal_id, title, body, category, district)
        return pb.EditProposalResponse(proposal=views.proposal(row, caller))

    async def SubmitProposal(self, request: pb.SubmitProposalRequest, context: Any) -> pb.SubmitProposalResponse:
        caller = principal()
        row = await self.ctx.proposals.submit(caller.subject, _proposal_id("proposal_id", request.proposal_id))
        return pb.SubmitProposalResponse(proposal=views.proposal(row, caller))

    async def WithdrawProposal(self, request: pb.WithdrawProposalRequest, context: Any) -> pb.WithdrawProposalResponse:
        v = Violations()
        proposal_id = v.required_id("proposal_id", request.proposal_id)
        reason = v.text("reason", request.reason, required=False, limit=input_rules.MAX_REASON)
        v.raise_if_any()
        caller = principal()
        row = await self.ctx.proposals.withdraw(caller.subject, proposal_id, reason)
        return pb.WithdrawProposalResponse(proposal=views.proposal(row, caller))

    async def GetProposal(self, request: pb.GetProposalRequest, context: Any) -> pb.GetProposalResponse:
        caller = principal()
        row, extra = await self.ctx.proposals.view(_proposal_id("proposal_id", request.proposal_id), caller.subject)
        visible = row["published_at"] is not None and row["state"] not in ("rejected", "removed")
        if not visible and not views.staff(caller) and not auth.same_subject(row["author"], caller.subject):
            raise NotFound(f"no proposal {request.proposal_id}")
        return pb.GetProposalResponse(proposal=views.proposal(row, caller, extra))

    async def ListProposals(self, request: pb.ListProposalsRequest, context: Any) -> pb.ListProposalsResponse:
        v = Violations()
        space_id = v.space_id("space_id", request.space_id)
        size = v.page_size("page_size", request.page_size)
        if request.state and request.state not in LISTED_STATES:
            v.add("state", "state must be one of " + ", ".join(LISTED_STATES))
        v.raise_if_any()
        after = None
        if request.page_token:
            at, pid = views.decode_token(request.page_token, (datetime, uuid.UUID))
            after = (at, pid)
        rows = await self.ctx.proposals.page(space_id, request.state, size, after)
        caller = principal()
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = views.encode_token(rows[-1]["published_at"], str(rows[-1]["proposal_id"]))
        return pb.ListProposalsResponse(proposals=[views.proposal(r, caller) for r in rows], next_page_token=token)

    async def _ledger(self, kind: str, proposal_id: str, add: bool, stance: str = "") -> ledger.Result:
        caller = principal()
        op = ledger.Operation(
            kind, _proposal_id("proposal_id", proposal_id), caller.subject, add, caller.verification, stance
        )
        return await self.ctx.ledger.submit(op)

    async def SupportProposal(self, request: pb.SupportProposalRequest, context: Any) -> pb.SupportProposalResponse:
        result = await self._ledger(ledger.SUPPORTS, request.proposal_id, True)
        return pb.SupportProposalResponse(support_count=result.count, state=result.state, changed=result.changed)

    async def WithdrawSupport(self, request: pb.WithdrawSupportRequest, context: Any) -> pb.WithdrawSupportResponse:
        result = await self._ledger(ledger.SUPPORTS, request.proposal_id, False)
        return pb.WithdrawSupportResponse(support_count=result.count, state=result.state, changed=result.changed)

    async def LikeProposal(self, request: pb.LikeProposalRequest, context: Any) -> pb.LikeProposalResponse:
        result = await self._ledger(ledger.LIKES, request.proposal_id, request.like)
        return pb.LikeProposalResponse(like_count=result.count, changed=result.changed)

    async def JoinForum(self, request: pb.JoinForumRequest, context: Any) -> pb.JoinForumResponse:
        stance = STANCES.get(request.stance)
        if stance is None:
            raise InvalidArgument(
                FieldViolation("stance", "stance must be STANCE_AGREE, STANCE_DISAGREE or STANCE_NEUTRAL")
            )
        result = await self._ledger(ledger.FORUM, request.proposal_id, True, stance)
        return pb.JoinForumResponse(participant_count=result.count, state=result.state, changed=result.changed)

    async def StageAnswer(self, request: pb.StageAnswerRequest, context: Any) -> pb.StageAnswerResponse:
        v = Violations()
        proposal_id = v.required_id("proposal_id", request.proposal_id)
        if not request.state_code:
            v.add("state_code", "state_code must name one of the space's answer states")
        text = v.text("text", request.text, limit=input_rules.MAX_ANSWER)
        v.raise_if_any()
        caller = principal()
        await self.ctx.proposals.stage_answer(proposal_id, request.state_code[:40], text, caller.subject)
        row, extra = await self.ctx.proposals.view(proposal_id, caller.subject)
        return pb.StageAnswerResponse(proposal=views.proposal(row, caller, extra))

    async def PublishAnswer(self, request: pb.PublishAnswerRequest, context: Any) -> pb.PublishAnswerResponse:
        caller = principal()
        proposal_id = _proposal_id("proposal_id", request.proposal_id)
        await self.ctx.proposals.publish_answer(proposal_id, caller.subject)
        row, extra = await self.ctx.proposals.view(proposal_id, caller.subject)
        return pb.PublishAnswerResponse(proposal=views.proposal(row, caller, extra))

    async def AddProgress(self, request: pb.AddProgressRequest, context: Any) -> pb.AddProgressResponse:
        v = Violations()
        proposal_id = v.required_id("proposal_id", request.proposal_id)
        if not 0 <= request.percent <= 100:
            v.add("percent", "percent must be 0..100")
        text = v.text("text", request.text, limit=input_rules.MAX_ANSWER)
        v.raise_if_any()
        caller = principal()
        await self.ctx.proposals.add_progress(proposal_id, request.percent, text, request.done, caller.subject)
        row, extra = await self.ctx.proposals.view(proposal_id, caller.subject)
        return pb.AddProgressResponse(proposal=views.proposal(row, caller, extra))
