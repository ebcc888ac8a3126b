"""Benchmark: (a) ReportIncident -> stage 0 notified, on the real stack (Kafka, PostgreSQL, sotong-alerting-api).

Subject: an operator's ReportIncident over gRPC until BOTH stage-0 DispatchRequested events (the response
group on group chat, the duty officers' page) are readable on alerting.dispatch-emergency.v1 — the incident row,
its audited log entries, the outbox rows, the relay and the broker's acks=all write all on the path.
p50/p99 over --runs sequential incidents (after --warmup), plus the RPC's own latency.

Then, with the publishing engine (`sotong-publishing-dispatch`) delivering to the provider stand-ins: ReportIncident
until the receipts on publishing.delivery-reported.v1 say the response group (chat) and both duty officers (pager)
were delivered at the stand-ins — stage 0 notified, end to end.

Baseline in the same run, on the same broker: one event produced with the platform's durable producer
(acks=all, idempotent) until a consumer reads it — the floor any Kafka-announced stage 0 pays.

    python tests/bench/bench_alerting_incident.py --json-out bench-results/alerting_incident.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.alerting.v1 import alerting_service_pb2_grpc as pb_grpc
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_common import auth, producer
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel

LANE = "alerting.dispatch-emergency.v1"
RECEIPTS = "publishing.delivery-reported.v1"
BASELINE_TOPIC = "alerting.incident-changed.v1"  # any catalog topic; the baseline writes its own keys
DISTRICTS = ["11110", "11140", "11170", "11200", "11215", "11230", "11260", "11290", "11305", "11320"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1),
    }


async def _consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    """A group-less reader of the whole topic (the stack is this run's own, so the topic starts empty)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=5
    )
    await consumer.start()
    while not consumer.assignment():
        await asyncio.sleep(0.05)
    return consumer


async def subject(stack: Stack, runs: int, warmup: int) -> tuple[list[float], list[float]]:
    assert stack.state is not None
    metadata = (("authorization", "Bearer " + auth.issue(stack.state.jwt_secret, "bench-operator", ["operator"])),)
    consumer = await _consumer(stack.state.kafka_bootstrap, LANE)
    seen: dict[str, set[int]] = {}
    done: dict[str, asyncio.Event] = {}

    async def read() -> None:
        async for record in consumer:
            message = dispatch.DispatchRequested.FromString(record.value)
            seen.setdefault(message.thread_id, set()).add(message.channel)
            if {dispatch.CHANNEL_GROUP_CHAT, dispatch.CHANNEL_PAGER} <= seen[message.thread_id]:
                done.setdefault(message.thread_id, asyncio.Event()).set()

    reader = asyncio.create_task(read())
    end_to_end: list[float] = []
    rpc: list[float] = []
    try:
        async with channel(stack, "alerting-api") as ch:
            api = pb_grpc.AlertingServiceStub(ch)
            for run in range(warmup + runs):
                started = time.perf_counter()
                reply = await api.ReportIncident(
                    pb.ReportIncidentRequest(
                        hazard="호우", area_codes=[DISTRICTS[run % len(DISTRICTS)]], summary=f"bench {run}"
                    ),
                    metadata=metadata,
                )
                answered = time.perf_counter()
                event = done.setdefault(reply.incident.incident_id, asyncio.Event())
                await asyncio.wait_for(event.wait(), timeout=30)
                finished = time.perf_counter()
                if run >= warmup:
                    rpc.append(answered - started)
                    end_to_end.append(finished - started)
    finally:
        reader.cancel()
        await consumer.stop()
    return end_to_end, rpc


async def baseline(stack: Stack, runs: int, warmup: int) -> list[float]:
    assert stack.state is not None
    consumer = await _consumer(stack.state.kafka_bootstrap, BASELINE_TOPIC)
    kafka = producer.durable(stack.state.kafka_bootstrap, "bench-baseline")
    await kafka.start()
    arrived: dict[bytes, asyncio.Event] = {}

    async def read() -> None:
        async for record in consumer:
            if record.key is not None:
                arrived.setdefault(record.key, asyncio.Event()).set()

    reader = asyncio.create_task(read())
    latencies = []
    try:
        for run in range(warmup + runs):
            key = f"bench-{run}".encode()
            payload = dispatch.DispatchRequested(dispatch_id=key.decode(), channel=dispatch.CHANNEL_PAGER)
            started = time.perf_counter()
            await kafka.send_and_wait(BASELINE_TOPIC, payload.SerializeToString(), key=key)
            await asyncio.wait_for(arrived.setdefault(key, asyncio.Event()).wait(), timeout=30)
            if run >= warmup:
                latencies.append(time.perf_counter() - started)
    finally:
        reader.cancel()
        await kafka.stop()
        await consumer.stop()
    return latencies


