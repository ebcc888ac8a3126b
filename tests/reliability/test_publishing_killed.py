"""SIGKILL the dispatch worker in the middle of a fan-out (200,000 news-app devices and 3,000 SMS subscribers):
after a restart every target has exactly one message at the stand-ins, and no target got a second one."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, sql
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.reliability

DEVICES = 200_000
SUBSCRIBERS = 3_000


def dispatch(channel: int, dispatch_id: str) -> pb.DispatchRequested:
    return pb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id="SEOUL-ALERT-KILL",
        thread_id="INC-KILL",
        channel=channel,  # type: ignore[arg-type]
        priority=pb.PRIORITY_EMERGENCY,
        purpose="stage2",
        audience=pb.Audience(segment="all"),
        renderings=[pb.Rendering(language="ko", title="[지진] 서울", body="흔들림이 멈추면 넓은 곳으로 대피하세요.")],
    )


async def test_killed_dispatch_worker_resumes_and_sends_nothing_twice(fresh_stack: Stack) -> None:
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    standins, ports = localrun.start_standins(run, "standins", ("--latency-ms", "5"))
    env = localrun.dispatch_env(
        ports,
        publishing_directory_push_devices=str(DEVICES),
        publishing_directory_sms_subscribers=str(SUBSCRIBERS),
        publishing_concurrency="4",
    )
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    try:
        async with StandinControl(ports["base_url"]) as control:
            await localrun.publish_dispatches(
                fresh_stack.state.kafka_bootstrap,
                fresh_stack.state.topic_prefix + "alerting.dispatch-emergency.v1",
                [dispatch(pb.CHANNEL_NEWS_APP_PUSH, "kill-push"), dispatch(pb.CHANNEL_SMS, "kill-sms")],
            )

            async def push_accepted() -> int:
                return int((await control.provider_stats("push"))["accepted"])

            # Kill once a fifth of the devices have their message: the rest is still to send.
            await eventually(lambda: _at_least(push_accepted, DEVICES // 5), timeout=60, every=0.02)
            localrun.stop(worker, signal.SIGKILL)
            at_kill = await push_accepted()
            assert at_kill < DEVICES, "the kill should land in the middle of the fan-out"
            checkpointed = await sql(
                fresh_stack,
                "SELECT count(*) FROM fanout_batches WHERE dispatch_id = 'kill-push'",
                schema="publishing",
            )

            worker = localrun.start_dispatch(run, fresh_stack.state.env(), env, name="publishing-dispatch-2")

            async def finished() -> bool:
                stats = await control.stats()
                return stats["push"]["accepted"] >= DEVICES and stats["sms"]["accepted"] >= SUBSCRIBERS

            await eventually(finished, timeout=90)
            await asyncio.sleep(1.0)
            stats = await control.stats()
            for name, total in (("push", DEVICES), ("sms", SUBSCRIBERS)):
                assert stats[name]["accepted"] == total, name  # one message per target, none lost
                assert stats[name]["unique_keys"] == total, name
                assert stats[name]["repeated_targets"] == 0, name  # nobody got it twice under another key
                assert stats[name]["key_conflicts"] == 0, name
            # The restart resumed from the checkpoints: at most the batches in flight at the kill were re-sent.
            assert int(checkpointed[0][0]) > 0
            assert stats["push"]["duplicates"] <= DEVICES - int(checkpointed[0][0]) * 500
            rows = await sql(
                fresh_stack,
                "SELECT count(*), sum(delivered) FROM fanout_batches WHERE dispatch_id = 'kill-push'",
                schema="publishing",
            )
            assert (int(rows[0][0]), int(rows[0][1])) == (DEVICES // 500, DEVICES)
    finally:
        localrun.stop(worker)
        localrun.stop(standins)


async def _at_least(read: Callable[[], Awaitable[int]], n: int) -> bool:
    return await read() >= n
