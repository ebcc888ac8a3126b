"""The official SNS account registry on the real stack (issue 12, item 1): registering an account makes it a target
of the next stage-2 alert and closing one removes it, through the publishing service to the SNS stand-in; posts
on an account (publishing's receipts) keep it active while a silent one is marked dormant by the audit, which
proposes merge candidates and stores the month's report as CSV and HTML; bad input names its field and nothing is
stored twice."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import grpc
import pytest
import pytest_asyncio

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import topics
from sotong_common.errors import field_violations
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, read_all, sql
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.service

EMERGENCY = "alerting.dispatch-emergency.v1"
PARTNER = "partner.dispatch-requested.v1"


@dataclass
class Engine:
    stack: Stack
    control: StandinControl
    base_url: str
    token: str

    async def publish(self, topic: str, dispatch: ppb.DispatchRequested) -> None:
        assert self.stack.state is not None
        await localrun.publish_dispatches(
            self.stack.state.kafka_bootstrap, self.stack.state.topic_prefix + topic, [dispatch]
        )

    async def provider_knows(self, accounts: dict[str, str]) -> None:
        """The accounts exist on the platform (the stand-in refuses posts to accounts it does not know)."""
        async with aiohttp.ClientSession() as session, session.post(
            f"{self.base_url}/_control/sns/accounts", json={"accounts": accounts},
            headers={"Authorization": f"Bearer {self.token}"},
        ) as answer:  # fmt: skip
            assert answer.status == 200, await answer.text()

    async def posted(self, target: str, dispatch_id: str) -> bool:
        found = await self.control.deliveries("sns", target=target, key_prefix=dispatch_id)
        return bool(found)


@pytest_asyncio.fixture()
async def engine(fresh_stack: Stack) -> AsyncIterator[Engine]:
    assert fresh_stack.state is not None
    from pathlib import Path

    run = Path(fresh_stack.state.run_dir)
    standins, ports = localrun.start_standins(run, "standins")
    env = localrun.dispatch_env(ports, publishing_channels="sns", publishing_backoff_cap_s="0.5")
    dispatch = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    try:
        async with StandinControl(ports["base_url"]) as control:
            yield Engine(fresh_stack, control, ports["base_url"], env["SOTONG_PUBLISHING_PROVIDER_TOKEN"])
    finally:
        localrun.stop(dispatch)
        localrun.stop(standins)


def account(handle: str, target: str, purpose: str, department: str = "youth-policy") -> opb.SnsAccount:
    return opb.SnsAccount(
        platform="facebook",
        handle=handle,
        url=f"https://www.facebook.com/{handle}",
        department=department,
        department_name="청년정책과",
        managers=["staff-kim"],
        purpose=purpose,
        audience="서울 청년",
        publishing_target=target,
    )


def stage2(dispatch_id: str) -> ppb.DispatchRequested:
    """What alerting writes for a stage-2 alert on the SNS channel: every official account."""
    return ppb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id=dispatch_id,
        thread_id="INC-12",
        channel=ppb.CHANNEL_SNS,
        priority=ppb.PRIORITY_EMERGENCY,
        purpose="stage2",
        audience=ppb.Audience(segment="all"),
        renderings=[ppb.Rendering(language="ko", title="[호우경보]", body="하천변 접근 금지")],
        requester="alerting",
    )


async def directory_entry(stack: Stack, target: str) -> bool | None:
    """The publishing engine's entry for `target` in sns:official (None before the engine made its schema)."""
    try:
        rows = await _entries(stack, target)
    except asyncpg.UndefinedTableError:
        return None
    return rows[0]["active"] if rows else None


async def _entries(stack: Stack, target: str) -> list[asyncpg.Record]:
    return await sql(
        stack, "SELECT active FROM directory_entries WHERE list = 'sns:official' AND target = $1", target,
        schema="publishing",
    )  # fmt: skip


