"""Benchmark of the publishing service (`make bench BENCH=publishing`): its fan-out and its stage-2 delivery
latency, on the real stack (Kafka, PostgreSQL, `sotong-publishing-dispatch`, the provider stand-ins over HTTP).

(c) One alert to 1,000,000 news-app devices on the batched push channel (multicast, 500 a request): time from
    publishing DispatchRequested to the last device accepted at the push stand-in, and deliveries/s. Baseline in
    the same run: the same million through the same stand-in with a bare aiohttp client (no Kafka, no
    checkpoints, no receipts) — the stand-in's own ceiling on this machine.
(b) A fixed stage-2 dispatch — every registered SNS account, the news app in one district (1/25 of a
    100,000-device directory: 4,000 devices), all 200 KakaoTalk channel friends, the portal notice — from
    DispatchRequested to every message accepted at the stand-ins, p50/p99 over --runs runs. Baseline: the same
    deliveries made in process through the same adapters and routes, without Kafka and PostgreSQL.

    python tests/bench/bench_publishing.py --json-out bench-results/publishing.json
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_common import sealing
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_publishing import directory, settings
from sotong_publishing.dispatch import Dispatcher, provider_accounts
from sotong_publishing.providers.base import MemoryRefs
from sotong_publishing.providers.sns import SnsProvider
from sotong_publishing.store import Finished
from sotong_publishing.worker import build_route
from sotong_standins.control import StandinControl

LANE = "alerting.dispatch-emergency.v1"
DISTRICT = "11320"
KAKAO_FRIENDS = 200
CONCURRENCY = 8
# (b)'s news-app directory: one district of it is 4,000 devices, a district office's subscriber base.
STAGE2_DEVICES = 100_000
MESSAGE = {"title": "[서울시 재난안내] 지진 발생", "body": "강한 진동이 예상됩니다. 탁자 밑으로 대피하세요."}


def rendering(template_code: str = "", variables: dict[str, str] | None = None) -> pb.Rendering:
    return pb.Rendering(
        language="ko",
        url="https://safecity.seoul.go.kr/a/1",
        title=MESSAGE["title"],
        body=MESSAGE["body"],
        template_code=template_code,
        variables=variables or {},
    )


def push_alert(dispatch_id: str, segment: str) -> pb.DispatchRequested:
    return pb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id="BENCH",
        thread_id="INC-BENCH",
        channel=pb.CHANNEL_NEWS_APP_PUSH,
        priority=pb.PRIORITY_EMERGENCY,
        purpose="stage2",
        audience=pb.Audience(segment=segment),
        renderings=[rendering()],
    )


def stage2(run: str) -> list[pb.DispatchRequested]:
    variables = {"marker": "", "sender": "서울특별시", "headline": "지진", "area": "서울 전역",
                 "description": "강한 진동 예상", "instruction": "탁자 밑으로", "link": "-"}  # fmt: skip
    base: dict[str, Any] = {
        "message_id": f"BENCH-{run}",
        "thread_id": f"INC-{run}",
        "priority": pb.PRIORITY_EMERGENCY,
        "purpose": "stage2",
    }
    return [
        pb.DispatchRequested(
            dispatch_id=f"{run}-sns",
            channel=pb.CHANNEL_SNS,
            audience=pb.Audience(segment="all"),
            renderings=[pb.Rendering(language="ko", body=f"[지진] 탁자 밑으로 대피 ({run})")],
            **base,
        ),
        pb.DispatchRequested(
            dispatch_id=f"{run}-push",
            channel=pb.CHANNEL_NEWS_APP_PUSH,
            audience=pb.Audience(segment=f"districts:{DISTRICT}"),
            renderings=[rendering()],
            **base,
        ),
        pb.DispatchRequested(
            dispatch_id=f"{run}-kakao",
            channel=pb.CHANNEL_KAKAO_CHANNEL,
            audience=pb.Audience(segment="all"),
            renderings=[rendering(template_code="SOTONG_DISASTER_ALERT", variables=variables)],
            **base,
        ),
        pb.DispatchRequested(
            dispatch_id=f"{run}-notice",
            channel=pb.CHANNEL_PORTAL_NOTICE,
            audience=pb.Audience(segment="all"),
            renderings=[rendering()],
            **base,
        ),
    ]


async def wait_accepted(control: StandinControl, expected: dict[str, int], timeout: float, every: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [int((await control.provider_stats(name))["accepted"]) for name in expected]
        if all(c >= n for c, n in zip(counts, expected.values(), strict=True)):
            return time.perf_counter()
        await asyncio.sleep(every)
    raise TimeoutError(f"not delivered within {timeout}s: {expected}")


async def baseline_fanout(ports: dict[str, Any], devices: int) -> float:
    """The same multicast requests from a bare client: bodies built on the fly, CONCURRENCY connections."""
    url = ports["providers"]["push"] + "/projects/sotong-seoul/messages:multicast"
    headers = {"Authorization": f"Bearer {ports['token']}", "Content-Type": "application/json"}
    message = {"notification": MESSAGE}
    starts = iter(range(0, devices, 500))
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def lane() -> None:
            for start in starts:
                tokens = [f"raw-device-{i:08d}" for i in range(start, min(start + 500, devices))]
                body = json.dumps({"tokens": tokens, "message": message}).encode()
                async with session.post(url, data=body, headers={**headers, "Idempotency-Key": "raw"}) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def baseline_stage2(ports: dict[str, Any], devices: int, run: str, expected: dict[str, int]) -> float:
    """Stage 2 through the adapters and routes in this process: what the engine costs beyond the providers."""
    chosen = settings.Dispatch.load(
        {
            "SOTONG_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "SOTONG_DATABASE_URL": "postgresql://unused",
            "SOTONG_PUBLISHING_PROVIDERS": json.dumps(ports["providers"]),
            "SOTONG_PUBLISHING_PROVIDER_TOKEN": ports["token"],
            "SOTONG_PUBLISHING_CONCURRENCY": str(CONCURRENCY),
            "SOTONG_PUBLISHING_SEAL_KEYS": sealing.new_pair()[0],
        }
    )
    book = directory.Subscribers(push_devices=devices, kakao_friends=KAKAO_FRIENDS)
    refs = MemoryRefs()
    dispatchers = {}
    for kind in ("sns", "push", "kakao", "notice"):
        route = build_route(kind, chosen, refs)
        lists = _Lists()
        if kind == "sns":
            assert isinstance(route.primary, SnsProvider)
            lists.lists[directory.OFFICIAL_SNS] = official_accounts(await provider_accounts(route.primary))
        dispatchers[kind] = Dispatcher(route, _NoStore(), lists, book, _drop, concurrency=CONCURRENCY)
    started = time.perf_counter()
    kinds = ("sns", "push", "kakao", "notice")
    await asyncio.gather(*(dispatchers[k].handle(d) for k, d in zip(kinds, stage2(run), strict=True)))
    elapsed = time.perf_counter() - started
    for dispatcher in dispatchers.values():
        await dispatcher.route.close()
    return elapsed


def official_accounts(accounts: list[str]) -> list[str]:
    """The provider's accounts minus the drill accounts: what the engine imports into `sns:official`."""
    drills = set(directory.DirectoryFile.load().lists.get(directory.drill_list("sns"), ()))
    return [a for a in accounts if a not in drills]


