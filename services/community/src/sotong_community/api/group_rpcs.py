"""Citizen communities: founding, joining, roles, posts."""

from __future__ import annotations

from typing import Any

from sotong.community.v1 import community_service_pb2 as pb
from sotong_common import auth
from sotong_common.errors import NotFound
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import communities, input_rules
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations

ROLE_NAMES = {pb.MEMBER_ROLE_MODERATOR: "moderator", pb.MEMBER_ROLE_MEMBER: "member"}


def _community_id(value: str) -> Any:
    v = Violations()
    found = v.required_id("community_id", value)
    v.raise_if_any()
    return found


def _citizen(v: Violations, value: str) -> str:
    problem = auth.subject_problem(value)
    if problem is not None:
        v.add("citizen", f"citizen must be a subject id: {problem}")
    return value


@refuse_control_characters
class GroupRpcs:
    ctx: Context

    async def CreateCommunity(self, request: pb.CreateCommunityRequest, context: Any) -> pb.CreateCommunityResponse:
        v = Violations()
        name = v.text("name", request.name, limit=input_rules.MAX_NAME, single_line=True)
        description = v.text("description", request.description, limit=input_rules.MAX_DESCRIPTION)
        district = v.district("district_code", request.district_code)
        topic = v.text("topic", request.topic, required=False, limit=communities.MAX_TOPIC, single_line=True)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        caller = principal()
        row, created = await self.ctx.groups.create(caller.subject, name, description, district, topic, request_id)
        return pb.CreateCommunityResponse(community=views.community(row, "owner", caller), created=created)

    async def GetCommunity(self, request: pb.GetCommunityRequest, context: Any) -> pb.GetCommunityResponse:
        community_id = _community_id(request.community_id)
        caller = principal()
        row = await self.ctx.groups.get(community_id)
        role = await self.ctx.groups.role(community_id, caller.subject)
        if row["status"] != "active" and role is None and not views.staff(caller):
            raise NotFound(f"no community {request.community_id}")
        return pb.GetCommunityResponse(community=views.community(row, role, caller))

    async def RequestToJoin(self, request: pb.RequestToJoinRequest, context: Any) -> pb.RequestToJoinResponse:
        v = Violations()
        community_id = v.required_id("community_id", request.community_id)
        message = v.text("message", request.message, required=False, limit=input_rules.MAX_REASON)
        v.raise_if_any()
        status = await self.ctx.groups.request_to_join(community_id, principal().subject, message)
        return pb.RequestToJoinResponse(status=status)

    async def ListJoinRequests(self, request: pb.ListJoinRequestsRequest, context: Any) -> pb.ListJoinRequestsResponse:
        community_id = _community_id(request.community_id)
        await self.ctx.groups.get(community_id)
        role = await self.ctx.groups.role(community_id, principal().subject)
        communities.require_manager(role, "see join requests")
        rows = await self.ctx.groups.requests(community_id)
        return pb.ListJoinRequestsResponse(
            requests=[
                pb.JoinRequest(
                    citizen=r["citizen"],
                    message=r["message"],
                    status=r["status"],
                    requested_at=views.ts(r["requested_at"]),
                )
                for r in rows
            ]
        )

    async def DecideJoinRequest(
        self, request: pb.DecideJoinRequestRequest, context: Any
    ) -> pb.DecideJoinRequestResponse:
        v = Violations()
        community_id = v.required_id("community_id", request.community_id)
        citizen = _citizen(v, request.citizen)
        v.raise_if_any()
        caller = principal()
        await self.ctx.groups.get(community_id)
        communities.require_manager(await self.ctx.groups.role(community_id, caller.subject), "decide join requests")
        status, count = await self.ctx.groups.decide(community_id, citizen, request.approve, caller.subject)
        return pb.DecideJoinRequestResponse(status=status, member_count=count)

    async def SetMemberRole(self, request: pb.SetMemberRoleRequest, context: Any) -> pb.SetMemberRoleResponse:
        v = Violations()
        community_id = v.required_id("community_id", request.community_id)
        citizen = _citizen(v, request.citizen)
        role = ROLE_NAMES.get(request.role)
        if role is None:
            v.add("role", "role must be MEMBER_ROLE_MODERATOR or MEMBER_ROLE_MEMBER")
        v.raise_if_any()
        assert role is not None
        caller = principal()
        await self.ctx.groups.get(community_id)
        communities.require_owner(await self.ctx.groups.role(community_id, caller.subject), "change members' roles")
        await self.ctx.groups.set_role(community_id, citizen, role)
        return pb.SetMemberRoleResponse(role=views.ROLES[role])

    async def LeaveCommunity(self, request: pb.LeaveCommunityRequest, context: Any) -> pb.LeaveCommunityResponse:
        community_id = _community_id(request.community_id)
        await self.ctx.groups.get(community_id)
        return pb.LeaveCommunityResponse(member_count=await self.ctx.groups.leave(community_id, principal().subject))

    async def PostInCommunity(self, request: pb.PostInCommunityRequest, context: Any) -> pb.PostInCommunityResponse:
        v = Violations()
        community_id = v.required_id("community_id", request.community_id)
        text = v.text("text", request.text, limit=input_rules.MAX_COMMENT)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        caller = principal()
        group = await self.ctx.groups.get(community_id)
        communities.require_active(group["status"])
        communities.require_member(await self.ctx.groups.role(community_id, caller.subject), "post in it")
        row, created = await self.ctx.groups.post(community_id, caller.subject, text, request_id)
        return pb.PostInCommunityResponse(post=views.post(row, caller), created=created)

    async def ListCommunityPosts(
        self, request: pb.ListCommunityPostsRequest, context: Any
    ) -> pb.ListCommunityPostsResponse:
        v = Violations()
        community_id = v.required_id("community_id", request.community_id)
        size = v.page_size("page_size", request.page_size, default=20, limit=100)
        v.raise_if_any()
        before = views.decode_token(request.page_token, (int,))[0] if request.page_token else None
        await self.ctx.groups.get(community_id)
        rows = await self.ctx.groups.posts(community_id, size, before)
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = views.encode_token(rows[-1]["seq"])
        caller = principal()
        return pb.ListCommunityPostsResponse(posts=[views.post(r, caller) for r in rows], next_page_token=token)
