"""Each channel adapter against the provider stand-ins (in process, real HTTP and SMTP on loopback): the
request shapes the real APIs take, the keys the ledger records, and how answers are classified."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_common import kakao_templates
from sotong_common.sealing import new_pair
from sotong_publishing import settings
from sotong_publishing.providers.base import ItemStatus, Job, MemoryRefs, PermanentError, TransientError
from sotong_publishing.worker import provider
from sotong_standins.control import StandinControl
from sotong_standins.server import Settings, StandinServer

TOKEN = "unit-token"


@pytest.fixture
async def standins() -> AsyncIterator[dict[str, Any]]:
    server = StandinServer(
        Settings(http_port=0, smtp_port=0, token=TOKEN, seed=3, kakao_templates=kakao_templates.templates())
    )
    ports = await server.start()
    try:
        yield ports.as_json()
    finally:
        await server.stop()


SEAL_KEYS = new_pair()[0]


def adapter(kind: str, ports: dict[str, Any], refs: MemoryRefs | None = None) -> Any:
    chosen = settings.Dispatch.load(
        {
            "SOTONG_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "SOTONG_DATABASE_URL": "postgresql://unused",
            "SOTONG_PUBLISHING_PROVIDERS": json.dumps(ports["providers"]),
            "SOTONG_PUBLISHING_PROVIDER_TOKEN": TOKEN,
            "SOTONG_PUBLISHING_SEAL_KEYS": SEAL_KEYS,
        }
    )
    return provider(kind, f"{kind}-primary", ports["providers"][kind], chosen, refs or MemoryRefs())


def job(dispatch_id: str, purpose: str = "stage2", **rendering: Any) -> Job:
    text = {"language": "ko", "title": "[호우경보]", "body": "하천변 접근 금지", **rendering}
    return Job(
        pb.DispatchRequested(
            dispatch_id=dispatch_id,
            message_id="M-1",
            thread_id="INC-1",
            purpose=purpose,
            audience=pb.Audience(targets=["kim", "lee"]),
            renderings=[pb.Rendering(**text), pb.Rendering(language="en", title="[Rain]", body="Keep away")],
        )
    )


async def ledger(ports: dict[str, Any], name: str) -> list[dict[str, Any]]:
    async with StandinControl(ports["base_url"]) as control:
        return [dict(d) for d in await control.deliveries(name, limit=1000)]


async def test_push_multicast_keys_each_device_and_fails_stale_tokens_for_good(standins: dict[str, Any]) -> None:
    push = adapter("push", standins)
    results = await push.send(job("d-push"), ["tok-1", "stale:tok-2", "tok-3"])
    assert [r.status for r in results] == [ItemStatus.DELIVERED, ItemStatus.FAILED, ItemStatus.DELIVERED]
    again = await push.send(job("d-push"), ["tok-3"])  # a retry: acknowledged, not delivered again
    assert again[0].status is ItemStatus.DELIVERED
    assert sorted(d["key"] for d in await ledger(standins, "push")) == ["d-push:tok-1", "d-push:tok-3"]
    await push.close()


async def test_sms_switches_to_lms_for_long_text_and_keys_per_number(standins: dict[str, Any]) -> None:
    sms = adapter("sms", standins)
    await sms.send(job("d-sms", body="가" * 60), ["01011112222", "01033334444"])
    rows = await ledger(standins, "sms")
    assert {r["key"] for r in rows} == {"d-sms:01011112222", "d-sms:01033334444"}
    assert {r["kind"] for r in rows} == {"LMS"}
    with pytest.raises(PermanentError, match="400"):
        await sms.send(job("d-emoji", body="대피 🏃"), ["01011112222"])
    await sms.close()


async def test_kakao_alimtalk_fills_the_approved_template(standins: dict[str, Any]) -> None:
    kakao = adapter("kakao", standins)
    variables = {"marker": "", "sender": "서울특별시", "headline": "호우", "area": "도봉구", "description": "접근 금지",
                 "instruction": "대피", "link": "-"}  # fmt: skip
    results = await kakao.send(
        job("d-kakao", template_code="SOTONG_DISASTER_ALERT", variables=variables), ["01012345678", "12"]
    )
    assert [r.status for r in results] == [ItemStatus.DELIVERED, ItemStatus.FAILED]
    assert "E101" in results[1].error
    (row,) = await ledger(standins, "kakao")
    assert row["key"] == "d-kakao:01012345678" and "접근 금지" in row["text"]
    await kakao.close()


async def test_notice_updates_refer_to_the_incident_first_notice(standins: dict[str, Any]) -> None:
    refs = MemoryRefs()
    notice = adapter("notice", standins, refs)
    await notice.send(job("d-n1", purpose="stage1"), ["board"])
    first = await refs.get_ref("INC-1", "notice:notice-primary")
    assert first is not None
    await notice.send(job("d-n2", purpose="update"), ["board"])  # refused by the portal without refers_to
    assert {r["kind"] for r in await ledger(standins, "notice")} == {"disaster", "update"}
    await notice.close()


async def test_chat_posts_every_message_of_an_incident_into_one_room(standins: dict[str, Any]) -> None:
    chat = adapter("chat", standins)
    await chat.send(job("d-c1"), ["room:INC-1"])
    await chat.send(job("d-c2", body="두 번째"), ["room:INC-1"])
    async with StandinControl(standins["base_url"]) as control:
        stats = await control.provider_stats("chat")
    assert stats["extra"]["conversations"] == 1
    await chat.close()


async def test_sns_posts_english_to_english_accounts_and_404_is_permanent(standins: dict[str, Any]) -> None:
    sns = adapter("sns", standins)
    assert "seoul_en" in await sns.accounts()
    await sns.send(job("d-s"), ["seoul_en"])
    (row,) = await ledger(standins, "sns")
    assert row["target"] == "seoul_en" and row["text"] == "Keep away"
    with pytest.raises(PermanentError):
        await sns.send(job("d-s"), ["no-such-account"])
    await sns.close()


async def test_pager_and_mail_deliver_per_officer_and_per_address(standins: dict[str, Any]) -> None:
    pager = adapter("pager", standins)
    await pager.send(job("d-p"), ["kim"])
    assert [r["key"] for r in await ledger(standins, "pager")] == ["d-p:kim"]
    await pager.close()
    mail = adapter("mail", standins)
    results = await mail.send(job("d-m"), ["a@press.kr", "b@press.kr"])
    assert {r.status for r in results} == {ItemStatus.DELIVERED}
    keys = {r["key"] for r in await ledger(standins, "mail")}
    assert keys == {"<d-m@sotong.seoul.go.kr>:a@press.kr", "<d-m@sotong.seoul.go.kr>:b@press.kr"}


@pytest.mark.parametrize("title", ["[호우]\r\n경보 발령", "[호우]\n경보\t발령 ", "[호우] 경보\u2028발령"])
async def test_a_headline_with_line_breaks_is_one_encoded_subject_line(standins: dict[str, Any], title: str) -> None:
    """A line break in a header value would split the header (the email library refuses it, and once stopped the
    whole dispatch process): the subject is one line, Hangul written as RFC 2047 encoded words."""
    mail = adapter("mail", standins)
    results = await mail.send(job("d-subject", title=title), ["a@press.kr"])
    assert [r.status for r in results] == [ItemStatus.DELIVERED]
    (row,) = await ledger(standins, "mail")
    assert row["text"].splitlines()[0] == "[호우] 경보 발령"


async def test_outages_and_rate_limits_are_transient_with_retry_after(standins: dict[str, Any]) -> None:
    sms = adapter("sms", standins)
    async with StandinControl(standins["base_url"]) as control:
        await control.inject("sms", fail_status=503, fail_rate=1.0, duration_s=30)
        with pytest.raises(TransientError) as outage:
            await sms.send(job("d-o"), ["01011112222"])
        assert outage.value.health and outage.value.retry_after_s is not None
        await control.reset("sms")
        await control.inject("sms", rate_limit_per_s=1, burst=1)
        await sms.send(job("d-r1"), ["01011112222"])
        with pytest.raises(TransientError) as limited:
            await sms.send(job("d-r2"), ["01011112222"])
        assert not limited.value.health and (limited.value.retry_after_s or 0) >= 1
    await sms.close()