async def delivered(stack: Stack, runs: int, warmup: int) -> list[float]:
    """ReportIncident until chat (1) and pager (2 officers) receipts say DELIVERED at the stand-ins."""
    assert stack.state is not None
    metadata = (("authorization", "Bearer " + auth.issue(stack.state.jwt_secret, "bench-operator", ["operator"])),)
    consumer = await _consumer(stack.state.kafka_bootstrap, RECEIPTS)
    counts: dict[str, int] = {}
    done: dict[str, asyncio.Event] = {}

    async def read() -> None:
        async for record in consumer:
            receipt = dispatch.DeliveryReported.FromString(record.value)
            if receipt.outcome != dispatch.DELIVERY_OUTCOME_DELIVERED:
                continue
            if receipt.channel in (dispatch.CHANNEL_GROUP_CHAT, dispatch.CHANNEL_PAGER):
                counts[receipt.thread_id] = counts.get(receipt.thread_id, 0) + max(1, receipt.delivered_count)
                if counts[receipt.thread_id] >= 3:
                    done.setdefault(receipt.thread_id, asyncio.Event()).set()

    reader = asyncio.create_task(read())
    latencies: list[float] = []
    try:
        async with channel(stack, "alerting-api") as ch:
            api = pb_grpc.AlertingServiceStub(ch)
            for run in range(warmup + runs):
                started = time.perf_counter()
                reply = await api.ReportIncident(
                    pb.ReportIncidentRequest(hazard="지진", area_codes=[DISTRICTS[run % len(DISTRICTS)]]),
                    metadata=metadata,
                )
                await asyncio.wait_for(done.setdefault(reply.incident.incident_id, asyncio.Event()).wait(), 60)
                if run >= warmup:
                    latencies.append(time.perf_counter() - started)
    finally:
        reader.cancel()
        await consumer.stop()
    return latencies


async def measure(stack: Stack, runs: int, warmup: int) -> dict[str, Any]:
    floor = await baseline(stack, runs, warmup)
    end_to_end, rpc = await subject(stack, runs, warmup)
    result: dict[str, Any] = {
        "a_report_to_stage0_dispatch_on_topic": summary(end_to_end),
        "a_report_rpc": summary(rpc),
        "baseline_kafka_produce_to_consume": summary(floor),
        "goal_p99_ms": 1000,
    }
    result["ratio_p50_vs_baseline"] = round(
        result["a_report_to_stage0_dispatch_on_topic"]["p50_ms"]
        / max(result["baseline_kafka_produce_to_consume"]["p50_ms"], 0.1),
        1,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json-out", type=Path, default=Path("bench-results/alerting_incident.json"))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--delivery-runs", type=int, default=100)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-incident-"))
    stack = Stack(run_dir, nodes=1)
    stack.start_infrastructure(say=False)
    engine: list[subprocess.Popen[bytes]] = []
    try:
        stack.start_services(("alerting-api",), say=False)
        result = asyncio.run(measure(stack, args.runs, args.warmup))
        assert stack.state is not None
        primary_proc, primary = localrun.start_standins(run_dir, "standins")
        fallback_proc, fallback = localrun.start_standins(run_dir, "standins-fallback")
        engine = [primary_proc, fallback_proc]
        env = localrun.dispatch_env(primary, fallback, log_level="warning")
        engine.append(localrun.start_dispatch(run_dir, stack.state.env(), env))
        end_to_end = asyncio.run(delivered(stack, args.delivery_runs, args.warmup))
        result["a_report_to_stage0_delivered_at_standins"] = summary(end_to_end)
    finally:
        for proc in reversed(engine):
            localrun.stop(proc)
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    subject_ms = result["a_report_to_stage0_dispatch_on_topic"]
    floor_ms = result["baseline_kafka_produce_to_consume"]
    print(
        f"(a) ReportIncident -> stage-0 group chat + pager DispatchRequested on {LANE}: "
        f"p50 {subject_ms['p50_ms']} ms, p99 {subject_ms['p99_ms']} ms (goal p99 <= 1000 ms), n={subject_ms['n']}"
    )
    rpc_ms = result["a_report_rpc"]
    print(f"    ReportIncident RPC alone: p50 {rpc_ms['p50_ms']} ms, p99 {rpc_ms['p99_ms']} ms")
    print(
        f"    baseline durable produce -> consume: p50 {floor_ms['p50_ms']} ms, p99 {floor_ms['p99_ms']} ms; "
        f"subject/baseline p50 = {result['ratio_p50_vs_baseline']}x"
    )
    delivered_ms = result["a_report_to_stage0_delivered_at_standins"]
    print(
        f"    ... -> group chat + both pages delivered at the stand-ins (receipts): p50 {delivered_ms['p50_ms']} ms, "
        f"p99 {delivered_ms['p99_ms']} ms, n={delivered_ms['n']}"
    )
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
