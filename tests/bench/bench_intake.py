"""Intake submission rate and latency with durable Kafka acknowledgement, next to a bare grpcio server and to the
least any server can spend that answers after a durable Kafka write (the "durable floor").

    python tests/bench/bench_intake.py --json-out bench-results/intake.json

What "accepted" means here: the API answers once the report is durable on `intake.submission-accepted.v1`
(acks=all: the broker acknowledged it, docs/architecture.md "Accepting without the database"); the bench counts
a submission as done when its `intake.submission-received.v1` event is readable by a Kafka consumer, i.e. after
the intake worker stored it in PostgreSQL with its outbox row and the relay produced the event with acks=all (a
consumer sees records only up to the high watermark, i.e. replicated to every in-sync replica). Latency is measured per
submission from the client's send to the bench's consumer receiving the event. That consumer runs in a child
process, so decoding events never takes the GIL from the asyncio load generator during the intake phases only;
both processes read `time.perf_counter()`, which on Linux is CLOCK_MONOTONIC, one system-wide clock (checked at
start). Its fetches ask for at least one byte and wait on the broker up to 500 ms only while nothing is there,
so a record is handed over as soon as it is readable; with a 10 ms wait the idle polling alone kept the broker
at a quarter of a core (0.26 vs 0.05 CPU s/s) of this 2-core machine, in every phase. The time until the RPC
answered (durable on Kafka, not yet stored) is printed too.

CPU per accepted report: each phase charges the CPU time of the intake API, the intake worker, this run's
PostgreSQL (server and backends), the Kafka broker and the load generator from /proc to its requests, counted
until the phase's events are on Kafka; the bare phases charge the bare server and the load generator, the floor
phases the floor server, the Kafka broker and the load generator until the last answer. The total (every process
the subject needs, client included) is compared with the bare call's total (server + client); goal ≤ 2x. The
bench's own Kafka reader (the arrivals child) is shown but counted in no total: the bare and floor phases have
nothing to read. The broker's idle CPU (the stack's consumers polling, nothing produced) is measured over 3 s and
printed: every phase pays it for as long as it runs.

1. Baseline: a bare `grpc.aio` server in its own process with the same IntakeService contract, answering
   SubmitReport with a fixed tracking id and SubmitBatch with one result per item (no auth, no validation, no
   storage). Same client, same concurrency.
2. Durable floor (diagnostic, no goal): a second bare server in its own process, same contract, that produces each
   request's bytes to a topic of its own (`bench.durable-floor.v1`, created with the partitions, replication and
   configs of `intake.submission-accepted.v1`) with intake's acceptance producer (`sotong_common.producer.
   Acknowledged`: librdkafka, acks=all, idempotent, lz4, linger 2 ms) and answers only after the broker's
   acknowledgement; SubmitBatch produces each item as it arrives and answers once all are acknowledged. Issue 16
   item 2 asks that an accepted report be durable on Kafka (acks=all) before the API answers: whatever else a
   design on this stack (grpc.aio, librdkafka, one broker) does or leaves out, it pays at least this (the
   request is parsed as the bare server parses it, and serialized once more), so floor/bare says whether "≤ 2x
   the bare call" is within reach of any such design, and intake/floor how much of intake's total is its own.
3. Unary: N SubmitReport calls from C concurrent callers against `sotong-intake-api` on a real stack (Kafka +
   PostgreSQL started in a temp dir).
4. Client streaming: S streams of B items each (SubmitBatch), K streams at a time; per-item rate, and per-batch
   latency until the last item of the batch is on Kafka.

The database starts as a city's would be on a working day: `--history` reports (default 20,000) of the last 24
hours already stored, spread like the bench's own, and analysed (autovacuum has run). On an empty table the
planner's statistics are those of a few hundred rows for the first minute of a surge, and it scans a whole category
per near-duplicate probe instead of the index near the point: storing then ran at a third of its rate, which says
more about a freshly created database than about intake.

Unary runs bare, floor, intake in turn on the same requests; then streaming does the same.

Reports are spread over Seoul and over categories, as real traffic is (all at one spot, every submission would
be scored against the 200 latest ones nearby as a near-duplicate). Load generator, Kafka, PostgreSQL and the
service share this machine's cores, so figures are lower bounds. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import auth
from sotong_common import topics as catalog
from sotong_common.producer import Acknowledged
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import Stack

GOAL = 0.6
CPU_GOAL = 2.0  # total CPU per accepted report at most twice the bare call's (server + client)
SUBJECT = ("api", "worker", "postgres", "kafka", "client")  # what an accepted report costs; not the arrivals reader
FLOOR = ("floor", "kafka", "client")  # what a report durable on Kafka costs at the least (diagnostic, no goal)
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


async def store_history(database_url: str, n: int) -> None:
    """`n` reports of the last 24 hours, as the worker stores them (first reports, received), then ANALYZE."""
    import asyncpg

    print(f"[bench intake] storing {n} reports of the last 24 h as history ...", flush=True)
    rng = random.Random("history")
    now = time.time()
    rows = []
    for i in range(n):
        c = rng.randrange(len(CATEGORIES))
        at = datetime.fromtimestamp(now - rng.uniform(60, 86_000), UTC)
        rows.append(
            (uuid.uuid4(), f"H{i:09d}", "report", f"{TEXTS[c]} (history {i})", CATEGORIES[c], rng.uniform(37.50, 37.58),
             rng.uniform(126.93, 127.06), "app", f"history-{i}", "received", at, at, "app")
        )  # fmt: skip
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        await conn.copy_records_to_table(
            "submissions",
            records=rows,
            columns=["id", "tracking_id", "kind", "text", "category", "lat", "lng", "channel", "channel_message_id",
                     "status", "received_at", "updated_at", "source"],
        )  # fmt: skip
        await conn.execute("ANALYZE submissions")
    finally:
        await conn.close()


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


async def serve_until_sigterm(servicer: pb_grpc.IntakeServiceServicer, port: int) -> None:
    """Serve `servicer` (the methods it lacks answer UNIMPLEMENTED) until the bench sends SIGTERM."""
    server = grpc.aio.server()
    pb_grpc.add_IntakeServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


async def serve_bare(port: int) -> None:
    await serve_until_sigterm(Bare(), port)  # type: ignore[abstract]


# -- the durable floor server ----------------------------------------------------------------------------------

FLOOR_TOPIC = "bench.durable-floor.v1"  # created by the bench like intake.submission-accepted.v1, used by nothing else


class Floor(pb_grpc.IntakeServiceServicer):
    """The bare server plus the one thing item 2 of issue 16 cannot do without: each report durable on Kafka
    (acks=all) before the answer. Same producer class and settings as intake's acceptance path
    (`sotong_common.producer.Acknowledged`: librdkafka, idempotent, lz4, linger 2 ms); the request's own bytes,
    keyed by its channel message id (spread over the partitions as intake's district keys are), no headers."""

    def __init__(self, producer: Acknowledged) -> None:
        self._producer = producer

    async def SubmitReport(self, request: pb.SubmitReportRequest, context: Any) -> pb.SubmitReportResponse:
        await self._producer.send(FLOOR_TOPIC, request.channel_message_id.encode(), request.SerializeToString(), ())
        return pb.SubmitReportResponse(tracking_id="261124-FLOORFLR", created=True)

    async def SubmitBatch(self, request_iterator: Any, context: Any) -> pb.SubmitBatchResponse:
        sends = []
        async for item in request_iterator:  # each item produced as it arrives, the answer once all are acknowledged
            report = item.report
            sends.append(
                asyncio.ensure_future(
                    self._producer.send(FLOOR_TOPIC, report.channel_message_id.encode(), report.SerializeToString(), ())
                )
            )
        await asyncio.gather(*sends)
        reply = pb.SubmitBatchResponse(accepted=len(sends))
        for i in range(len(sends)):
            reply.results.append(pb.SubmitBatchResult(index=i, tracking_id="261124-FLOORFLR", created=True))
        return reply


async def serve_floor(port: int, bootstrap: str) -> None:
    producer = Acknowledged(bootstrap, "bench-durable-floor")
    await producer.start()
    await serve_until_sigterm(Floor(producer), port)  # type: ignore[abstract]
    await producer.stop()


def create_floor_topic(bootstrap: str, replication: int, min_insync: int) -> None:
    """FLOOR_TOPIC with the partitions, replication and configs of intake's acceptance topic."""
    accepted = catalog.get(catalog.SUBMISSION_ACCEPTED)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-intake")
    try:
        configs = accepted.configs(min_insync if replication > 1 else None)
        admin.create_topics([NewTopic(FLOOR_TOPIC, accepted.partitions, replication, topic_configs=configs)])
    finally:
        admin.close()


# -- Kafka arrivals --------------------------------------------------------------------------------------------


def _tail_arrivals(bootstrap: str, topic: str, conn: Connection) -> None:
    """Child process: tail `topic` and answer "when did each of these keys arrive" over `conn`.

    Runs in its own process so that decoding a few thousand events a second never takes the GIL from the asyncio
    load generator (a thread did, during the intake phases only, which skewed the comparison with the bare server).
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=500)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for p in partitions:
        consumer.position(p)
    conn.send("ready")
    arrived: dict[str, float] = {}
    waiting: tuple[list[str], float] | None = None
    while True:
        for records in consumer.poll(timeout_ms=20).values():
            now = time.perf_counter()
            for record in records:
                event = ev.SubmissionReceived.FromString(record.value)
                arrived.setdefault(event.channel_message_id, now)
        if waiting is None and conn.poll():
            request = conn.recv()
            if request[0] == "stop":
                break
            waiting = (request[1], time.monotonic() + request[2])
        if waiting is not None:
            keys, deadline = waiting
            if time.monotonic() >= deadline or all(k in arrived for k in keys):
                conn.send({k: arrived[k] for k in keys if k in arrived})
                waiting = None
    consumer.close()


class Arrivals:
    """Notes when each channel message id's event became readable on intake.submission-received.v1.

    The consumer runs in a child process. Its arrival times are `time.perf_counter()` readings, which on Linux are
    CLOCK_MONOTONIC: one system-wide clock, so they compare directly with this process's send times.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        assert time.get_clock_info("perf_counter").implementation == "clock_gettime(CLOCK_MONOTONIC)", (
            "arrival times from another process need a system-wide perf_counter clock"
        )
        self.arrived: dict[str, float] = {}
        self._conn, child_conn = mp.get_context("spawn").Pipe()
        self.process = mp.get_context("spawn").Process(
            target=_tail_arrivals, args=(bootstrap, topic, child_conn), daemon=True
        )
        self.process.start()
        child_conn.close()  # so that a child that died gives EOFError here instead of a hang
        if self._conn.recv() != "ready":
            raise RuntimeError("arrivals consumer did not start")

    def wait_for(self, keys: list[str], timeout: float = 120) -> None:
        self._conn.send(("wait", keys, timeout))
        self.arrived.update(self._conn.recv())

    def stop(self) -> None:
        self._conn.send(("stop",))
        self.process.join(timeout=20)


