"""Community's gRPC API process: `sotong.community.v1.CommunityService`.

Run as `sotong-community-api`. The RPCs live in one module per domain (proposals, conversations, polls,
communities, opinion; part 2 adds its own beside them) and are put together here with the roles that may call
each. The process also runs the group-committed ledger (supports, likes, forum) and the outbox relay of the
community schema.
"""

from __future__ import annotations

from datetime import timedelta

from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common import auth, logs, process
from sotong_common.server import Server
from sotong_community import settings
from sotong_community.api.account_rpcs import AccountRpcs
from sotong_community.api.briefing_rpcs import BriefingRpcs
from sotong_community.api.campaign_rpcs import CampaignRpcs
from sotong_community.api.card_rpcs import CardRpcs
from sotong_community.api.class_rpcs import ClassRpcs
from sotong_community.api.context import Context, Outreach
from sotong_community.api.conversation_rpcs import ConversationRpcs
from sotong_community.api.expert_rpcs import ExpertRpcs
from sotong_community.api.group_rpcs import GroupRpcs
from sotong_community.api.guideline_rpcs import GuidelineRpcs
from sotong_community.api.opinion_rpcs import OpinionRpcs
from sotong_community.api.poll_rpcs import PollRpcs
from sotong_community.api.proposal_rpcs import ProposalRpcs

SERVICE = "sotong.community.v1.CommunityService"
CITIZEN = {"citizen"}
READERS = {"citizen", "operator", "dept_admin", "moderator"}
STAFF = {"operator", "dept_admin"}
ALL_STAFF = {"operator", "dept_admin", "moderator"}

ROLES: dict[str, set[str]] = {
    "UpsertSpace": {"operator"},
    "GetSpace": READERS,
    "CreateProposal": CITIZEN,
    "EditProposal": CITIZEN,
    "SubmitProposal": CITIZEN,
    "WithdrawProposal": CITIZEN,
    "GetProposal": READERS,
    "ListProposals": READERS,
    "SupportProposal": CITIZEN,
    "WithdrawSupport": CITIZEN,
    "LikeProposal": CITIZEN,
    "JoinForum": CITIZEN,
    "StageAnswer": STAFF,
    "PublishAnswer": STAFF,
    "AddProgress": STAFF,
    "OpenDebate": CITIZEN | STAFF,
    "GetDebate": READERS,
    "AddStatement": CITIZEN,
    "VoteStatement": CITIZEN,
    "GetOpinionGroups": READERS,
    "PostComment": CITIZEN | STAFF,
    "ListComments": READERS,
    "GetComment": READERS,
    "ReportContent": CITIZEN,
    "CreatePoll": STAFF,
    "GetPoll": READERS,
    "ClosePoll": STAFF,
    "RespondToPoll": CITIZEN,
    "GetPollResults": READERS,
    "CreateCommunity": CITIZEN,
    "GetCommunity": READERS,
    "RequestToJoin": CITIZEN,
    "ListJoinRequests": CITIZEN,
    "DecideJoinRequest": CITIZEN,
    "SetMemberRole": CITIZEN,
    "LeaveCommunity": CITIZEN,
    "PostInCommunity": CITIZEN,
    "ListCommunityPosts": READERS,
    "GetOpinionStats": READERS,
    "RegisterAccount": STAFF,
    "UpdateAccount": STAFF,
    "ChangeAccountStatus": STAFF,
    "GetAccount": STAFF,
    "ListAccounts": STAFF,
    "RunAccountAudit": {"operator"},
    "GetAccountAuditReport": STAFF,
    "GetBusinessCard": ALL_STAFF,
    "GetLetterFooter": ALL_STAFF,
    "GetCardSheet": STAFF,
    "PublishGuidelines": {"operator"},
    "GetGuidelines": ALL_STAFF,
    "RegisterStaff": STAFF,
    "AcknowledgeGuidelines": ALL_STAFF,
    "CreateTrainingSession": STAFF,
    "RecordAttendance": STAFF,
    "GetDepartmentCompliance": STAFF,
    "CreateClass": STAFF,
    "GetClass": READERS,
    "ListClasses": READERS,
    "EnrolInClass": CITIZEN | STAFF,
    "CancelEnrolment": CITIZEN | STAFF,
    "AcceptSeat": CITIZEN | STAFF,
    "GetEnrolment": CITIZEN | STAFF,
    "ListEnrolments": STAFF,
    "RecordClassAttendance": STAFF,
    "RegisterLeader": STAFF,
    "DraftBriefing": STAFF,
    "ApproveBriefing": {"dept_admin"},
    "GetBriefing": STAFF,
    "RecordBriefingRsvp": STAFF,
    "RecordBriefingReply": STAFF,
    "RegisterExpert": STAFF,
    "SearchExperts": STAFF,
    "CreatePanel": STAFF,
    "InvitePanel": STAFF,
    "RecordExpertRsvp": STAFF,
    "CreateCampaign": STAFF,
    "ScheduleCampaignPost": STAFF,
    "GetCampaign": STAFF,
    "ListCampaignCalendar": STAFF,
}
POLICY = auth.Policy({f"/{SERVICE}/{method}": roles for method, roles in ROLES.items()})


class CommunityService(
    ProposalRpcs,
    ConversationRpcs,
    PollRpcs,
    GroupRpcs,
    OpinionRpcs,
    AccountRpcs,
    CardRpcs,
    GuidelineRpcs,
    ClassRpcs,
    BriefingRpcs,
    ExpertRpcs,
    CampaignRpcs,
    pb_grpc.CommunityServiceServicer,
):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx


async def serve(proc: process.Process, chosen: settings.Api) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS, max_size=20)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-community-api")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    outreach = Outreach(
        chosen.community_dormant_days, chosen.community_merge_overlap, chosen.community_training_valid_days
    )
    ctx = Context.of(
        pool,
        chosen.community_report_threshold,
        outreach,
        chosen.community_contact_keys,
        chosen.publishing_seal_public_keys,
        timedelta(milliseconds=chosen.community_supports_announce_ms),
    )
    await proc.start("support ledger", ctx.ledger)
    server = Server.for_settings("community", POLICY, chosen)
    service = CommunityService(ctx)
    server.add(SERVICE, lambda s: pb_grpc.add_CommunityServiceServicer_to_server(service, s))
    port = await proc.grpc(server)
    logs.get("community.api").info("community api serving", grpc_port=port)


def main() -> None:
    process.run("community-api", "community", settings.Api.load_or_exit(), serve)


if __name__ == "__main__":
    main()
