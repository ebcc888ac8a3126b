"""The official SNS account registry end to end (issue 12's second done-when item): an account registered in
community becomes a target of the next stage-2 alert that alerting issues, and once closed it is not posted to by
the following one. Community, alerting, the publishing engine and the SNS stand-in, all real processes."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import asyncpg
import pytest

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.alerting.v1 import alerting_service_pb2_grpc as pb_grpc
from sotong.community.v1 import community_outreach_pb2 as opb
from sotong.community.v1 import community_service_pb2_grpc as cpb_grpc
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, sql, token
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.e2e

TARGET = "seoul-safety-fb"


def draft(incident_id: str) -> pb.DraftAlertRequest:
    return pb.DraftAlertRequest(
        incident_id=incident_id,
        texts=[
            pb.AlertText(language="ko", event="호우경보", headline="도봉구 호우경보 발령",
                         description="도봉구에 시간당 50mm 이상의 강한 비가 내리고 있습니다.",
                         instruction="하천변 산책로 이용을 자제하세요.",
                         short_text="[서울시] 도봉구 호우경보. 하천변 접근 금지."),
            pb.AlertText(language="en", event="Heavy rain warning", headline="Heavy rain warning for Dobong-gu",
                         description="Rain of over 50 mm per hour is falling in Dobong-gu.",
                         instruction="Keep away from streams.",
                         short_text="[Seoul] Heavy rain warning, Dobong-gu. Keep away from streams."),
        ],
        severity="Severe", urgency="Immediate", certainty="Observed", category="Met",
        web="https://safecity.seoul.go.kr/",
    )  # fmt: skip


async def stage2(api: pb_grpc.AlertingServiceStub, operator: object, approver: object) -> None:
    """A new incident taken to stage 2 (stage 1 first, each approved by a second person)."""
    reported = await api.ReportIncident(pb.ReportIncidentRequest(hazard="호우", area_codes=["11320"]),
                                        metadata=operator)  # fmt: skip
    for _ in range(2):
        drafted = (await api.DraftAlert(draft(reported.incident.incident_id), metadata=operator)).alert
        await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drafted.identifier), metadata=approver)
        await api.IssueAlert(pb.IssueAlertRequest(identifier=drafted.identifier), metadata=operator)


async def directory_entry(stack: Stack) -> bool | None:
    try:  # None before the publishing engine made its schema
        rows = await sql(stack, "SELECT active FROM directory_entries WHERE list = 'sns:official' AND target = $1",
                         TARGET, schema="publishing")  # fmt: skip
    except asyncpg.UndefinedTableError:
        return None
    return rows[0]["active"] if rows else None


async def test_a_registered_account_gets_the_next_stage2_alert_and_a_closed_one_does_not(fresh_stack: Stack) -> None:
    stack = fresh_stack
    assert stack.state is not None
    run = Path(stack.state.run_dir)
    standins, ports = localrun.start_standins(run, "standins")
    env = localrun.dispatch_env(ports, publishing_channels="sns", publishing_backoff_cap_s="0.5")
    dispatch = localrun.start_dispatch(run, stack.state.env(), env)
    stack.start_services(("alerting-api", "alerting-worker", "community-api", "community-worker"), say=False)
    operator, approver = token(stack, "operator"), token(stack, "approver")
    sns_team = person(stack, "sns-team-1", "operator")
    try:
        async with (
            StandinControl(ports["base_url"]) as control,
            channel(stack, "alerting-api") as alerting_channel,
            channel(stack, "community-api") as community_channel,
            aiohttp.ClientSession() as session,
        ):
            async with session.post(
                f"{ports['base_url']}/_control/sns/accounts", json={"accounts": {TARGET: "facebook"}},
                headers={"Authorization": f"Bearer {env['SOTONG_PUBLISHING_PROVIDER_TOKEN']}"},
            ) as answer:  # fmt: skip
                assert answer.status == 200
            alerts = pb_grpc.AlertingServiceStub(alerting_channel)
            registry = cpb_grpc.CommunityServiceStub(community_channel)

            async def posts(target: str) -> int:
                return len(await control.deliveries("sns", target=target))

            made = await registry.RegisterAccount(
                opb.RegisterAccountRequest(
                    account=opb.SnsAccount(platform="facebook", handle="seoul.safety", department="safety",
                                           url="https://www.facebook.com/seoul.safety", department_name="안전총괄과",
                                           publishing_target=TARGET),
                    request_id="safety-fb",
                ),
                metadata=sns_team,
            )  # fmt: skip
            await eventually(lambda: _is(directory_entry(stack), True), timeout=90)
            await stage2(alerts, operator, approver)

            async def first_alert_posted() -> bool:
                return await posts(TARGET) == 1 and await posts("seoul") == 1

            await eventually(first_alert_posted, timeout=120)

            await registry.ChangeAccountStatus(
                opb.ChangeAccountStatusRequest(account_id=made.account.account_id, status=opb.ACCOUNT_STATUS_CLOSED),
                metadata=sns_team,
            )
            await eventually(lambda: _is(directory_entry(stack), False), timeout=90)
            await stage2(alerts, operator, approver)

            async def second_alert_posted() -> bool:  # the city's own account gets it: the alert went out
                return await posts("seoul") == 2

            await eventually(second_alert_posted, timeout=120)
            assert await posts(TARGET) == 1
    finally:
        localrun.stop(dispatch)
        localrun.stop(standins)


async def _is(found: object, wanted: bool) -> bool:
    return bool(await found == wanted)  # type: ignore[misc]
