"""The SNS expert network on the real stack (issue 12, item 4): experts with consent (name and mail encrypted at
rest), search by field and language with lapsed consent left out, a panel, an invitation by mail through the
publishing service to every member whose consent holds at the meeting (exactly once at the mail stand-in),
RSVPs; bad input names its field."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common.errors import field_violations
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, sql
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.service


def expert(name: str, email: str, country: str, languages: list[str], fields: list[str], days: float) -> opb.Expert:
    found = opb.Expert(name=name, email=email, organisation="University", country=country, languages=languages,
                       fields=fields, consent_purpose="서울시 SNS 자문")  # fmt: skip
    found.consent_expires_at.FromDatetime(datetime.now(UTC) + timedelta(days=days))
    return found


async def test_experts_are_found_by_field_and_language_and_a_panel_is_invited_once(fresh_stack: Stack) -> None:
    stack = fresh_stack
    assert stack.state is not None
    run = Path(stack.state.run_dir)
    standins, ports = localrun.start_standins(run, "standins")
    env = localrun.dispatch_env(ports, publishing_channels="mail", publishing_backoff_cap_s="0.5")
    dispatch = localrun.start_dispatch(run, stack.state.env(), env)
    stack.start_services(("community-api", "community-worker"), say=False)
    operator = person(stack, "sns-team-1", "operator")
    try:
        async with StandinControl(ports["base_url"]) as control, channel(stack, "community-api") as ch:
            stub = pb_grpc.CommunityServiceStub(ch)
            people = {
                "kim": expert("김소통", "kim@univ.example.kr", "KR", ["ko", "en"], ["sns-marketing"], 365),
                "smith": expert(
                    "Jane Smith", "jane@example.org", "US", ["en"], ["sns-marketing", "crisis-communication"], 365
                ),
                "sato": expert("佐藤", "sato@example.jp", "JP", ["ja", "en"], ["crisis-communication"], 365),
                "lapsed": expert("만료", "old@example.kr", "KR", ["ko"], ["sns-marketing"], 3 / 86400),
            }  # fmt: skip
            ids = {}
            for key, found in people.items():
                made = await stub.RegisterExpert(opb.RegisterExpertRequest(expert=found, request_id=key),
                                                 metadata=operator)  # fmt: skip
                ids[key] = made.expert.expert_id
            rows = await sql(stack, "SELECT personal FROM experts", schema="community")
            assert not any(
                b"example" in bytes(r["personal"]) or "김소통".encode() in bytes(r["personal"]) for r in rows
            )

            async def names(field: str, language: str) -> list[str]:
                got = await stub.SearchExperts(opb.SearchExpertsRequest(field=field, language=language),
                                               metadata=operator)  # fmt: skip
                return sorted(e.name for e in got.experts)

            assert await names("sns-marketing", "en") == ["Jane Smith", "김소통"]
            assert await names("crisis-communication", "ja") == ["佐藤"]
            assert await names("", "en") == ["Jane Smith", "佐藤", "김소통"]
            await asyncio.sleep(3)
            assert await names("sns-marketing", "ko") == ["김소통"]  # the lapsed consent is no longer found

            panel = await stub.CreatePanel(
                opb.CreatePanelRequest(panel=opb.Panel(title="위기 소통 자문단", field="crisis-communication",
                                                       expert_ids=[ids["smith"], ids["sato"], ids["lapsed"]]),
                                       request_id="panel-1"),
                metadata=operator,
            )  # fmt: skip
            invite = opb.InvitePanelRequest(panel_id=panel.panel.panel_id, title="1차 회의", request_id="inv-1")
            invite.starts_at.FromDatetime(datetime.now(UTC) + timedelta(days=7))
            invited = await stub.InvitePanel(invite, metadata=operator)
            assert invited.created and list(invited.consent_expired) == [ids["lapsed"]]
            again = await stub.InvitePanel(invite, metadata=operator)
            assert not again.created and again.invitation.invitation_id == invited.invitation.invitation_id

            async def mailed() -> bool:
                counts = [
                    len(await control.deliveries("mail", target=a)) for a in ("jane@example.org", "sato@example.jp")
                ]
                return counts == [1, 1]

            await eventually(mailed, timeout=60)
            await asyncio.sleep(2)
            assert len(await control.deliveries("mail", target="jane@example.org")) == 1
            assert len(await control.deliveries("mail", target="old@example.kr")) == 0

            answered = await stub.RecordExpertRsvp(
                opb.RecordExpertRsvpRequest(invitation_id=invited.invitation.invitation_id, expert_id=ids["sato"],
                                            rsvp=opb.RSVP_YES),
                metadata=operator,
            )  # fmt: skip
            assert dict(answered.invitation.rsvps) == {ids["sato"]: "yes"}
            with pytest.raises(grpc.aio.AioRpcError) as outsider:
                await stub.RecordExpertRsvp(
                    opb.RecordExpertRsvpRequest(invitation_id=invited.invitation.invitation_id,
                                                expert_id=ids["kim"], rsvp=opb.RSVP_NO),
                    metadata=operator,
                )  # fmt: skip
            assert outsider.value.code() == grpc.StatusCode.NOT_FOUND

            bad = opb.Expert(name="x", email="not-mail", country="Korea", languages=["kor"], fields=["SNS"],
                             consent_purpose="p")  # fmt: skip
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.RegisterExpert(opb.RegisterExpertRequest(expert=bad, request_id="bad"), metadata=operator)
            assert sorted(v.field for v in field_violations(refused.value)) == [
                "expert.consent_expires_at", "expert.country", "expert.email", "expert.fields[0]",
                "expert.languages[0]",
            ]  # fmt: skip
    finally:
        localrun.stop(dispatch)
        localrun.stop(standins)
