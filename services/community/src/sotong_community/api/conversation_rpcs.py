"""Debates, statements, opinion groups, comments and reports."""

from __future__ import annotations

import json
from typing import Any

from sotong.community.v1 import community_service_pb2 as pb
from sotong_common import auth
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import communities, content_store, input_rules, moderated
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations

VOTE_VALUES = {pb.VOTE_AGREE: 1, pb.VOTE_DISAGREE: -1, pb.VOTE_PASS: 0}


@refuse_control_characters
class ConversationRpcs:
    ctx: Context

    async def OpenDebate(self, request: pb.OpenDebateRequest, context: Any) -> pb.OpenDebateResponse:
        v = Violations()
        space_id = v.space_id("space_id", request.space_id)
        title = v.text("title", request.title, limit=input_rules.MAX_TITLE, single_line=True)
        description = v.text("description", request.description, limit=input_rules.MAX_BODY)
        community_id = v.optional_id("community_id", request.community_id)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        caller = principal()
        if community_id is not None:
            group = await self.ctx.groups.get(community_id)
            communities.require_active(group["status"])
            communities.require_manager(await self.ctx.groups.role(community_id, caller.subject), "open debates")
        staff = bool(caller.roles & {"operator", "dept_admin"})
        row, created = await self.ctx.debates.open(
            caller.subject, space_id, title, description, community_id, request_id, staff=staff
        )
        return pb.OpenDebateResponse(debate=views.debate(row, caller, []), created=created)

    async def GetDebate(self, request: pb.GetDebateRequest, context: Any) -> pb.GetDebateResponse:
        v = Violations()
        debate_id = v.required_id("debate_id", request.debate_id)
        v.raise_if_any()
        caller = principal()
        row, statements = await self.ctx.debates.get(debate_id, caller.subject)
        mine = auth.same_subject(row["author"], caller.subject)
        if row["status"] not in ("open", "closed") and not mine and not views.staff(caller):
            raise NotFound(f"no debate {request.debate_id}")
        return pb.GetDebateResponse(debate=views.debate(row, caller, statements))

    async def AddStatement(self, request: pb.AddStatementRequest, context: Any) -> pb.AddStatementResponse:
        v = Violations()
        debate_id = v.required_id("debate_id", request.debate_id)
        text = v.text("text", request.text, limit=input_rules.MAX_STATEMENT)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        caller = principal()
        row, created = await self.ctx.debates.add_statement(caller.subject, debate_id, text, request_id)
        return pb.AddStatementResponse(statement=views.statement(row, caller), created=created)

    async def VoteStatement(self, request: pb.VoteStatementRequest, context: Any) -> pb.VoteStatementResponse:
        violations = []
        if not 0 < request.statement_id < 2**62:
            violations.append(FieldViolation("statement_id", "statement_id must be a statement's id"))
        if request.vote not in VOTE_VALUES:
            violations.append(FieldViolation("vote", "vote must be VOTE_AGREE, VOTE_DISAGREE or VOTE_PASS"))
        if violations:
            raise InvalidArgument(violations)
        caller = principal()
        row = await self.ctx.debates.vote(caller.subject, request.statement_id, VOTE_VALUES[request.vote])
        return pb.VoteStatementResponse(statement=views.statement(row, caller))

    async def GetOpinionGroups(self, request: pb.GetOpinionGroupsRequest, context: Any) -> pb.GetOpinionGroupsResponse:
        v = Violations()
        debate_id = v.required_id("debate_id", request.debate_id)
        v.raise_if_any()
        row = await self.ctx.debates.groups(debate_id)
        out = pb.GetOpinionGroupsResponse(debate_id=request.debate_id)
        if row is None:
            return out
        result = json.loads(row["result"]) if isinstance(row["result"], str) else row["result"]
        texts = {
            r["statement_id"]: r["shown_text"]
            for r in await self.ctx.pool.fetch(
                "SELECT statement_id, shown_text FROM statements WHERE debate_id = $1", debate_id
            )
        }
        out.computed_at.FromDatetime(row["computed_at"])
        out.seed = row["seed"]
        out.input_digest = row["input_digest"]
        out.participants = result["participants"]
        for g in result["groups"]:
            out.groups.append(
                pb.OpinionGroup(
                    group_id=g["group_id"],
                    members=g["members"],
                    representative=[
                        pb.GroupStatement(
                            statement_id=s["statement_id"],
                            text=texts.get(s["statement_id"], ""),
                            direction=s["direction"],
                            probability=s["probability"],
                            repness=s["repness"],
                        )
                        for s in g["representative"]
                    ],
                )
            )
        out.consensus.extend(
            pb.GroupStatement(
                statement_id=s["statement_id"],
                text=texts.get(s["statement_id"], ""),
                direction=s["direction"],
                probability=s["probability"],
            )
            for s in result["consensus"]
        )
        return out

    async def PostComment(self, request: pb.PostCommentRequest, context: Any) -> pb.PostCommentResponse:
        v = Violations()
        kind = views.TARGET_KINDS.get(request.target.kind)
        if kind is None:
            v.add("target.kind", "target.kind must be a proposal, debate, poll or post")
        target_id = v.required_id("target.id", request.target.id)
        parent_id = v.optional_id("parent_comment_id", request.parent_comment_id)
        text = v.text("text", request.text, limit=input_rules.MAX_COMMENT)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        assert kind is not None and target_id is not None
        caller = principal()
        citizen = not (caller.roles & {"operator", "dept_admin"})
        posted = await self.ctx.comments.post(caller.subject, kind, target_id, parent_id, text, request_id, citizen)
        row = await self.ctx.comments.get(posted.row["comment_id"])
        return pb.PostCommentResponse(
            comment=views.comment(row, caller), created=posted.created, routed_as_complaint=posted.routed
        )

    async def ListComments(self, request: pb.ListCommentsRequest, context: Any) -> pb.ListCommentsResponse:
        v = Violations()
        kind = views.TARGET_KINDS.get(request.target.kind)
        if kind is None:
            v.add("target.kind", "target.kind must be a proposal, debate, poll or post")
        target_id = v.required_id("target.id", request.target.id)
        parent_id = v.optional_id("parent_comment_id", request.parent_comment_id)
        size = v.page_size("page_size", request.page_size, default=50, limit=200)
        v.raise_if_any()
        assert kind is not None and target_id is not None
        after = views.decode_token(request.page_token, (int,))[0] if request.page_token else 0
        caller = principal()
        rows, last = await self.ctx.comments.page(caller.subject, kind, target_id, parent_id, size, after)
        return pb.ListCommentsResponse(
            comments=[views.comment(r, caller) for r in rows],
            next_page_token=views.encode_token(last) if last is not None else "",
        )

    async def GetComment(self, request: pb.GetCommentRequest, context: Any) -> pb.GetCommentResponse:
        v = Violations()
        comment_id = v.required_id("comment_id", request.comment_id)
        v.raise_if_any()
        caller = principal()
        row = await self.ctx.comments.get(comment_id)
        if not self.ctx.comments.visible_to(row, caller):
            raise NotFound(f"no comment {request.comment_id}")
        return pb.GetCommentResponse(comment=views.comment(row, caller))

    async def ReportContent(self, request: pb.ReportContentRequest, context: Any) -> pb.ReportContentResponse:
        v = Violations()
        content_id = request.content_id
        if moderated.parse(content_id) is None:
            v.required_id("content_id", content_id)  # a bare comment id is accepted too
            content_id = moderated.content_id("comment", content_id)
        reason = v.text("reason", request.reason, required=False, limit=input_rules.MAX_REASON)
        v.raise_if_any()
        caller = principal()
        reported = await content_store.report(
            self.ctx.pool, content_id, caller.subject, reason, self.ctx.report_threshold
        )
        return pb.ReportContentResponse(report_count=reported.count, hidden=reported.hidden, changed=reported.changed)
