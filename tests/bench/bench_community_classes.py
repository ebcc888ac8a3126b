"""Community classes: enrolments per second under contention for one class, and p99 to the citizen's answer, next
to the unavoidable durable write measured in the same run.

    python tests/bench/bench_community_classes.py --json-out bench-results/community_classes.json

1. Baseline: what an enrolment in a contended class cannot do without: one transaction that takes the class's
   seat counter (`UPDATE … SET n = n + 1 … RETURNING n`, the row every enrolment of the class serialises on) and
   inserts the enrolment row, from this process on an asyncpg pool of the API's size (20) to the same database,
   with the same number of concurrent callers.
2. Enrolments: `EnrolInClass` over gRPC (token check, validation, the class row's lock, eligibility, the seat or
   waitlist decision, the contact encrypted at rest, the row) from the same number of concurrent callers, distinct
   citizens, one class of 20 seats: the first 20 enrolled, the rest waitlisted. Per call: the time from sending it
   to the citizen's answer.

Everything shares this machine's cores (load generator, PostgreSQL, the API, Kafka); the ratio to the baseline is
the figure that survives a busy machine. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from bench_community import CALLERS, CpuMeter, _postmaster, percentiles

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common import auth
from sotong_localstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
SEATS = 20


async def baseline(url: str, n: int) -> dict[str, float]:
    pool = await asyncpg.create_pool(url, min_size=20, max_size=20, server_settings={"search_path": "community"})
    assert pool is not None
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_seats (id int PRIMARY KEY, n bigint NOT NULL)")
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_enrolments (id uuid PRIMARY KEY, arrival bigint NOT NULL)")
    await pool.execute("INSERT INTO bench_seats VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0")
    queue = list(range(n))
    latencies: list[float] = []

    async def caller() -> None:
        while queue:
            queue.pop()
            started = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                arrival = await conn.fetchval("UPDATE bench_seats SET n = n + 1 WHERE id = 1 RETURNING n")
                await conn.execute("INSERT INTO bench_enrolments VALUES ($1, $2)", uuid.uuid4(), arrival)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    seconds = time.perf_counter() - started
    await pool.execute("DROP TABLE bench_seats, bench_enrolments")
    await pool.close()
    return {"n": n, "seconds": seconds, "per_s": n / seconds, **percentiles(latencies)}


async def enrolments(stub: pb_grpc.CommunityServiceStub, class_id: str, metas: list[Any]) -> dict[str, Any]:
    queue = list(enumerate(metas))
    latencies: list[float] = []
    outcomes: dict[str, int] = {}

    async def caller() -> None:
        while queue:
            i, meta = queue.pop()
            started = time.perf_counter()
            answer = await stub.EnrolInClass(
                opb.EnrolInClassRequest(class_id=class_id, channel=opb.ENROLMENT_CHANNEL_APP, birth_year=1950,
                                        contact=opb.ClassContact(phone=f"010{i:08d}"), request_id=f"e-{i}"),
                metadata=meta, timeout=60,
            )  # fmt: skip
            latencies.append(time.perf_counter() - started)
            name = opb.EnrolmentStatus.Name(answer.enrolment.status)
            outcomes[name] = outcomes.get(name, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    seconds = time.perf_counter() - started
    return {"n": len(metas), "seconds": seconds, "per_s": len(metas) / seconds, "outcomes": outcomes,
            "answer": percentiles(latencies)}  # fmt: skip


async def a_class(stub: pb_grpc.CommunityServiceStub, operator: Any, request_id: str) -> str:
    course = opb.SnsClass(title="벤치 교실", level="beginner", capacity=SEATS, min_age=65, waitlist=True,
                          venue=opb.ClassVenue(name="배움터", district_code="11440"))  # fmt: skip
    session = course.sessions.add(minutes=90)
    session.starts_at.FromDatetime(datetime.now(UTC) + timedelta(days=30))
    made = await stub.CreateClass(opb.CreateClassRequest(sns_class=course, request_id=request_id), metadata=operator)
    return made.sns_class.class_id


def tokens(secret: str, prefix: str, n: int) -> list[Any]:
    return [(("authorization", "Bearer " + auth.issue(secret, f"{prefix}-{i:06d}", ["citizen"])),) for i in range(n)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-classes-"))
    stack = Stack(run_dir, nodes=1)
    try:
        print("starting Kafka, PostgreSQL and community-api ...", flush=True)
        state = stack.start_infrastructure(say=False)
        stack.start_services(("community-api",), say=False)
        operator = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "bench-operator", ["operator"])),)
        results: dict[str, Any] = {"callers": CALLERS, "seats": SEATS,
                                   "machine_load_1m": Path("/proc/loadavg").read_text().split()[0]}  # fmt: skip
        async with grpc.aio.insecure_channel(f"127.0.0.1:{state.grpc_ports['community-api']}") as ch:
            stub = pb_grpc.CommunityServiceStub(ch)
            await enrolments(stub, await a_class(stub, operator, "warm"), tokens(state.jwt_secret, "warm", 300))
            assert stack.postgres is not None
            groups = {"api": [state.pids["community-api"]], "postgres": _postmaster(stack.postgres.data_dir),
                      "client": [os.getpid()]}  # fmt: skip
            print(f"baseline: {args.n} counter-and-insert transactions on one row from {CALLERS} callers ...")
            meter = CpuMeter(groups)
            results["baseline"] = await baseline(state.database_url, args.n)
            results["baseline"]["cpu_ms_per_op"] = meter.per_op(args.n)
            print(f"  {results['baseline']['per_s']:,.0f}/s, p99 {results['baseline']['p99_ms']:.1f} ms", flush=True)
            class_id = await a_class(stub, operator, "hot")
            print(f"enrolments: {args.n} EnrolInClass for one {SEATS}-seat class from {CALLERS} callers ...")
            meter = CpuMeter(groups)
            results["enrolments"] = await enrolments(stub, class_id, tokens(state.jwt_secret, "c", args.n))
            results["enrolments"]["cpu_ms_per_op"] = meter.per_op(args.n)
            ours = results["enrolments"]
            results["ratio_to_baseline"] = ours["per_s"] / results["baseline"]["per_s"]
            print(f"  {ours['per_s']:,.0f}/s ({ours['outcomes']}), answer p50 {ours['answer']['p50_ms']:.0f} ms,"
                  f" p99 {ours['answer']['p99_ms']:.0f} ms; ratio to the baseline"
                  f" {results['ratio_to_baseline']:.2f}", flush=True)  # fmt: skip
            print(f"  CPU ms per operation: baseline {results['baseline']['cpu_ms_per_op']},"
                  f" enrolments {ours['cpu_ms_per_op']}", flush=True)  # fmt: skip
        return results
    finally:
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json-out", type=Path, default=ROOT / "bench-results/community_classes.json")
    parser.add_argument("-n", type=int, default=3_000, help="enrolments (and baseline transactions)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    results["at"] = datetime.now(UTC).isoformat()
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results)[:2000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
