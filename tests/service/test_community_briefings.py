"""Opinion-leader briefings on the real stack (issue 12, item 5): an embargoed briefing, approved by a department
admin, is not delivered before its time and is delivered once to every leader after it (SMS, KakaoTalk and mail
stand-ins through the publishing service's routine lane); a leader whose consent lapses before the embargo is not
briefed; receipts and RSVPs per leader; a reply is filed with intake as an opinion, once, and intake's tracking id
comes back onto the recipient."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_service_pb2 as ipb
from sotong.intake.v1 import intake_types_pb2 as itypes
from sotong_common import topics
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, read_all, sql
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.service

EMBARGO_S = 20
LEADERS = (
    (opb.LEADER_CHANNEL_SMS, "sms", "010-3000-0001", "01030000001"),
    (opb.LEADER_CHANNEL_KAKAO, "kakao_bot", "bot-leader-2", "bot-leader-2"),
    (opb.LEADER_CHANNEL_MAIL, "mail", "leader3@civic.example.kr", "leader3@civic.example.kr"),
)


async def test_an_embargoed_briefing_reaches_every_leader_once_and_not_before_its_time(fresh_stack: Stack) -> None:
    stack = fresh_stack
    assert stack.state is not None
    run = Path(stack.state.run_dir)
    standins, ports = localrun.start_standins(run, "standins")
    env = localrun.dispatch_env(ports, publishing_channels="sms,kakao_bot,mail", publishing_backoff_cap_s="0.5")
    dispatch = localrun.start_dispatch(run, stack.state.env(), env)
    stack.start_services(("community-api", "community-worker", "intake-worker"), say=False)
    operator = person(stack, "press-officer", "operator")
    admin = person(stack, "dept-head", "dept_admin")
    try:
        async with StandinControl(ports["base_url"]) as control, channel(stack, "community-api") as ch:
            stub = pb_grpc.CommunityServiceStub(ch)

            async def told(provider: str, target: str) -> int:
                return len(await control.deliveries(provider, target=target))

            leader_ids = []
            for index, (kind, _, contact, _) in enumerate(LEADERS):
                leader = opb.Leader(
                    name=f"오피니언 리더 {index}",
                    organisation="마포구 주민자치회",
                    field="교통",
                    channel=kind,
                    contact=contact,
                    consent_purpose="서울시 정책 브리핑 수신",
                )
                leader.consent_expires_at.FromDatetime(datetime.now(UTC) + timedelta(days=365))
                made = await stub.RegisterLeader(
                    opb.RegisterLeaderRequest(leader=leader, request_id=f"l-{index}"), metadata=operator
                )
                leader_ids.append(made.leader.leader_id)
            lapsing = opb.Leader(name="동의 만료 예정", channel=opb.LEADER_CHANNEL_SMS, contact="010-3000-0009",
                                 consent_purpose="서울시 정책 브리핑 수신")  # fmt: skip
            lapsing.consent_expires_at.FromDatetime(datetime.now(UTC) + timedelta(seconds=EMBARGO_S // 2))
            lapsed_id = (
                await stub.RegisterLeader(
                    opb.RegisterLeaderRequest(leader=lapsing, request_id="l-x"), metadata=operator
                )
            ).leader.leader_id
            rows = await sql(stack, "SELECT personal FROM leaders", schema="community")
            assert not any(b"010-3000" in bytes(r["personal"]) or b"leader3@" in bytes(r["personal"]) for r in rows)

            embargo = datetime.now(UTC) + timedelta(seconds=EMBARGO_S)
            draft = opb.DraftBriefingRequest(title="[엠바고] 버스 노선 개편안", body="내일 09시 발표 예정입니다.",
                                             leader_ids=[*leader_ids, lapsed_id], request_id="b-1")  # fmt: skip
            draft.embargo_until.FromDatetime(embargo)
            drafted = await stub.DraftBriefing(draft, metadata=operator)
            briefing_id = drafted.briefing.briefing_id
            assert drafted.briefing.status == opb.BRIEFING_STATUS_DRAFT
            with pytest.raises(grpc.aio.AioRpcError) as not_admin:
                await stub.ApproveBriefing(opb.ApproveBriefingRequest(briefing_id=briefing_id), metadata=operator)
            assert not_admin.value.code() == grpc.StatusCode.PERMISSION_DENIED
            approved = await stub.ApproveBriefing(opb.ApproveBriefingRequest(briefing_id=briefing_id), metadata=admin)
            assert approved.briefing.status == opb.BRIEFING_STATUS_APPROVED
            again = await stub.ApproveBriefing(opb.ApproveBriefingRequest(briefing_id=briefing_id), metadata=admin)
            assert again.briefing.approved_by == "dept-head"

            # Nothing is delivered before the embargo (watched until a second before it).
            while datetime.now(UTC) < embargo - timedelta(seconds=1):
                for _, provider, _, target in LEADERS:
                    assert await told(provider, target) == 0, f"{provider} delivered before the embargo"
                await asyncio.sleep(0.5)

            async def all_delivered() -> bool:
                return all([await told(provider, target) >= 1 for _, provider, _, target in LEADERS])

            await eventually(all_delivered, timeout=60)
            delivered_at = time.time()
            assert delivered_at >= embargo.timestamp()

            async def receipts() -> opb.Briefing | None:
                got = await stub.GetBriefing(opb.GetBriefingRequest(briefing_id=briefing_id), metadata=operator)
                done = [r for r in got.briefing.recipients if r.delivery == "delivered"]
                return got.briefing if len(done) == len(LEADERS) else None

            briefing = await eventually(receipts, timeout=60)
            by_leader = {r.leader_id: r for r in briefing.recipients}
            assert by_leader[lapsed_id].delivery == "consent_expired"
            # Never early, even for a dispatch that reaches the engine in the last second before its not_before
            # (the lane waits that second out itself rather than holding it in the schedule).
            delivered = {i: by_leader[i].delivered_at.ToDatetime(tzinfo=UTC) for i in leader_ids}
            assert all(at >= embargo for at in delivered.values()), (embargo, delivered)
            await asyncio.sleep(2)
            for _, provider, _, target in LEADERS:
                assert await told(provider, target) == 1, provider
            assert await told("sms", "01030000009") == 0

            rsvp = await stub.RecordBriefingRsvp(
                opb.RecordBriefingRsvpRequest(briefing_id=briefing_id, leader_id=leader_ids[0], rsvp=opb.RSVP_YES),
                metadata=operator,
            )
            assert rsvp.changed
            reply = opb.RecordBriefingReplyRequest(briefing_id=briefing_id, leader_id=leader_ids[1],
                                                   text="환승 거리가 늘어나는 노선이 걱정입니다.",
                                                   district_code="11440")  # fmt: skip
            assert (await stub.RecordBriefingReply(reply, metadata=operator)).filed
            assert not (await stub.RecordBriefingReply(reply, metadata=operator)).filed

            async def filed() -> list[ipb.SubmitReportRequest]:
                found = [ipb.SubmitReportRequest.FromString(r.value) for r in read_all(stack, topics.RAW_SUBMISSION)]
                return [f for f in found if f.channel_message_id.startswith("community:briefing-reply:")]

            opinions = await eventually(filed, timeout=30)
            assert len(opinions) == 1 and opinions[0].kind == itypes.SUBMISSION_KIND_OPINION
            assert opinions[0].text == reply.text and opinions[0].district_code == "11440"

            async def tracked() -> str | None:  # intake's tracking id comes back onto the recipient
                got = await stub.GetBriefing(opb.GetBriefingRequest(briefing_id=briefing_id), metadata=operator)
                found = {r.leader_id: r.reply_tracking_id for r in got.briefing.recipients}
                return found[leader_ids[1]] or None

            assert (await eventually(tracked, timeout=60)).strip()
    finally:
        localrun.stop(dispatch)
        localrun.stop(standins)