async def test_registered_accounts_receive_the_next_stage2_alert_and_closed_ones_do_not(engine: Engine) -> None:
    stack = engine.stack
    stack.start_services(("community-api", "community-worker"), say=False)
    operator = person(stack, "sns-team-1", "operator")
    await engine.provider_knows({"seoul-youth-fb": "facebook"})
    async with channel(stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        made = await stub.RegisterAccount(
            opb.RegisterAccountRequest(
                account=account("seoul.youth.policy", "seoul-youth-fb", "청년 정책 소식"), request_id="acc-1"
            ),
            metadata=operator,
        )
        assert made.created and made.account.status == opb.ACCOUNT_STATUS_ACTIVE
        account_id = made.account.account_id

        async def listed() -> bool:
            return await directory_entry(stack, "seoul-youth-fb") is True

        await eventually(listed, timeout=90)
        await engine.publish(EMERGENCY, stage2("stage2-first"))

        async def delivered() -> bool:
            return await engine.posted("seoul-youth-fb", "stage2-first")

        await eventually(delivered, timeout=90)

        closed = await stub.ChangeAccountStatus(
            opb.ChangeAccountStatusRequest(account_id=account_id, status=opb.ACCOUNT_STATUS_CLOSED, reason="운영 종료"),
            metadata=operator,
        )
        assert closed.changed and closed.account.status == opb.ACCOUNT_STATUS_CLOSED

        async def unlisted() -> bool:
            return await directory_entry(stack, "seoul-youth-fb") is False

        await eventually(unlisted, timeout=60)
        await engine.publish(EMERGENCY, stage2("stage2-second"))

        async def reached_the_others() -> bool:  # the city's own account, imported from the provider
            return await engine.posted("seoul", "stage2-second")

        await eventually(reached_the_others, timeout=90)
        assert not await engine.posted("seoul-youth-fb", "stage2-second")
        assert len(await engine.control.deliveries("sns", target="seoul-youth-fb")) == 1

        history = await stub.GetAccount(opb.GetAccountRequest(account_id=account_id), metadata=operator)
        assert [(h.sequence, h.change, h.status) for h in history.history] == [
            (1, "registered", opb.ACCOUNT_STATUS_ACTIVE),
            (2, "status_changed", opb.ACCOUNT_STATUS_CLOSED),
        ]
        assert history.history[1].reason == "운영 종료" and history.history[1].actor == "sns-team-1"
        feed = read_all(stack, topics.COMMUNITY_SNS_DIRECTORY)
        changes = [ppb.DirectoryEntryChanged.FromString(r.value) for r in feed]
        assert [(c.target, c.active) for c in changes] == [("seoul-youth-fb", True), ("seoul-youth-fb", False)]
        assert changes[0].version < changes[1].version
        assert {r.key for r in feed} == {b"sns:official|seoul-youth-fb"}


async def test_the_audit_marks_silent_accounts_dormant_proposes_merges_and_reports(engine: Engine) -> None:
    stack = engine.stack
    stack.start_services(("community-api", "community-worker"), say=False)
    operator = person(stack, "sns-team-1", "operator")
    await engine.provider_knows({"posting-fb": "facebook", "silent-fb": "facebook", "twin-fb": "facebook"})

    async def worker_audited() -> bool:  # its first audit runs at start; the next one a day later
        return bool(await sql(stack, "SELECT month FROM sns_audits", schema="community"))

    await eventually(worker_audited, timeout=90)
    async with channel(stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        ids = {}
        for handle, target, purpose in (
            ("seoul.youth.jobs", "posting-fb", "청년 일자리 정책과 채용 박람회 소식을 전합니다"),
            ("seoul.youth.silent", "silent-fb", "청년 문화 행사"),
            ("seoul.youth.jobs2", "twin-fb", "청년 일자리 정책과 채용 박람회 안내"),
        ):
            made = await stub.RegisterAccount(
                opb.RegisterAccountRequest(account=account(handle, target, purpose), request_id=f"r-{handle}"),
                metadata=operator,
            )
            ids[target] = made.account.account_id
        # All three were registered 100 days ago; only one posted since (a department's campaign, not an alert).
        await sql(stack, "UPDATE sns_accounts SET registered_at = now() - interval '100 days'", schema="community")

        async def listed() -> bool:
            return await directory_entry(stack, "posting-fb") is True

        await eventually(listed, timeout=90)
        campaign = ppb.DispatchRequested(
            dispatch_id="promo-1", message_id="promo-1", channel=ppb.CHANNEL_SNS, priority=ppb.PRIORITY_ROUTINE,
            purpose="promotion", audience=ppb.Audience(targets=["posting-fb"]), requester="partner",
            renderings=[ppb.Rendering(language="ko", body="청년 채용 박람회")],
        )  # fmt: skip
        await engine.publish(PARTNER, campaign)
        await engine.publish(EMERGENCY, stage2("stage2-audit"))  # reaches all three: no evidence of life

        async def posted_seen() -> opb.SnsAccount | None:
            got = await stub.GetAccount(opb.GetAccountRequest(account_id=ids["posting-fb"]), metadata=operator)
            return got.account if got.account.HasField("last_post_at") else None

        seen = await eventually(posted_seen, timeout=90)
        assert datetime.now(UTC) - seen.last_post_at.ToDatetime(tzinfo=UTC) < timedelta(minutes=5)
        await eventually(lambda: engine.posted("silent-fb", "stage2-audit"), timeout=90)

        ran = await stub.RunAccountAudit(opb.RunAccountAuditRequest(), metadata=operator)
        assert sorted(ran.audit.newly_dormant) == sorted([ids["silent-fb"], ids["twin-fb"]])
        assert (ran.audit.active, ran.audit.dormant) == (1, 2)
        pairs = {frozenset((c.account_id, c.other_account_id)) for c in ran.audit.merge_candidates}
        assert pairs == {frozenset((ids["posting-fb"], ids["twin-fb"]))}
        again = await stub.RunAccountAudit(opb.RunAccountAuditRequest(), metadata=operator)
        assert list(again.audit.newly_dormant) == []

        # A dormant account is still official: it stays in the directory.
        assert await directory_entry(stack, "silent-fb") is True
        silent = await stub.GetAccount(opb.GetAccountRequest(account_id=ids["silent-fb"]), metadata=operator)
        assert silent.account.status == opb.ACCOUNT_STATUS_DORMANT
        assert [(h.change, h.actor) for h in silent.history] == [("registered", "sns-team-1"),
                                                                 ("status_changed", "audit")]  # fmt: skip

        report = await stub.GetAccountAuditReport(
            opb.GetAccountAuditReportRequest(format=opb.REPORT_FORMAT_CSV), metadata=operator
        )
        assert report.content_type.startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
        by_id = {r["account_id"]: r for r in rows}
        assert by_id[ids["silent-fb"]]["status"] == "dormant" and by_id[ids["silent-fb"]]["newly_dormant"] == ""
        assert by_id[ids["posting-fb"]]["status"] == "active"
        assert by_id[ids["posting-fb"]]["merge_candidate_of"] == ids["twin-fb"]
        assert int(by_id[ids["silent-fb"]]["days_since_post"]) >= 99
        page = await stub.GetAccountAuditReport(
            opb.GetAccountAuditReportRequest(month=ran.audit.month, format=opb.REPORT_FORMAT_HTML), metadata=operator
        )
        text = page.content.decode()
        assert text.startswith("<!doctype html>") and "seoul.youth.silent" in text and ids["twin-fb"] in text

        # The department's own post wakes a dormant account.
        wake = ppb.DispatchRequested(
            dispatch_id="promo-2", message_id="promo-2", channel=ppb.CHANNEL_SNS, priority=ppb.PRIORITY_ROUTINE,
            purpose="promotion", audience=ppb.Audience(targets=["silent-fb"]), requester="partner",
            renderings=[ppb.Rendering(language="ko", body="청년 문화 축제")],
        )  # fmt: skip
        await engine.publish(PARTNER, wake)

        async def woken() -> bool:
            got = await stub.GetAccount(opb.GetAccountRequest(account_id=ids["silent-fb"]), metadata=operator)
            return got.account.status == opb.ACCOUNT_STATUS_ACTIVE

        await eventually(woken, timeout=90)


async def test_bad_accounts_name_their_field_and_nothing_is_stored_twice(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("community-api",), say=False)
    operator = person(fresh_stack, "sns-team-1", "operator")
    admin = person(fresh_stack, "dept-admin-1", "dept_admin")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)

        async def refused(request: opb.RegisterAccountRequest) -> tuple[grpc.StatusCode, list[str], str]:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.RegisterAccount(request, metadata=operator)
            return error.value.code(), [v.field for v in field_violations(error.value)], error.value.details() or ""

        good = account("seoul.culture", "seoul-culture-fb", "문화 행사")
        first = await stub.RegisterAccount(opb.RegisterAccountRequest(account=good, request_id="x-1"), metadata=admin)
        repeat = await stub.RegisterAccount(opb.RegisterAccountRequest(account=good, request_id="x-1"), metadata=admin)
        assert first.created and not repeat.created and repeat.account.account_id == first.account.account_id

        code, _, message = await refused(opb.RegisterAccountRequest(account=good, request_id="x-2"))
        assert code == grpc.StatusCode.ALREADY_EXISTS and message.startswith("handle:")
        upper = opb.SnsAccount()
        upper.CopyFrom(good)
        upper.handle, upper.url = "Seoul.Culture", "https://facebook.com/Seoul.Culture"
        code, _, message = await refused(opb.RegisterAccountRequest(account=upper, request_id="x-3"))
        assert code == grpc.StatusCode.ALREADY_EXISTS and message.startswith("handle:")
        same_target = account("seoul.culture2", "seoul-culture-fb", "문화")
        code, _, message = await refused(opb.RegisterAccountRequest(account=same_target, request_id="x-4"))
        assert code == grpc.StatusCode.ALREADY_EXISTS and message.startswith("publishing_target:")

        cases = {
            "account.handle": opb.SnsAccount(platform="x", handle="seoul city!", url="https://x.com/seoulcity",
                                             department="d", department_name="과"),
            "account.url": opb.SnsAccount(platform="x", handle="seoul_city", url="https://x.com.evil.kr/seoul_city",
                                          department="d", department_name="과"),
            "account.platform": opb.SnsAccount(platform="myspace", handle="a", url="https://a.b/a", department="d",
                                               department_name="과"),
            "account.department": opb.SnsAccount(platform="x", handle="seoul_city", url="https://x.com/seoul_city",
                                                 department="Dept A", department_name="과"),
        }  # fmt: skip
        for field, bad in cases.items():
            code, fields, _ = await refused(opb.RegisterAccountRequest(account=bad, request_id="bad-" + field))
            assert code == grpc.StatusCode.INVALID_ARGUMENT and field in fields, (field, fields)
        http = opb.SnsAccount(platform="x", handle="seoul_city", url="http://x.com/seoul_city", department="d",
                              department_name="과")  # fmt: skip
        code, fields, _ = await refused(opb.RegisterAccountRequest(account=http, request_id="bad-http"))
        assert fields == ["account.url"]
        other_handle = opb.SnsAccount(platform="x", handle="seoul_city", url="https://x.com/another",
                                      department="d", department_name="과")  # fmt: skip
        code, fields, _ = await refused(opb.RegisterAccountRequest(account=other_handle, request_id="bad-other"))
        assert fields == ["account.url"]

        with pytest.raises(grpc.aio.AioRpcError) as merged_alone:
            await stub.ChangeAccountStatus(
                opb.ChangeAccountStatusRequest(account_id=first.account.account_id, status=opb.ACCOUNT_STATUS_MERGED),
                metadata=operator,
            )
        assert [v.field for v in field_violations(merged_alone.value)] == ["merged_into"]
        await stub.ChangeAccountStatus(
            opb.ChangeAccountStatusRequest(account_id=first.account.account_id, status=opb.ACCOUNT_STATUS_CLOSED),
            metadata=operator,
        )
        with pytest.raises(grpc.aio.AioRpcError) as reopened:
            await stub.ChangeAccountStatus(
                opb.ChangeAccountStatusRequest(account_id=first.account.account_id, status=opb.ACCOUNT_STATUS_ACTIVE),
                metadata=operator,
            )
        assert reopened.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as citizen:
            await stub.ListAccounts(opb.ListAccountsRequest(), metadata=person(fresh_stack, "citizen-1"))
        assert citizen.value.code() == grpc.StatusCode.PERMISSION_DENIED
        rows = await sql(fresh_stack, "SELECT count(*) AS n FROM sns_accounts", schema="community")
        assert rows[0]["n"] == 1


async def test_an_update_moves_the_directory_entry_and_is_in_the_history(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("community-api",), say=False)
    operator = person(fresh_stack, "sns-team-1", "operator")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        made = await stub.RegisterAccount(
            opb.RegisterAccountRequest(account=account("seoul.bike", "bike-old", "따릉이 소식"), request_id="u-1"),
            metadata=operator,
        )
        account_id = made.account.account_id
        with pytest.raises(grpc.aio.AioRpcError) as stale:
            await stub.UpdateAccount(
                opb.UpdateAccountRequest(account_id=account_id, account=opb.SnsAccount(purpose="x"),
                                         fields=["purpose"], expected_version=7),
                metadata=operator,
            )  # fmt: skip
        assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert (stale.value.details() or "").startswith("expected_version:")
        with pytest.raises(grpc.aio.AioRpcError) as handle_alone:
            await stub.UpdateAccount(
                opb.UpdateAccountRequest(account_id=account_id, account=opb.SnsAccount(handle="seoul.bike2"),
                                         fields=["handle"]),
                metadata=operator,
            )  # fmt: skip
        assert [v.field for v in field_violations(handle_alone.value)] == ["url"]
        with pytest.raises(grpc.aio.AioRpcError) as unknown_field:
            await stub.UpdateAccount(
                opb.UpdateAccountRequest(account_id=account_id, account=opb.SnsAccount(), fields=["status"]),
                metadata=operator,
            )
        assert [v.field for v in field_violations(unknown_field.value)] == ["fields[0]"]
        moved = await stub.UpdateAccount(
            opb.UpdateAccountRequest(
                account_id=account_id,
                account=opb.SnsAccount(handle="seoul.bike2", url="https://www.facebook.com/seoul.bike2",
                                       publishing_target="bike-new", purpose="따릉이와 자전거길 소식"),
                fields=["handle", "url", "publishing_target", "purpose"],
                expected_version=1,
            ),
            metadata=operator,
        )  # fmt: skip
        assert (moved.account.handle, moved.account.publishing_target, moved.account.version) == (
            "seoul.bike2",
            "bike-new",
            2,
        )
        got = await stub.GetAccount(opb.GetAccountRequest(account_id=account_id), metadata=operator)
        assert [(h.change, list(h.fields)) for h in got.history] == [
            ("registered", []),
            ("updated", ["handle", "publishing_target", "purpose", "url"]),
        ]

        async def feed() -> list[tuple[str, bool]] | None:
            changes = [ppb.DirectoryEntryChanged.FromString(r.value)
                       for r in read_all(fresh_stack, topics.COMMUNITY_SNS_DIRECTORY)]  # fmt: skip
            found = [(c.target, c.active) for c in sorted(changes, key=lambda c: c.version)]
            return found if len(found) >= 3 else None

        assert await eventually(feed, timeout=30) == [("bike-old", True), ("bike-old", False), ("bike-new", True)]
        with pytest.raises(grpc.aio.AioRpcError) as other_page:  # a new address must still name the handle
            await stub.UpdateAccount(
                opb.UpdateAccountRequest(account_id=account_id,
                                         account=opb.SnsAccount(url="https://www.facebook.com/someone.else"),
                                         fields=["url"]),
                metadata=operator,
            )  # fmt: skip
        assert [v.field for v in field_violations(other_page.value)] == ["account.url"]
