"""Benchmark: fan a disaster push out to 1,000,000 news-app tokens through the push stand-in's batch API.

The stand-in must never be the bottleneck of the publishing engine's own benchmark, so this measures how many
deliveries a second it accepts over real HTTP: batches of 500 per-item-keyed messages, a few concurrent
connections, the server in its own process. As the design guide asks, it also measures a baseline in the same
run (one message per request through ``messages:send``) and prints the ratio, and writes the figures as JSON.

    python tests/bench_push.py                      # starts its own stand-in process
    python tests/bench_push.py --url http://127.0.0.1:8780 --token standin-token
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

PROJECT = "seoul-news-app"


def batch_body(run: str, start: int, size: int, mode: str) -> bytes:
    """One request body; built before timing starts so the client's JSON work does not count as the server's."""
    notification = {"title": "[서울시 재난안내] 지진 발생", "body": "강한 진동이 예상됩니다. 탁자 밑으로 대피하세요."}
    if mode == "multicast":
        tokens = [f"tok-{run}-{i:07d}" for i in range(start, start + size)]
        return json.dumps({"tokens": tokens, "message": {"notification": notification}}).encode()
    requests = [
        {
            "idempotency_key": f"{run}:push:{i:07d}",
            "message": {"token": f"tok-{run}-{i:07d}", "notification": notification, "data": {"incident": run}},
        }
        for i in range(start, start + size)
    ]
    return json.dumps({"requests": requests}).encode()


async def fan_out(
    session: aiohttp.ClientSession, url: str, bodies: list[tuple[str, bytes]], concurrency: int
) -> tuple[int, int]:
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    delivered = failed = 0

    async def worker() -> None:
        nonlocal delivered, failed
        while not queue.empty():
            key, body = queue.get_nowait()
            headers = {"Content-Type": "application/json", "Idempotency-Key": key}
            async with session.post(url, data=body, headers=headers) as response:
                answer = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"batch failed: {response.status} {answer}")
                delivered += answer["successCount"]
                failed += answer["failureCount"]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return delivered, failed


async def baseline_single_sends(session: aiohttp.ClientSession, base: str, count: int, concurrency: int) -> float:
    url = f"{base}/push/v1/projects/{PROJECT}/messages:send"
    bodies = [
        (
            f"single:{i}",
            json.dumps({"message": {"token": f"single-{i}", "notification": {"title": "t", "body": "b"}}}).encode(),
        )
        for i in range(count)
    ]
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            key, body = queue.get_nowait()
            headers = {"Content-Type": "application/json", "Idempotency-Key": key}
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"single send failed: {response.status}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def run(args: argparse.Namespace, base: str) -> dict[str, Any]:
    run_id = f"bench{int(time.time())}"
    path = "multicast" if args.mode == "multicast" else "batchSend"
    url = f"{base}/push/v1/projects/{PROJECT}/messages:{path}"
    prep_started = time.perf_counter()
    bodies = [
        (f"{run_id}:batch:{start}", batch_body(run_id, start, min(args.batch, args.recipients - start), args.mode))
        for start in range(0, args.recipients, args.batch)
    ]
    prep_s = time.perf_counter() - prep_started
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    headers = {"Authorization": f"Bearer {args.token}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        await session.post(f"{base}/_control/reset", json={"provider": "push"})
        baseline = await baseline_single_sends(session, base, args.baseline, args.concurrency)
        await session.post(f"{base}/_control/reset", json={"provider": "push"})
        started = time.perf_counter()
        delivered, failed = await fan_out(session, url, bodies, args.concurrency)
        elapsed = time.perf_counter() - started
        async with session.get(f"{base}/_control/push") as response:
            stats = await response.json()
    rate = delivered / elapsed
    return {
        "benchmark": "push_fan_out",
        "mode": args.mode,
        "recipients": args.recipients,
        "batch_size": args.batch,
        "concurrency": args.concurrency,
        "requests": len(bodies),
        "delivered": delivered,
        "failed": failed,
        "server_accepted": stats["accepted"],
        "server_duplicates": stats["duplicates"],
        "elapsed_s": round(elapsed, 3),
        "deliveries_per_s": round(rate),
        "baseline_single_sends_per_s": round(baseline),
        "ratio_to_baseline": round(rate / baseline, 1),
        "client_body_build_s": round(prep_s, 2),
        "cpus": os.cpu_count(),
    }


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sotong_standins", "--port", "0", "--no-smtp", "--token", "standin-token"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the stand-in process exited before printing its ports")
    return process, str(json.loads(line)["base_url"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an already running stand-in; default: start one")
    parser.add_argument("--token", default="standin-token")
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--mode", choices=("batch", "multicast"), default="batch")
    parser.add_argument("--baseline", type=int, default=2000, help="single sends measured as the baseline")
    parser.add_argument("--json-out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    process = None
    base = args.url
    if base is None:
        process, base = start_server()
    try:
        result = asyncio.run(run(args, base.rstrip("/")))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
    print(
        f"push fan-out ({result['mode']}): {result['delivered']:,} deliveries in {result['elapsed_s']} s = "
        f"{result['deliveries_per_s']:,}/s over {result['requests']:,} requests of {result['batch_size']} "
        f"with {result['concurrency']} connections; baseline single sends {result['baseline_single_sends_per_s']:,}/s "
        f"(x{result['ratio_to_baseline']}); server accepted {result['server_accepted']:,}, "
        f"duplicates {result['server_duplicates']}"
    )
    print(json.dumps(result))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["server_accepted"] == result["delivered"] == args.recipients else 1


if __name__ == "__main__":
    sys.exit(main())
