"""Priority lanes: an alert published behind a routine backlog on the same channel (SMS, slowed to 40 ms a
request) is delivered while the routine fan-outs are still running, and nothing of either is lost."""

from __future__ import annotations

import time
from pathlib import Path

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually
from sotong_standins.control import StandinControl

SUBSCRIBERS = 6_000
ROUTINE_DISPATCHES = 3
OFFICERS = [f"0109999{i:04d}" for i in range(50)]


def sms(dispatch_id: str, priority: int, audience: pb.Audience) -> pb.DispatchRequested:
    return pb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id=f"M-{dispatch_id}",
        channel=pb.CHANNEL_SMS,
        priority=priority,  # type: ignore[arg-type]
        purpose="stage2" if priority == pb.PRIORITY_EMERGENCY else "briefing",
        audience=audience,
        renderings=[pb.Rendering(language="ko", body=f"{dispatch_id} 안내")],
    )


async def test_an_alert_overtakes_a_routine_backlog_on_the_same_channel(fresh_stack: Stack) -> None:
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    standins, ports = localrun.start_standins(run, "standins", ("--latency-ms", "40"))
    env = localrun.dispatch_env(
        ports,
        publishing_directory_sms_subscribers=str(SUBSCRIBERS),
        publishing_concurrency="2",
        publishing_channels="sms",
    )
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    prefix = fresh_stack.state.topic_prefix
    try:
        async with StandinControl(ports["base_url"]) as control:
            backlog = [
                sms(f"routine-{i}", pb.PRIORITY_ROUTINE, pb.Audience(segment="all")) for i in range(ROUTINE_DISPATCHES)
            ]
            await localrun.publish_dispatches(
                fresh_stack.state.kafka_bootstrap, prefix + "alerting.dispatch-routine.v1", backlog
            )

            async def routine_started() -> bool:
                return int((await control.provider_stats("sms"))["accepted"]) >= 400

            await eventually(routine_started, timeout=60, every=0.05)
            published = time.monotonic()
            await localrun.publish_dispatches(
                fresh_stack.state.kafka_bootstrap,
                prefix + "alerting.dispatch-emergency.v1",
                [sms("alert", pb.PRIORITY_EMERGENCY, pb.Audience(targets=OFFICERS))],
            )

            async def alert_delivered() -> int:
                return len(await control.deliveries("sms", limit=1000, key_prefix="alert:"))

            await eventually(lambda: _reached(alert_delivered, len(OFFICERS)), timeout=60, every=0.02)
            alert_s = time.monotonic() - published
            routine_then = int((await control.provider_stats("sms"))["accepted"]) - len(OFFICERS)
            total = ROUTINE_DISPATCHES * SUBSCRIBERS
            assert routine_then < total / 2, f"the alert waited for the backlog ({routine_then} routine sent first)"
            assert alert_s < 5.0

            async def everything() -> bool:
                return int((await control.provider_stats("sms"))["accepted"]) >= total + len(OFFICERS)

            await eventually(everything, timeout=120)
            stats = await control.provider_stats("sms")
            assert stats["accepted"] == total + len(OFFICERS) and stats["repeated_targets"] == 0
    finally:
        localrun.stop(worker)
        localrun.stop(standins)


async def _reached(read: object, n: int) -> bool:
    assert callable(read)
    return bool(await read() >= n)