class _Lists:
    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {}

    async def members(self, name: str) -> list[str]:
        return self.lists.get(name, [])


class _NoStore:
    """The baseline keeps no delivery record: it measures the providers, not PostgreSQL."""

    async def finished_targets(self, dispatch_id: str) -> set[str]:
        return set()

    async def record(self, dispatch_id: str, rows: Iterable[Finished]) -> None:
        for _ in rows:
            pass

    async def finished_batches(self, dispatch_id: str) -> set[int]:
        return set()

    async def record_batch(self, dispatch_id: str, index: int, delivered: int, failed: int, provider: str) -> None:
        return None


async def _drop(_: pb.DeliveryReported) -> None:
    return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure_fanout(stack: Stack, ports: dict[str, Any], devices: int) -> dict[str, Any]:
    assert stack.state is not None
    lane = LANE
    async with StandinControl(ports["base_url"]) as control:
        # (c) baseline, then the engine, each on a fresh ledger.
        await control.reset()
        raw_s = await baseline_fanout(ports, devices)
        assert (await control.provider_stats("push"))["accepted"] == devices
        await control.reset()
        started = time.perf_counter()
        await localrun.publish_dispatches(stack.state.kafka_bootstrap, lane, [push_alert("bench-million", "all")])
        done = await wait_accepted(control, {"push": devices}, timeout=600, every=0.05)
        engine_s = done - started
        stats = await control.provider_stats("push")
        assert stats["accepted"] == devices and stats["repeated_targets"] == 0
        fanout = {
            "devices": devices,
            "engine_seconds": round(engine_s, 2),
            "engine_deliveries_per_s": round(devices / engine_s),
            "baseline_seconds": round(raw_s, 2),
            "baseline_deliveries_per_s": round(devices / raw_s),
            "engine_vs_baseline": round(raw_s / engine_s, 3),
            "goal_seconds": 60,
        }
        print(
            f"(c) 1M push fan-out: engine {engine_s:.1f} s ({devices / engine_s:,.0f}/s); bare client {raw_s:.1f} s "
            f"({devices / raw_s:,.0f}/s); engine at {raw_s / engine_s:.0%} of the stand-in's ceiling; goal <= 60 s",
            flush=True,
        )
        await control.reset()
    return fanout


