"""The publishing engine on the real stack: every channel delivers exactly once at the stand-ins, a repeated
dispatch sends nothing again, receipts reach publishing.delivery-reported.v1, poison and exhausted dispatches
go to the lane's dead-letter topic and `sotong-publishing-replay` delivers them after the outage."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_common import events
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, produce_raw, read_all, sql
from sotong_standins.control import StandinControl

EMERGENCY = "alerting.dispatch-emergency.v1"
ROUTINE = "alerting.dispatch-routine.v1"
RECEIPTS = "publishing.delivery-reported.v1"
PROVIDERS = ("chat", "pager", "mail", "notice", "sns", "push", "kakao", "sms")


@dataclass
class Engine:
    stack: Stack
    primary: StandinControl
    fallback: StandinControl
    procs: dict[str, subprocess.Popen[bytes]]
    env: dict[str, str]

    async def publish(self, topic: str, *dispatches: pb.DispatchRequested) -> None:
        assert self.stack.state is not None
        await localrun.publish_dispatches(
            self.stack.state.kafka_bootstrap, self.stack.state.topic_prefix + topic, list(dispatches)
        )

    async def accepted(self, control: StandinControl | None = None) -> dict[str, int]:
        stats = await (control or self.primary).stats()
        return {name: int(stats[name]["accepted"]) for name in PROVIDERS}


@pytest_asyncio.fixture()
async def engine(fresh_stack: Stack) -> AsyncIterator[Engine]:
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    primary_proc, primary = localrun.start_standins(run, "standins")
    fallback_proc, fallback = localrun.start_standins(run, "standins-fallback")
    env = localrun.dispatch_env(
        primary,
        fallback,
        publishing_max_attempts="3",
        publishing_backoff_cap_s="0.5",
        publishing_directory_push_devices="1200",
        publishing_directory_sms_subscribers="150",
        publishing_directory_kakao_friends="120",
    )
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    procs = {"standins": primary_proc, "standins-fallback": fallback_proc, "publishing-dispatch": worker}
    async with StandinControl(primary["base_url"]) as p, StandinControl(fallback["base_url"]) as f:
        try:
            yield Engine(fresh_stack, p, f, procs, env)
        finally:
            for proc in reversed(list(procs.values())):
                localrun.stop(proc)


def alert(channel: int, dispatch_id: str, audience: pb.Audience, **rendering: Any) -> pb.DispatchRequested:
    text = {"language": "ko", "title": "[호우경보] 도봉구", "body": "도림천 범람 우려. 하천변 접근 금지.", **rendering}
    return pb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id="SEOUL-ALERT-1",
        thread_id="INC-7",
        channel=channel,  # type: ignore[arg-type]
        priority=pb.PRIORITY_EMERGENCY,
        purpose="stage2",
        audience=audience,
        renderings=[pb.Rendering(**text)],
    )


def every_channel(suffix: str) -> list[pb.DispatchRequested]:
    officers = pb.Audience(targets=["officer-kim", "officer-lee", "officer-park"])
    return [
        alert(pb.CHANNEL_GROUP_CHAT, f"d-chat-{suffix}", officers),
        alert(pb.CHANNEL_PAGER, f"d-pager-{suffix}", officers),
        alert(pb.CHANNEL_PRESS_MAIL, f"d-mail-{suffix}", pb.Audience(targets=["a@press.kr", "b@press.kr"])),
        alert(pb.CHANNEL_PORTAL_NOTICE, f"d-notice-{suffix}", pb.Audience(segment="all")),
        alert(pb.CHANNEL_SNS, f"d-sns-{suffix}", pb.Audience(targets=["seoul", "seoul_x", "dobong-gu"])),
        alert(pb.CHANNEL_NEWS_APP_PUSH, f"d-push-{suffix}", pb.Audience(segment="all")),
        alert(
            pb.CHANNEL_KAKAO_CHANNEL,
            f"d-kakao-{suffix}",
            pb.Audience(segment="districts:11320,11110"),
            template_code="SOTONG_DISASTER_ALERT",
            variables={
                "marker": "",
                "sender": "서울특별시",
                "headline": "호우경보",
                "area": "도봉구·종로구",
                "description": "하천변 접근 금지",
                "instruction": "대피",
                "link": "-",
            },
        ),
        alert(pb.CHANNEL_SMS, f"d-sms-{suffix}", pb.Audience(segment="all")),
    ]


# chat: the room opening and the message; kakao: 120 friends, ids i % 25 in two districts -> 10.
EXPECTED = {"chat": 2, "pager": 3, "mail": 2, "notice": 1, "sns": 3, "push": 1200, "kakao": 10, "sms": 150}


async def test_every_channel_delivers_once_and_a_repeat_sends_nothing(engine: Engine) -> None:
    await engine.publish(EMERGENCY, *every_channel("a"))

    async def all_delivered() -> dict[str, int] | None:
        accepted = await engine.accepted()
        return accepted if accepted == EXPECTED else None

    await eventually(all_delivered, timeout=60)
    stats = await engine.primary.stats()
    assert all(stats[name]["repeated_targets"] == 0 for name in PROVIDERS)

    # The same dispatches again (a producer retry, a replay): skipped from the delivery record, nothing sent.
    await engine.publish(EMERGENCY, *every_channel("a"))
    await engine.publish(EMERGENCY, alert(pb.CHANNEL_PAGER, "d-pager-marker", pb.Audience(targets=["officer-x"])))
    await eventually(lambda: _pager_has(engine, 4), timeout=30)
    assert await engine.accepted() == {**EXPECTED, "pager": 4}
    stats = await engine.primary.stats()
    assert all(stats[name]["repeated_targets"] == 0 and stats[name]["key_conflicts"] == 0 for name in PROVIDERS)

    rows = await sql(engine.stack, "SELECT outcome, count(*) FROM deliveries GROUP BY outcome", schema="publishing")
    assert {r["outcome"]: r["count"] for r in rows} == {
        "delivered": 1 + 4 + 2 + 1 + 3
    }  # chat room, pagers, mail, board, sns
    receipts = [pb.DeliveryReported.FromString(r.value) for r in read_all(engine.stack, RECEIPTS)]
    per_channel: dict[int, int] = {}
    for receipt in receipts:
        assert receipt.outcome == pb.DELIVERY_OUTCOME_DELIVERED
        per_channel[receipt.channel] = per_channel.get(receipt.channel, 0) + max(1, receipt.delivered_count)
    assert per_channel[pb.CHANNEL_NEWS_APP_PUSH] == 1200  # one per device even when reported per batch
    assert per_channel[pb.CHANNEL_SMS] == 150
    assert per_channel[pb.CHANNEL_PAGER] == 4
    keyed = [r for r in receipts if r.target]
    assert all(r.idempotency_key == f"{r.dispatch_id}:{r.target}" for r in keyed)


async def _pager_has(engine: Engine, n: int) -> bool:
    return (await engine.accepted())["pager"] >= n


async def test_poison_and_exhausted_dispatches_are_dead_lettered_and_replayed_once(engine: Engine) -> None:
    headers = events.EventMetadata.new(EMERGENCY, "test").headers(with_trace=False)
    produce_raw(engine.stack, EMERGENCY, b"\xff\x00 not a protobuf", key=b"junk", headers=headers)
    # A segment no directory knows, and a channel nobody delivers: contract violations, dead-lettered at once.
    await engine.publish(EMERGENCY, alert(pb.CHANNEL_NEWS_APP_PUSH, "d-bad-segment", pb.Audience(segment="mars")))
    await engine.publish(ROUTINE, alert(99, "d-bad-channel", pb.Audience(targets=["x"])))

    async def both_refused() -> list[str] | None:
        found = await asyncio.to_thread(read_all, engine.stack, EMERGENCY + ".dlq")
        found += await asyncio.to_thread(read_all, engine.stack, ROUTINE + ".dlq")
        errors = [dict(r.headers).get("sotong_error", b"").decode() for r in found]
        return errors if len(found) >= 3 else None

    errors = await eventually(both_refused, timeout=30)
    await asyncio.sleep(1.0)  # every channel saw them; exactly one consumer dead-letters each
    assert len(await asyncio.to_thread(read_all, engine.stack, EMERGENCY + ".dlq")) == 2
    assert any("cannot decode" in e for e in errors)
    assert any("mars" in e for e in errors) and any("not a known channel" in e for e in errors)

    # Both SMS providers down for longer than three attempts last: the dispatch is dead-lettered.
    await engine.primary.inject("sms", fail_status=503, fail_rate=1.0, duration_s=8)
    await engine.fallback.inject("sms", fail_status=503, fail_rate=1.0, duration_s=8)
    await engine.publish(ROUTINE, alert(pb.CHANNEL_SMS, "d-sms-dead", pb.Audience(targets=["01011112222"])))

    async def dead_lettered() -> list[Any]:
        return await asyncio.to_thread(read_all, engine.stack, ROUTINE + ".dlq")

    async def exhausted() -> list[Any] | None:
        found = await dead_lettered()
        return found if len(found) == 2 else None

    dead = await eventually(exhausted, timeout=60)
    assert pb.DispatchRequested.FromString(dead[-1].value).dispatch_id == "d-sms-dead"
    receipts = [pb.DeliveryReported.FromString(r.value) for r in read_all(engine.stack, RECEIPTS)]
    assert [r.outcome for r in receipts if r.dispatch_id == "d-sms-dead"] == [pb.DELIVERY_OUTCOME_DEAD_LETTERED]
    assert (await engine.accepted())["sms"] == 0

    await asyncio.sleep(8)  # the outage ends
    replay = Path(sys.executable).parent / "sotong-publishing-replay"
    for _ in range(2):  # replaying twice is harmless
        done = subprocess.run(
            [str(replay), "--lane", "routine", "--from-beginning", "--dispatch-id", "d-sms-dead"],
            env={**engine.stack.state.env(), "PATH": ""} if engine.stack.state else None,
            capture_output=True,
            text=True,
            check=True,
        )
        assert '"replayed": 1' in done.stdout and '"skipped": 1' in done.stdout  # only the one asked for
    sent = await eventually(lambda: _sms_sent(engine), timeout=60)
    await asyncio.sleep(2)
    assert sent == 1 and (await _sms_sent(engine)) == 1
    stats = await engine.primary.stats()
    assert stats["sms"]["repeated_targets"] == 0


async def _sms_sent(engine: Engine) -> int:
    return (await engine.accepted())["sms"] + (await engine.accepted(engine.fallback))["sms"]
