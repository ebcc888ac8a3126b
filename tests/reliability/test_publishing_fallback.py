"""A provider answering 503 for a minute (as the issue asks; SOTONG_TEST_OUTAGE_S changes it): the circuit opens,
the fallback provider carries the traffic, nothing is lost or sent twice, and once the outage is over the half-open
probe closes the circuit and traffic returns to the primary."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, read_all
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.reliability

OUTAGE_S = float(os.environ.get("SOTONG_TEST_OUTAGE_S", "60"))
SUBSCRIBERS = 2_000
DEVICES = 20_000


def dispatch(channel: int, dispatch_id: str, **audience: object) -> pb.DispatchRequested:
    return pb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id=f"MSG-{dispatch_id}",
        thread_id="INC-OUTAGE",
        channel=channel,  # type: ignore[arg-type]
        priority=pb.PRIORITY_EMERGENCY,
        purpose="stage2",
        audience=pb.Audience(**audience),  # type: ignore[arg-type]
        renderings=[pb.Rendering(language="ko", title="[호우]", body=f"{dispatch_id}: 하천변 접근 금지")],
    )


async def test_outage_opens_the_circuit_and_the_fallback_carries_the_traffic(fresh_stack: Stack) -> None:
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    # Keep every SMS delivery's record: the ledger check below reads the first dispatch back after a minute of traffic.
    keep = ("--keep-recent", "100000")
    primary_proc, primary = localrun.start_standins(run, "standins", keep)
    fallback_proc, fallback = localrun.start_standins(run, "standins-fallback", keep)
    env = localrun.dispatch_env(
        primary,
        fallback,
        publishing_directory_push_devices=str(DEVICES),
        publishing_directory_sms_subscribers=str(SUBSCRIBERS),
        publishing_breaker_open_s="2",
    )
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    lane = fresh_stack.state.topic_prefix + "alerting.dispatch-emergency.v1"
    try:
        async with StandinControl(primary["base_url"]) as p, StandinControl(fallback["base_url"]) as f:
            for name in ("sms", "push"):
                await p.inject(name, fail_status=503, fail_rate=1.0, duration_s=OUTAGE_S)
            outage_ends = time.monotonic() + OUTAGE_S
            # During the outage: dispatches keep coming, one every half second.
            sent: list[str] = []
            while time.monotonic() < outage_ends - 2:
                n = len(sent)
                batch = [
                    dispatch(pb.CHANNEL_SMS, f"sms-{n}", segment="all")
                    if n % 2 == 0
                    else dispatch(pb.CHANNEL_NEWS_APP_PUSH, f"push-{n}", segment="all")
                ]
                await localrun.publish_dispatches(fresh_stack.state.kafka_bootstrap, lane, batch)
                sent.append(batch[0].dispatch_id)
                await asyncio.sleep(0.5 if n < 4 else 2.0)
            sms_ids = [d for d in sent if d.startswith("sms")]
            push_ids = [d for d in sent if d.startswith("push")]
            expected = {"sms": len(sms_ids) * SUBSCRIBERS, "push": len(push_ids) * DEVICES}

            async def both_sides_total() -> dict[str, int] | None:
                ps, fs = await p.stats(), await f.stats()
                total = {k: ps[k]["accepted"] + fs[k]["accepted"] for k in expected}
                return total if total == expected else None

            await eventually(both_sides_total, timeout=OUTAGE_S + 60)
            ps, fs = await p.stats(), await f.stats()
            assert fs["sms"]["accepted"] > 0 and fs["push"]["accepted"] > 0, "the fallback carried traffic"
            assert ps["sms"]["rejected"].get("503", 0) > 0, "the primary really was down"
            # The breaker spared the primary: far fewer requests than deliveries went to it during the outage.
            assert ps["sms"]["rejected"]["503"] < len(sms_ids) * SUBSCRIBERS / 100
            for stats in (ps, fs):
                for name in expected:
                    assert stats[name]["repeated_targets"] == 0 and stats[name]["key_conflicts"] == 0
            # Nobody got an SMS from both providers: the two ledgers are disjoint and cover every subscriber.
            first = sms_ids[0]
            on_primary = {d["key"] for d in await p.deliveries("sms", limit=100_000, key_prefix=first + ":")}
            on_fallback = {d["key"] for d in await f.deliveries("sms", limit=100_000, key_prefix=first + ":")}
            assert not on_primary & on_fallback
            assert len(on_primary | on_fallback) == SUBSCRIBERS

            # After the outage the half-open probe succeeds (the first dispatch's batches meet a half-open circuit
            # and mostly go to the fallback) and the next dispatch goes wholly to the primary again.
            await asyncio.sleep(max(0.0, outage_ends - time.monotonic()) + 2.5)
            for dispatch_id in ("sms-after", "sms-after-2"):
                await localrun.publish_dispatches(
                    fresh_stack.state.kafka_bootstrap, lane, [dispatch(pb.CHANNEL_SMS, dispatch_id, segment="all")]
                )
                expected["sms"] += SUBSCRIBERS
                await eventually(both_sides_total, timeout=60)
            last = await p.deliveries("sms", limit=100_000, key_prefix="sms-after-2:")
            assert len(last) == SUBSCRIBERS
            receipts = [
                pb.DeliveryReported.FromString(r.value)
                for r in read_all(fresh_stack, "publishing.delivery-reported.v1")
            ]
            providers = {r.provider for r in receipts}
            assert {"sms-primary", "sms-fallback", "push-fallback"} <= providers
            assert not [r for r in receipts if r.outcome != pb.DELIVERY_OUTCOME_DELIVERED]
    finally:
        for proc in (worker, primary_proc, fallback_proc):
            localrun.stop(proc)


async def test_a_primary_that_drops_the_answer_after_delivering_is_retried_and_a_fallback_copy_is_flagged(
    fresh_stack: Stack,
) -> None:
    """A lost answer (or a timeout) may hide a delivery that happened: the engine tries the same provider again
    (its idempotency record answers) rather than failing over at once, and when the fallback does carry targets
    after such a failure, every one of them is flagged `possibly_duplicated` on its receipt: a citizen who may
    have got the message twice is counted, never silently."""
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    keep = ("--keep-recent", "100000")
    primary_proc, primary = localrun.start_standins(run, "standins", keep)
    fallback_proc, fallback = localrun.start_standins(run, "standins-fallback", keep)
    env = localrun.dispatch_env(
        primary,
        fallback,
        publishing_directory_sms_subscribers="300",
        publishing_timeout_s="0.5",
        publishing_breaker_failures="3",
        publishing_breaker_open_s="30",
        publishing_receipt_targets_max="1000",
    )
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    lane = fresh_stack.state.topic_prefix + "alerting.dispatch-emergency.v1"
    try:
        async with StandinControl(primary["base_url"]) as p, StandinControl(fallback["base_url"]) as f:
            # The primary delivers, then drops the connection without answering: the engine cannot know it did.
            await p.inject("sms", drop_rate=1.0, duration_s=60)
            await localrun.publish_dispatches(
                fresh_stack.state.kafka_bootstrap, lane, [dispatch(pb.CHANNEL_SMS, "slow-sms", segment="all")]
            )

            async def every_receipt() -> list[pb.DeliveryReported] | None:
                found = [
                    pb.DeliveryReported.FromString(r.value)
                    for r in read_all(fresh_stack, "publishing.delivery-reported.v1")
                ]
                return found if len(found) >= 300 else None

            receipts = await eventually(every_receipt, timeout=120)
            on_primary = {d["target"] for d in await p.deliveries("sms", limit=100_000, key_prefix="slow-sms:")}
            on_fallback = {d["target"] for d in await f.deliveries("sms", limit=100_000, key_prefix="slow-sms:")}
            flagged = {r.target for r in receipts if r.possibly_duplicated}
            both = on_primary & on_fallback
            print(
                f"primary {len(on_primary)}, fallback {len(on_fallback)}, on both {len(both)}, flagged {len(flagged)}"
            )
            assert on_fallback, "the breaker opened and the fallback carried the batch"
            assert both, "the primary had delivered what the engine could not know about: real duplicates"
            assert on_primary | on_fallback == {r.target for r in receipts}
            assert both <= flagged, "every target that may have been sent twice is flagged on its receipt"
            assert flagged <= on_fallback, "only what the fallback carried after a timeout is flagged"
            stats = await p.stats()
            assert stats["sms"]["repeated_targets"] == 0, "the primary itself never sent a target twice"
    finally:
        for proc in (worker, primary_proc, fallback_proc):
            localrun.stop(proc)