# -- CPU accounting (diagnostic) -------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds incl. reaped children) for every process we can read."""
    table: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / _TICK)
    return table


def _tree_cpu(table: dict[int, tuple[int, float]], roots: list[int]) -> float:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, list(roots)
    while todo:
        pid = todo.pop()
        total += table.get(pid, (0, 0.0))[1]
        todo.extend(children.get(pid, []))
    return total


def _postmaster(data_dir: Path) -> list[int]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(data_dir) in cmd and "postgres" in cmd and "pg_ctl" not in cmd:
                return [int(name)]
    return []


class CpuMeter:
    """CPU seconds spent by each process of the run, so a phase can be charged per request.

    api = the intake API process, worker = the intake worker (stores what the API accepted), postgres = this run's
    server and backends, kafka = the broker JVM(s), client = this load generator (all its threads), arrivals = the
    Kafka tail child, bare = the bare server, floor = the durable floor server.
    """

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self._groups = {name: pids for name, pids in groups.items() if pids}

    def snapshot(self) -> dict[str, float]:
        table = _proc_table()
        out = {name: _tree_cpu(table, pids) for name, pids in self._groups.items() if name != "client"}
        out["client"] = time.process_time()
        return out

    @staticmethod
    def per_request_ms(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
        return {name: round((after[name] - before.get(name, 0.0)) * 1000 / n, 3) for name in after}


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


def cpu_line(cpu: dict[str, dict[str, float]]) -> str:
    bare, intake = cpu["bare"], cpu["intake"]
    parts = [
        f"{name} {intake[name]:.3f}"
        for name in ("api", "worker", "postgres", "kafka", "client", "arrivals")
        if name in intake
    ]
    return f"intake phase: {', '.join(parts)} | bare phase: bare {bare.get('bare', 0):.3f}, client {bare['client']:.3f}"


def cpu_totals(cpu: dict[str, dict[str, float]]) -> dict[str, float]:
    """Total CPU ms per accepted report (every process of the subject) and per bare call (server + client)."""
    intake = sum(cpu["intake"].get(name, 0.0) for name in SUBJECT)
    bare = cpu["bare"].get("bare", 0.0) + cpu["bare"]["client"]
    return {"intake_ms": round(intake, 3), "bare_ms": round(bare, 3), "ratio": round(intake / bare, 2)}


def floor_summary(summary: dict[str, Any], cpu: dict[str, float], phase: dict[str, Any]) -> dict[str, Any]:
    """The floor's rate and CPU per report, next to the bare call's and to intake's totals of the same load."""
    mine = {name: cpu.get(name, 0.0) for name in FLOOR}
    total = sum(mine.values())
    bare, intake = phase["cpu_total"]["bare_ms"], phase["cpu_total"]["intake_ms"]
    return {
        **summary,
        "cpu_ms": {name: round(ms, 3) for name, ms in mine.items()},
        "cpu_ms_all_processes": cpu,  # the idle intake API and worker too, shown, not counted
        "cpu_total_ms": round(total, 3),
        "floor_over_bare": round(total / bare, 2),
        "intake_over_floor": round(intake / total, 2),
    }


def kafka_idle(meter: CpuMeter, seconds: float = 3.0) -> float:
    """The broker's CPU seconds per second with no load (the stack's consumers polling): each phase pays it for as
    long as it runs, so a slower phase's Kafka share per report holds more of it."""
    before = meter.snapshot()["kafka"]
    time.sleep(seconds)
    return round((meter.snapshot()["kafka"] - before) / seconds, 3)


def floor_lines(f: dict[str, Any], rate_key: str, unit: str) -> list[str]:
    c = f["cpu_ms"]
    p50, p99 = ("rpc_p50_ms", "rpc_p99_ms") if rate_key == "rpc_per_s" else ("rpc_batch_p50_ms", "rpc_batch_p99_ms")
    return [
        f"  durable floor    : {f[rate_key]:8.0f} {unit}   p50 {f[p50]:7.1f} ms   p99 {f[p99]:7.1f} ms"
        "   (bare + produce with acks=all, answered after the acknowledgement)",
        f"  durable floor CPU: floor {c['floor']:.3f}, kafka {c['kafka']:.3f}, client {c['client']:.3f}"
        f" = {f['cpu_total_ms']:.3f} ms = {f['floor_over_bare']:.2f}x the bare call;"
        f" intake = {f['intake_over_floor']:.2f}x the floor (diagnostic)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json-out", type=Path, default=Path("bench-results/intake.json"))
    parser.add_argument("--unary", type=int, default=3000, help="unary submissions")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent unary callers")
    parser.add_argument("--batches", type=int, default=40, help="SubmitBatch streams")
    parser.add_argument("--batch-size", type=int, default=200, help="items per stream")
    parser.add_argument("--streams", type=int, default=4, help="concurrent streams")
    parser.add_argument("--history", type=int, default=20_000, help="reports already stored (last 24 h)")
    parser.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--floor-server", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--floor-bootstrap", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(serve_bare(args.bare_server))
        return
    if args.floor_server:
        asyncio.run(serve_floor(args.floor_server, args.floor_bootstrap))
        return

    bare_port, floor_port = free_ports(2)
    bare = subprocess.Popen([sys.executable, __file__, "--bare-server", str(bare_port)])
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-intake-"))
    stack = Stack(run_dir, nodes=1, database_url=os.environ.get("SOTONG_BENCH_DATABASE_URL"))
    results: dict[str, Any] = {"goal_ratio": GOAL}
    floor_results: dict[str, Any] = {
        "what": "a bare server that answers after producing the request to Kafka with acks=all (intake's producer and"
        " settings); CPU of floor server + Kafka + client per report; diagnostic, no goal",
        "topic": FLOOR_TOPIC,
    }
    results["durable_floor"] = floor_results
    floor: subprocess.Popen[bytes] | None = None
    try:
        state = stack.start_infrastructure(say=False)
        assert stack.kafka is not None
        create_floor_topic(state.kafka_bootstrap, stack.kafka.replication, stack.kafka.min_insync)
        floor = subprocess.Popen(
            [sys.executable, __file__, "--floor-server", str(floor_port), "--floor-bootstrap", state.kafka_bootstrap]
        )
        stack.start_services(("intake-api", "intake-worker"), say=False)
        meta = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "bench", ["service", "citizen"])),)
        target = f"127.0.0.1:{state.grpc_ports['intake-api']}"
        bare_target = f"127.0.0.1:{bare_port}"
        floor_target = f"127.0.0.1:{floor_port}"
        arrivals = Arrivals(state.kafka_bootstrap, "intake.submission-received.v1")
        assert stack.postgres is not None or stack.external_database
        meter = CpuMeter(
            {
                "api": [stack.processes["intake-api"].pid],
                "worker": [stack.processes["intake-worker"].pid],
                "postgres": _postmaster(stack.postgres.data_dir) if stack.postgres else [],
                "kafka": [pid for name, pid in state.pids.items() if name.startswith("kafka-")],
                "client": [os.getpid()],
                "arrivals": [arrivals.process.pid or 0],
                "bare": [bare.pid],
                "floor": [floor.pid],
            }
        )

        def phase(name: str, n: int, fn: Callable[[], Any], keys: list[str] | None = None) -> tuple[Any, Any]:
            """Run one load phase; CPU per request counts until its events are on Kafka (when `keys` are given)."""
            print(f"[bench intake] {name} ...", flush=True)
            before = meter.snapshot()
            result = fn()
            if keys is not None:
                arrivals.wait_for(keys)
            return result, CpuMeter.per_request_ms(before, meter.snapshot(), n)

        asyncio.run(store_history(state.database_url, args.history))
        # Warm both servers (connections, pools, JIT-free but cache-warm paths).
        warm = requests_for(200, "warm")
        asyncio.run(unary(target, meta, warm, 16))
        asyncio.run(unary(bare_target, meta, requests_for(200, "warmb"), 16))
        asyncio.run(unary(floor_target, meta, requests_for(200, "warmf"), 16))
        arrivals.wait_for([r.channel_message_id for r in warm])
        results["kafka_idle_cpu_s_per_s"] = kafka_idle(meter)

        items = requests_for(args.unary, "u")
        keys = [r.channel_message_id for r in items]
        bare_unary, bare_cpu = phase(
            "bare unary", len(items), lambda: asyncio.run(unary(bare_target, meta, items, args.concurrency))
        )
        floor_unary, floor_cpu = phase(
            "durable floor unary", len(items), lambda: asyncio.run(unary(floor_target, meta, items, args.concurrency))
        )
        intake_unary, intake_cpu = phase(
            "intake unary", len(items), lambda: asyncio.run(unary(target, meta, items, args.concurrency)), keys
        )
        results["unary"] = {
            "concurrency": args.concurrency,
            "bare": summarize_unary(bare_unary, None),
            "intake": summarize_unary(intake_unary, arrivals.arrived),
            "cpu_ms_per_request": {"bare": bare_cpu, "intake": intake_cpu},
        }
        results["unary"]["cpu_total"] = cpu_totals(results["unary"]["cpu_ms_per_request"])
        floor_results["unary"] = floor_summary(summarize_unary(floor_unary, None), floor_cpu, results["unary"])

        flat = requests_for(args.batches * args.batch_size, "s")
        batches = [flat[i : i + args.batch_size] for i in range(0, len(flat), args.batch_size)]
        keys = [r.channel_message_id for r in flat]
        bare_stream, bare_cpu = phase(
            "bare streaming", len(flat), lambda: asyncio.run(streaming(bare_target, meta, batches, args.streams))
        )
        floor_stream, floor_cpu = phase(
            "durable floor streaming",
            len(flat),
            lambda: asyncio.run(streaming(floor_target, meta, batches, args.streams)),
        )
        intake_stream, intake_cpu = phase(
            "intake streaming", len(flat), lambda: asyncio.run(streaming(target, meta, batches, args.streams)), keys
        )
        results["streaming"] = {
            "concurrent_streams": args.streams,
            "bare": summarize_streaming(bare_stream, batches, None),
            "intake": summarize_streaming(intake_stream, batches, arrivals.arrived),
            "cpu_ms_per_item": {"bare": bare_cpu, "intake": intake_cpu},
        }
        results["streaming"]["cpu_total"] = cpu_totals(results["streaming"]["cpu_ms_per_item"])
        floor_results["streaming"] = floor_summary(
            summarize_streaming(floor_stream, batches, None), floor_cpu, results["streaming"]
        )
        arrivals.stop()
    finally:
        for server in (bare, floor):
            if server is not None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=20)
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs

    u, s = results["unary"], results["streaming"]
    u["ratio"] = u["intake"]["accepted_per_s"] / u["bare"]["accepted_per_s"]
    s["ratio"] = s["intake"]["accepted_items_per_s"] / s["bare"]["accepted_items_per_s"]
    results["meets_goal"] = {
        "unary": u["ratio"] >= GOAL,
        "streaming": s["ratio"] >= GOAL,
        "unary_cpu": u["cpu_total"]["ratio"] <= CPU_GOAL,
        "streaming_cpu": s["cpu_total"]["ratio"] <= CPU_GOAL,
    }
    print()
    print(f"unary SubmitReport, {u['intake']['n']} calls, {u['concurrency']} concurrent callers")
    print(f"  bare grpcio      : {u['bare']['rpc_per_s']:8.0f} /s   p50 {u['bare']['rpc_p50_ms']:7.1f} ms"
          f"   p99 {u['bare']['rpc_p99_ms']:7.1f} ms")  # fmt: skip
    print(f"  intake (RPC ok)  : {u['intake']['rpc_per_s']:8.0f} /s   p50 {u['intake']['rpc_p50_ms']:7.1f} ms"
          f"   p99 {u['intake']['rpc_p99_ms']:7.1f} ms   (accepted: durable on Kafka, acks=all)")  # fmt: skip
    print(f"  intake (on Kafka): {u['intake']['accepted_per_s']:8.0f} /s   p50 {u['intake']['accepted_p50_ms']:7.1f} ms"
          f"   p99 {u['intake']['accepted_p99_ms']:7.1f} ms   (stored, announced, readable by consumers)")  # fmt: skip
    print(f"  ratio accepted/bare: {u['ratio']:.3f} (goal {GOAL})")
    print("  CPU ms per call   : " + cpu_line(u["cpu_ms_per_request"]))
    ut = u["cpu_total"]
    print(f"  CPU total per accepted report: {ut['intake_ms']:.3f} ms vs bare call {ut['bare_ms']:.3f} ms"
          f" = {ut['ratio']:.2f}x (goal <= {CPU_GOAL:g}x)")  # fmt: skip
    print("\n".join(floor_lines(floor_results["unary"], "rpc_per_s", "/s    ")))
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
    print("  CPU ms per item   : " + cpu_line(s["cpu_ms_per_item"]))
    st = s["cpu_total"]
    print(f"  CPU total per accepted item: {st['intake_ms']:.3f} ms vs bare item {st['bare_ms']:.3f} ms"
          f" = {st['ratio']:.2f}x (goal <= {CPU_GOAL:g}x)")  # fmt: skip
    print("\n".join(floor_lines(floor_results["streaming"], "rpc_items_per_s", "items/s")))
    print(f"Kafka broker idle (the stack's consumers polling): {results['kafka_idle_cpu_s_per_s']:.3f} CPU s/s")
    results["load_average"] = os.getloadavg()
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in results['load_average'])}")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2))
    print(f"results in {args.json_out}")


if __name__ == "__main__":
    main()