async def measure_stage2(stack: Stack, ports: dict[str, Any], devices: int, runs: int) -> dict[str, Any]:
    assert stack.state is not None
    lane = LANE
    async with StandinControl(ports["base_url"]) as control:
        await control.reset()
        registered = int((await control.provider_stats("sns"))["extra"]["registered_accounts"])
        accounts = registered - len(directory.DirectoryFile.load().lists.get(directory.drill_list("sns"), ()))
        district_devices = len(directory.Subscribers(push_devices=devices).segment("push", f"districts:{DISTRICT}"))
        per_run = {"sns": accounts, "push": district_devices, "kakao": KAKAO_FRIENDS, "notice": 1}
        # Warm-up (not counted): the worker's consumer groups join, connections and the SNS registry are opened.
        for n in range(2):
            await control.reset()
            await localrun.publish_dispatches(stack.state.kafka_bootstrap, lane, stage2(f"warm{n}"))
            await wait_accepted(control, per_run, timeout=120, every=0.01)
        latencies: list[float] = []
        for n in range(runs):
            await control.reset()
            started = time.perf_counter()
            await localrun.publish_dispatches(stack.state.kafka_bootstrap, lane, stage2(f"run{n}"))
            done = await wait_accepted(control, per_run, timeout=60, every=0.005)
            latencies.append(done - started)
        baseline: list[float] = []
        for n in range(max(5, runs // 5)):
            await control.reset()
            baseline.append(await baseline_stage2(ports, devices, f"base{n}", per_run))
        await control.reset()
        stage2_result = {
            "runs": runs,
            "deliveries_per_run": per_run,
            "p50_seconds": round(statistics.median(latencies), 3),
            "p95_seconds": round(pct(latencies, 0.95), 3),
            "p99_seconds": round(pct(latencies, 0.99), 3),
            "max_seconds": round(max(latencies), 3),
            "baseline_runs": len(baseline),
            "baseline_p50_seconds": round(statistics.median(baseline), 3),
            "baseline_p99_seconds": round(pct(baseline, 0.99), 3),
            "goal_p99_seconds": 2.0,
        }
        print(
            f"(b) stage 2 ({sum(per_run.values()):,} deliveries on sns/push/kakao/notice), {runs} runs: "
            f"p50 {stage2_result['p50_seconds']:.3f} s, p99 {stage2_result['p99_seconds']:.3f} s; in-process "
            f"adapters without Kafka/PostgreSQL p50 {stage2_result['baseline_p50_seconds']:.3f} s "
            f"(engine/baseline p50 {statistics.median(latencies) / statistics.median(baseline):.2f}x); goal p99 <= 2 s",
            flush=True,
        )
    return stage2_result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json-out", type=Path, default=Path("bench-results/publishing.json"))
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-fanout-"))
    stack = Stack(run_dir, nodes=1)
    stack.start_infrastructure(say=False)
    assert stack.state is not None
    standins, ports = localrun.start_standins(run_dir, "standins", ("--keep-recent", "1000"))

    def worker(devices: int, name: str) -> subprocess.Popen[bytes]:
        env = localrun.dispatch_env(
            ports,
            publishing_directory_push_devices=str(devices),
            publishing_directory_kakao_friends=str(KAKAO_FRIENDS),
            publishing_concurrency=str(CONCURRENCY),
            log_level="warning",
        )
        assert stack.state is not None
        return localrun.start_dispatch(run_dir, stack.state.env(), env, name=name)

    result: dict[str, Any] = {}
    try:
        proc = worker(args.devices, "dispatch-fanout")
        try:
            result["fanout_1m_push"] = asyncio.run(measure_fanout(stack, ports, args.devices))
        finally:
            localrun.stop(proc)
        proc = worker(STAGE2_DEVICES, "dispatch-stage2")
        try:
            result["stage2_latency"] = asyncio.run(measure_stage2(stack, ports, STAGE2_DEVICES, args.runs))
        finally:
            localrun.stop(proc)
    finally:
        localrun.stop(standins)
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
