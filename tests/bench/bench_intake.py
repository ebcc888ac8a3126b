"""Intake submission rate and latency with durable Kafka acknowledgement, next to a bare grpcio server.

    python tests/bench/bench_intake.py --json-out bench-results/intake.json

What "accepted" means here: a submission counts as accepted when its `intake.submission-received.v1` event is
readable by a Kafka consumer. That happens only after the API committed it to PostgreSQL with its outbox row,
the outbox relay produced it with acks=all (idempotent producer), and the broker acknowledged it (a consumer sees
records only up to the high watermark, i.e. replicated to every in-sync replica). Latency is measured per
submission from the client's send to this process's consumer receiving the event (one clock). The time until
the RPC answered (committed to PostgreSQL, which is already durable) is printed too.

1. Baseline: a bare `grpc.aio` server in its own process with the same IntakeService contract, answering
   SubmitReport with a fixed tracking id and SubmitBatch with one result per item (no auth, no validation, no
   storage). Same client, same concurrency.
2. Unary: N SubmitReport calls from C concurrent callers against `sotong-intake-api` on a real stack (Kafka +
   PostgreSQL started in a temp dir).
3. Client streaming: S streams of B items each (SubmitBatch), K streams at a time; per-item rate, and per-batch
   latency until the last item of the batch is on Kafka.

Reports are spread over Seoul and over categories, as real traffic is (all at one spot, every submission would
be scored against the 200 latest ones nearby as a near-duplicate). Load generator, Kafka, PostgreSQL and the
service share this machine's cores, so figures are lower bounds. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
from kafka import KafkaConsumer, TopicPartition

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import auth
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import Stack

GOAL = 0.6
CATEGORIES = ["streetlight", "garbage", "noise", "illegal-parking", "road-damage", "park-facility"]
TEXTS = [
    "가로등이 꺼져 있어 밤길이 위험합니다",
    "골목에 쓰레기가 무단으로 버려져 있어요",
    "공사 소음이 새벽까지 계속됩니다",
    "횡단보도 앞 불법 주차 때문에 아이들이 위험해요",
    "보도블록이 깨져 걸려 넘어질 뻔했습니다",
    "공원 벤치가 부서져 있습니다",
]


def requests_for(n: int, tag: str) -> list[pb.SubmitReportRequest]:
    rng = random.Random(tag)
    out = []
    for i in range(n):
        c = rng.randrange(len(CATEGORIES))
        out.append(
            pb.SubmitReportRequest(
                kind=types.SUBMISSION_KIND_REPORT,
                text=f"{TEXTS[c]} ({tag} {i})",
                category=CATEGORIES[c],
                point=geo_pb2.GeoPoint(lat=rng.uniform(37.50, 37.58), lng=rng.uniform(126.93, 127.06)),
                channel="app",
                channel_message_id=f"{tag}-{i}",
                contact=pb.ReporterContact(phone=f"010-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"),
            )
        )
    return out


# -- the bare baseline server ---------------------------------------------------------------------------------


class Bare(pb_grpc.IntakeServiceServicer):
    async def SubmitReport(self, request: pb.SubmitReportRequest, context: Any) -> pb.SubmitReportResponse:
        return pb.SubmitReportResponse(tracking_id="261124-BAREBARE", created=True)

    async def SubmitBatch(self, request_iterator: Any, context: Any) -> pb.SubmitBatchResponse:
        reply = pb.SubmitBatchResponse()
        i = 0
        async for _ in request_iterator:
            reply.results.append(pb.SubmitBatchResult(index=i, tracking_id="261124-BAREBARE", created=True))
            i += 1
        reply.accepted = i
        return reply


async def serve_bare(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_IntakeServiceServicer_to_server(Bare(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


# -- Kafka arrivals --------------------------------------------------------------------------------------------


class Arrivals(threading.Thread):
    """Tails intake.submission-received.v1 and notes when each channel message id's event became readable."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.arrived: dict[str, float] = {}
        self._halt = threading.Event()
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=10)
        partitions = [TopicPartition(topic, p) for p in self._consumer.partitions_for_topic(topic) or []]
        self._consumer.assign(partitions)
        self._consumer.seek_to_end(*partitions)
        for p in partitions:
            self._consumer.position(p)

    def run(self) -> None:
        while not self._halt.is_set():
            for records in self._consumer.poll(timeout_ms=50).values():
                now = time.perf_counter()
                for record in records:
                    event = ev.SubmissionReceived.FromString(record.value)
                    self.arrived.setdefault(event.channel_message_id, now)
        self._consumer.close()

    def stop(self) -> None:
        self._halt.set()

    def wait_for(self, keys: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(k not in self.arrived for k in keys):
            time.sleep(0.02)


# -- load ------------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def unary(target: str, meta: Any, items: list[pb.SubmitReportRequest], concurrency: int) -> dict[str, Any]:
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    queue = list(reversed(items))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.IntakeServiceStub(channel)

        async def caller() -> None:
            while queue:
                item = queue.pop()
                started = time.perf_counter()
                sent[item.channel_message_id] = started
                await stub.SubmitReport(item, metadata=meta, timeout=60)
                answered[item.channel_message_id] = time.perf_counter()

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        finished = time.perf_counter()
    return {"sent": sent, "answered": answered, "started": started, "finished": finished}


async def streaming(
    target: str, meta: Any, batches: list[list[pb.SubmitReportRequest]], concurrency: int
) -> dict[str, Any]:
    sent: dict[int, float] = {}
    answered: dict[int, float] = {}
    queue = list(reversed(list(enumerate(batches))))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.IntakeServiceStub(channel)

        async def items(batch: list[pb.SubmitReportRequest]) -> AsyncIterator[pb.SubmitBatchRequest]:
            for item in batch:
                yield pb.SubmitBatchRequest(report=item)

        async def streamer() -> None:
            while queue:
                index, batch = queue.pop()
                sent[index] = time.perf_counter()
                reply = await stub.SubmitBatch(items(batch), metadata=meta, timeout=120)
                assert len(reply.results) == len(batch)
                answered[index] = time.perf_counter()

        started = time.perf_counter()
        await asyncio.gather(*(streamer() for _ in range(concurrency)))
        finished = time.perf_counter()
    return {"sent": sent, "answered": answered, "started": started, "finished": finished}


def summarize_unary(run: dict[str, Any], arrivals: dict[str, float] | None) -> dict[str, Any]:
    keys = list(run["sent"])
    rpc = [run["answered"][k] - run["sent"][k] for k in keys]
    out: dict[str, Any] = {
        "n": len(keys),
        "rpc_per_s": len(keys) / (run["finished"] - run["started"]),
        "rpc_p50_ms": pct(rpc, 0.5),
        "rpc_p99_ms": pct(rpc, 0.99),
    }
    if arrivals is not None:
        durable = [arrivals[k] - run["sent"][k] for k in keys if k in arrivals]
        last = max(arrivals[k] for k in keys if k in arrivals)
        out.update(
            {
                "on_kafka": len(durable),
                "accepted_per_s": len(durable) / (last - run["started"]),
                "accepted_p50_ms": pct(durable, 0.5),
                "accepted_p99_ms": pct(durable, 0.99),
            }
        )
    else:
        out.update({"accepted_per_s": out["rpc_per_s"], "accepted_p50_ms": out["rpc_p50_ms"],
                    "accepted_p99_ms": out["rpc_p99_ms"]})  # fmt: skip
    return out


def summarize_streaming(
    run: dict[str, Any], batches: list[list[pb.SubmitReportRequest]], arrivals: dict[str, float] | None
) -> dict[str, Any]:
    n_items = sum(len(b) for b in batches)
    rpc = [run["answered"][i] - run["sent"][i] for i in run["sent"]]
    out: dict[str, Any] = {
        "batches": len(batches),
        "batch_size": len(batches[0]),
        "items": n_items,
        "rpc_items_per_s": n_items / (run["finished"] - run["started"]),
        "rpc_batch_p50_ms": pct(rpc, 0.5),
        "rpc_batch_p99_ms": pct(rpc, 0.99),
    }
    if arrivals is not None:
        lat = []
        last = run["started"]
        on_kafka = 0
        for i, batch in enumerate(batches):
            times = [arrivals[r.channel_message_id] for r in batch if r.channel_message_id in arrivals]
            on_kafka += len(times)
            if len(times) == len(batch):
                lat.append(max(times) - run["sent"][i])
                last = max(last, max(times))
        out.update(
            {
                "on_kafka": on_kafka,
                "accepted_items_per_s": on_kafka / (last - run["started"]),
                "accepted_batch_p50_ms": pct(lat, 0.5),
                "accepted_batch_p99_ms": pct(lat, 0.99),
            }
        )
    else:
        out.update({"accepted_items_per_s": out["rpc_items_per_s"], "accepted_batch_p50_ms": out["rpc_batch_p50_ms"],
                    "accepted_batch_p99_ms": out["rpc_batch_p99_ms"]})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json-out", type=Path, default=Path("bench-results/intake.json"))
    parser.add_argument("--unary", type=int, default=3000, help="unary submissions")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent unary callers")
    parser.add_argument("--batches", type=int, default=40, help="SubmitBatch streams")
    parser.add_argument("--batch-size", type=int, default=200, help="items per stream")
    parser.add_argument("--streams", type=int, default=4, help="concurrent streams")
    parser.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(serve_bare(args.bare_server))
        return

    bare_port = free_ports(1)[0]
    bare = subprocess.Popen([sys.executable, __file__, "--bare-server", str(bare_port)])
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-intake-"))
    stack = Stack(run_dir, nodes=1, database_url=os.environ.get("SOTONG_BENCH_DATABASE_URL"))
    results: dict[str, Any] = {"goal_ratio": GOAL}
    try:
        state = stack.start_infrastructure(say=False)
        stack.start_services(("intake-api",), say=False)
        meta = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "bench", ["service", "citizen"])),)
        target = f"127.0.0.1:{state.grpc_ports['intake-api']}"
        bare_target = f"127.0.0.1:{bare_port}"
        arrivals = Arrivals(state.kafka_bootstrap, "intake.submission-received.v1")
        arrivals.start()

        def phase(name: str, fn: Callable[[], Any]) -> Any:
            print(f"[bench intake] {name} ...", flush=True)
            return fn()

        # Warm both servers (connections, pools, JIT-free but cache-warm paths).
        asyncio.run(unary(target, meta, requests_for(200, "warm"), 16))
        asyncio.run(unary(bare_target, meta, requests_for(200, "warmb"), 16))

        items = requests_for(args.unary, "u")
        bare_unary = phase("bare unary", lambda: asyncio.run(unary(bare_target, meta, items, args.concurrency)))
        intake_unary = phase("intake unary", lambda: asyncio.run(unary(target, meta, items, args.concurrency)))
        arrivals.wait_for([r.channel_message_id for r in items])
        results["unary"] = {
            "concurrency": args.concurrency,
            "bare": summarize_unary(bare_unary, None),
            "intake": summarize_unary(intake_unary, arrivals.arrived),
        }

        flat = requests_for(args.batches * args.batch_size, "s")
        batches = [flat[i : i + args.batch_size] for i in range(0, len(flat), args.batch_size)]
        bare_stream = phase("bare streaming", lambda: asyncio.run(streaming(bare_target, meta, batches, args.streams)))
        intake_stream = phase("intake streaming", lambda: asyncio.run(streaming(target, meta, batches, args.streams)))
        arrivals.wait_for([r.channel_message_id for r in flat])
        results["streaming"] = {
            "concurrent_streams": args.streams,
            "bare": summarize_streaming(bare_stream, batches, None),
            "intake": summarize_streaming(intake_stream, batches, arrivals.arrived),
        }
        arrivals.stop()
    finally:
        bare.send_signal(signal.SIGTERM)
        bare.wait(timeout=20)
        stack.stop()

    u, s = results["unary"], results["streaming"]
    u["ratio"] = u["intake"]["accepted_per_s"] / u["bare"]["accepted_per_s"]
    s["ratio"] = s["intake"]["accepted_items_per_s"] / s["bare"]["accepted_items_per_s"]
    results["meets_goal"] = {"unary": u["ratio"] >= GOAL, "streaming": s["ratio"] >= GOAL}
    print()
    print(f"unary SubmitReport, {u['intake']['n']} calls, {u['concurrency']} concurrent callers")
    print(f"  bare grpcio      : {u['bare']['rpc_per_s']:8.0f} /s   p50 {u['bare']['rpc_p50_ms']:7.1f} ms"
          f"   p99 {u['bare']['rpc_p99_ms']:7.1f} ms")  # fmt: skip
    print(f"  intake (RPC ok)  : {u['intake']['rpc_per_s']:8.0f} /s   p50 {u['intake']['rpc_p50_ms']:7.1f} ms"
          f"   p99 {u['intake']['rpc_p99_ms']:7.1f} ms   (committed to PostgreSQL + outbox)")  # fmt: skip
    print(f"  intake (on Kafka): {u['intake']['accepted_per_s']:8.0f} /s   p50 {u['intake']['accepted_p50_ms']:7.1f} ms"
          f"   p99 {u['intake']['accepted_p99_ms']:7.1f} ms   (acks=all, readable by consumers)")  # fmt: skip
    print(f"  ratio accepted/bare: {u['ratio']:.3f} (goal {GOAL})")
    print(f"client-streaming SubmitBatch, {s['intake']['batches']} streams x {s['intake']['batch_size']} items,"
          f" {s['concurrent_streams']} at a time")  # fmt: skip
    print(f"  bare grpcio      : {s['bare']['rpc_items_per_s']:8.0f} items/s   batch p50"
          f" {s['bare']['rpc_batch_p50_ms']:7.1f} ms   p99 {s['bare']['rpc_batch_p99_ms']:7.1f} ms")  # fmt: skip
    print(f"  intake (RPC ok)  : {s['intake']['rpc_items_per_s']:8.0f} items/s   batch p50"
          f" {s['intake']['rpc_batch_p50_ms']:7.1f} ms   p99 {s['intake']['rpc_batch_p99_ms']:7.1f} ms")  # fmt: skip
    si = s["intake"]
    print(f"  intake (on Kafka): {si['accepted_items_per_s']:8.0f} items/s   batch p50"
          f" {si['accepted_batch_p50_ms']:7.1f} ms   p99 {si['accepted_batch_p99_ms']:7.1f} ms")  # fmt: skip
    print(f"  ratio accepted/bare: {s['ratio']:.3f} (goal {GOAL})")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2))
    print(f"results in {args.json_out}")


if __name__ == "__main__":
    main()
