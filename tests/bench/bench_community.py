"""Community: supports accepted per second and the time until a citizen reads the new count, next to the
unavoidable durable write measured in the same run; and the opinion statistics' lag under a steady load.

    python tests/bench/bench_community.py --json-out bench-results/community.json

1. Baseline: the one durable write a support cannot do without, `INSERT INTO supports … ON CONFLICT DO NOTHING`
   (one statement, autocommit), from this process on an asyncpg pool of the API's size (20) to the same database,
   warmed up as the API is, with the same number of concurrent callers as (2).
2. Supports: `SupportProposal` over gRPC (token check, validation, the group-committed ledger: the row, the count,
   the thresholds, the sum the opinion statistics are told of each second) from the same number of concurrent
   callers, distinct verified citizens, one hot proposal. Accepted = the call returned (committed).
   (1) and (2) run in alternating rounds (default 3 each), so that a change in the shared machine's load falls on
   both; the figures are over all rounds. Then, as a diagnostic, the floor under any RPC of this API from this
   client: grpc.health.v1 Check (no token, no database) through the same channel and server.
3. Support -> count visible: supports offered at a fixed rate (default 500/s) while a reader polls GetProposal
   every 10 ms; for each support, the time from sending it to the first read showing a count that includes it
   (its response's count), and the RPC's own latency. p50/p95/p99.
4. Opinion-stats lag: participation facts produced straight onto community.participation-recorded.v1 at a fixed
   rate (default 1,000/s) while the worker counts them; the k-th fact's lag is the time from producing it to the
   first moment the statistics (the row GetOpinionStats reads) count k facts, polled every 20 ms. p50/p95/p99.

Everything shares this machine's cores (the load generator, Kafka, PostgreSQL, the API, the worker); ratios to the
baseline are the figures that survive a busy machine. CPU milliseconds per operation of the API, PostgreSQL, the
worker, Kafka and this load generator (this process alone, not the stack it started) are printed for each phase,
and the ratio per CPU second of the writing side (the load generator excluded). It asserts nothing about speed.
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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from confluent_kafka import Producer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sotong.community.v1 import community_events_pb2 as epb
from sotong.community.v1 import community_service_pb2 as pb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common import auth, events, topics
from sotong_localstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "sotong.community.v1.CommunityService"
CALLERS = 64
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: list[int], descendants: bool = True) -> float:
    """CPU seconds of these processes and, unless told otherwise, all their descendants (from /proc)."""
    table: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / _TICK)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        total += table.get(pid, (0, 0.0))[1]
        if descendants:
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
    """CPU milliseconds per operation of each process group during a phase (diagnostic).

    The load generator ("client") is this process alone: the stack's Kafka, API and worker are its children, and
    counting them in (as this bench once did) charged the API twice and Kafka's and the worker's CPU to the client.
    """

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.used = dict.fromkeys(groups, 0.0)
        self.start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: _cpu_of(pids, descendants=name != "client") for name, pids in self.groups.items()}

    def resume(self) -> None:
        self.start = self._now()

    def pause(self) -> None:
        for name, cpu in self._now().items():
            self.used[name] += cpu - self.start[name]

    def per_op(self, n: int) -> dict[str, float]:
        return {name: round(cpu * 1000 / n, 3) for name, cpu in self.used.items()}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": ordered[-1] * 1000, "n": len(values)}


async def closed_loop(n: int, call: Callable[[int], Awaitable[object]]) -> tuple[float, list[float]]:
    """`n` calls from CALLERS concurrent callers, each calling again as soon as its previous call returned: the
    seconds it took and each call's latency."""
    queue = list(range(n))
    latencies: list[float] = []

    async def caller() -> None:
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return time.perf_counter() - started, latencies


def summary(n: int, seconds: float, latencies: list[float]) -> dict[str, float]:
    return {"n": n, "seconds": seconds, "per_s": n / seconds, **percentiles(latencies)}


def baseline_write(pool: asyncpg.Pool, target: uuid.UUID, prefix: str) -> Callable[[int], Awaitable[object]]:
    """The one durable write a support cannot do without, as the baseline does it: one statement, autocommit."""

    def write(i: int) -> Awaitable[object]:
        return pool.execute(
            "INSERT INTO supports (proposal_id, citizen) VALUES ($1, $2) ON CONFLICT DO NOTHING", target, f"{prefix}{i}"
        )

    return write


def support_call(
    stub: pb_grpc.CommunityServiceStub, proposal_id: str, metas: list[Any]
) -> Callable[[int], Awaitable[object]]:
    request = pb.SupportProposalRequest(proposal_id=proposal_id)

    def support(i: int) -> Awaitable[object]:
        return stub.SupportProposal(request, metadata=metas[i])  # type: ignore[return-value]

    return support


async def supports(stub: pb_grpc.CommunityServiceStub, proposal_id: str, metas: list[Any]) -> dict[str, float]:
    seconds, latencies = await closed_loop(len(metas), support_call(stub, proposal_id, metas))
    return summary(len(metas), seconds, latencies)


def tokens(secret: str, prefix: str, n: int) -> list[tuple[tuple[str, str], ...]]:
    return [
        (("authorization", "Bearer " + auth.issue(secret, f"{prefix}-{i:06d}", ["citizen"], verification="identity")),)
        for i in range(n)
    ]


async def proposal(stub: pb_grpc.CommunityServiceStub, url: str, operator: Any, author: Any, space: str) -> str:
    await stub.UpsertSpace(
        pb.UpsertSpaceRequest(space=pb.Space(space_id=space, title="bench", support_threshold=100,
                                             answer_threshold=10_000_000)),
        metadata=operator,
    )  # fmt: skip
    created = await stub.CreateProposal(
        pb.CreateProposalRequest(space_id=space, title="벤치마크 제안", body="본문", district_code="11440",
                                 category="bench", request_id=space),
        metadata=author,
    )  # fmt: skip
    proposal_id = created.proposal.proposal_id
    # Setup only: the bench runs no moderation worker, so the proposal is published directly.
    conn = await asyncpg.connect(url, server_settings={"search_path": "community"})
    await conn.execute(
        "UPDATE proposals SET state = 'published', published_at = now() WHERE proposal_id = $1::uuid", proposal_id
    )
    await conn.close()
    return proposal_id


async def visible(
    stub: pb_grpc.CommunityServiceStub, proposal_id: str, metas: list[Any], rate: float, reader: Any
) -> dict[str, Any]:
    request = pb.SupportProposalRequest(proposal_id=proposal_id)
    observed: list[tuple[float, int]] = []
    stop = asyncio.Event()

    async def read() -> None:
        ask = pb.GetProposalRequest(proposal_id=proposal_id)
        while not stop.is_set():
            got = await stub.GetProposal(ask, metadata=reader)
            observed.append((time.perf_counter(), got.proposal.support_count))
            await asyncio.sleep(0.01)

    sent: list[tuple[float, float, int]] = []

    async def one(meta: Any) -> None:
        started = time.perf_counter()
        reply = await stub.SupportProposal(request, metadata=meta)
        sent.append((started, time.perf_counter(), reply.support_count))

    reading = asyncio.create_task(read())
    calls = []
    begin = time.perf_counter()
    for i, meta in enumerate(metas):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        calls.append(asyncio.create_task(one(meta)))
    await asyncio.gather(*calls)
    offered_s = time.perf_counter() - begin
    await asyncio.sleep(0.1)
    stop.set()
    await reading
    lags, rpcs = [], []
    for started, answered, count in sent:
        rpcs.append(answered - started)
        seen = next((at for at, c in observed if c >= count and at >= started), None)
        if seen is not None:
            lags.append(seen - started)
    return {
        "offered_per_s": rate,
        "achieved_per_s": len(metas) / offered_s,
        "support_to_visible": percentiles(lags),
        "rpc": percentiles(rpcs),
        "reads": len(observed),
    }


async def stats_lag(bootstrap: str, url: str, rate: float, seconds: float) -> dict[str, Any]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2})
    conn = await asyncpg.connect(url, server_settings={"search_path": "community"})
    total_sql = (
        "SELECT coalesce(sum(supports), 0)::bigint FROM opinion_stats WHERE window_kind = 'day' AND category = 'lag'"
    )
    n = int(rate * seconds)
    districts = ["11110", "11140", "11170", "11200", "11215", "11230", "11260", "11290", "11305", "11320", "11350",
                 "11380", "11410", "11440", "11470", "11500", "11530", "11545", "11560", "11590", "11620", "11650",
                 "11680", "11710", "11740"]  # fmt: skip
    observed: list[tuple[float, int]] = []
    stop = asyncio.Event()

    async def read() -> None:
        while not stop.is_set():
            observed.append((time.perf_counter(), int(await conn.fetchval(total_sql))))
            await asyncio.sleep(0.02)

    reading = asyncio.create_task(read())
    produced: list[float] = []
    begin = time.perf_counter()
    for i in range(n):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        fact = epb.ParticipationRecorded(
            kind=epb.PARTICIPATION_KIND_SUPPORT, subject_id=f"lag-{i % 50}", district_code=districts[i % 25],
            category="lag", delta=1,
        )  # fmt: skip
        fact.at.FromDatetime(datetime.now(UTC))
        meta = events.EventMetadata.new(topics.COMMUNITY_PARTICIPATION_RECORDED, "bench")
        produced.append(time.perf_counter())
        producer.produce(
            topics.COMMUNITY_PARTICIPATION_RECORDED,
            key=fact.subject_id.encode(),
            value=events.encode(fact),
            headers=meta.headers(with_trace=False),
        )
        producer.poll(0)
    producer.flush(30)
    offered_s = time.perf_counter() - begin
    deadline = time.monotonic() + 120
    while (not observed or observed[-1][1] < n) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await reading
    await conn.close()
    lags = []
    for k, at in enumerate(produced, start=1):
        seen = next((t for t, c in observed if c >= k and t >= at), None)
        if seen is not None:
            lags.append(seen - at)
    return {
        "offered_per_s": rate,
        "achieved_per_s": n / offered_s,
        "events": n,
        "counted": observed[-1][1] if observed else 0,
        "lag": percentiles(lags),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-community-"))
    stack = Stack(run_dir, nodes=1)
    try:
        print("starting Kafka, PostgreSQL, community-api and community-worker ...", flush=True)
        state = stack.start_infrastructure(say=False)
        stack.start_services(("community-api", "community-worker"), say=False)
        operator = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "bench-operator", ["operator"])),)
        author = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "bench-author", ["citizen"])),)
        reader = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "bench-reader", ["citizen"])),)
        results: dict[str, Any] = {"callers": CALLERS, "machine_load_1m": Path("/proc/loadavg").read_text().split()[0]}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{state.grpc_ports['community-api']}") as ch:
            stub = pb_grpc.CommunityServiceStub(ch)
            hot = await proposal(stub, state.database_url, operator, author, "bench-throughput")
            warm = tokens(state.jwt_secret, "warm", 300)
            await supports(stub, hot, warm)  # warm the server, the pools and the token cache

            assert stack.postgres is not None
            groups = {
                "api": [state.pids["community-api"]],
                "postgres": _postmaster(stack.postgres.data_dir),
                "client": [os.getpid()],
                "worker": [state.pids["community-worker"]],
                "kafka": [pid for name, pid in state.pids.items() if name.startswith("kafka-")],
            }
            pool = await asyncpg.create_pool(
                state.database_url, min_size=20, max_size=20, server_settings={"search_path": "community"}
            )
            assert pool is not None
            target = uuid.uuid4()
            await closed_loop(300, baseline_write(pool, target, "warm"))  # the baseline warms up as the API did
            rounds = args.rounds
            per_round = args.n // rounds
            print(f"baseline and supports, {rounds} alternating rounds of {per_round} from {CALLERS} callers ...",
                  flush=True)  # fmt: skip
            metas = tokens(state.jwt_secret, "t", per_round * rounds)
            meters = {"baseline": CpuMeter(groups), "supports": CpuMeter(groups)}
            timed: dict[str, tuple[float, list[float]]] = {"baseline": (0.0, []), "supports": (0.0, [])}
            for r in range(rounds):
                # Alternating rounds: a shared machine's load changes within a minute, and both sides see it.
                for side in ("baseline", "supports"):
                    if side == "baseline":
                        call = baseline_write(pool, target, f"b{r}-")
                    else:
                        call = support_call(stub, hot, metas[r * per_round : (r + 1) * per_round])
                    meters[side].resume()
                    seconds, latencies = await closed_loop(per_round, call)
                    meters[side].pause()
                    timed[side] = (timed[side][0] + seconds, timed[side][1] + latencies)
                    print(f"  round {r + 1} {side}: {per_round / seconds:,.0f}/s", flush=True)
            await pool.execute("DELETE FROM supports WHERE proposal_id = $1", target)
            await pool.close()
            total = per_round * rounds
            for side in ("baseline", "supports"):
                results[side] = summary(total, *timed[side])
                results[side]["cpu_ms_per_op"] = meters[side].per_op(total)
            ratio = results["supports"]["per_s"] / results["baseline"]["per_s"]
            results["ratio_to_baseline"] = ratio
            print(f"  baseline {results['baseline']['per_s']:,.0f}/s, p99 {results['baseline']['p99_ms']:.1f} ms;"
                  f" supports {results['supports']['per_s']:,.0f}/s, p99 {results['supports']['p99_ms']:.1f} ms;"
                  f" ratio to the baseline {ratio:.2f} (goal >= 0.5)", flush=True)  # fmt: skip
            print(f"  CPU ms per operation: baseline {results['baseline']['cpu_ms_per_op']},"
                  f" supports {results['supports']['cpu_ms_per_op']}", flush=True)  # fmt: skip
            # Per CPU second of the side that does the work (the load generator excluded): the baseline's writer
            # is its asyncpg caller plus PostgreSQL, a support's is the API plus PostgreSQL.
            base_cpu = results["baseline"]["cpu_ms_per_op"]
            ours_cpu = results["supports"]["cpu_ms_per_op"]
            per_cpu = (base_cpu["postgres"] + base_cpu["client"]) / max(ours_cpu["api"] + ours_cpu["postgres"], 1e-9)
            results["ratio_per_cpu_second"] = per_cpu
            print(f"  per CPU second of the writing side: ratio {per_cpu:.2f}", flush=True)

            # The floor under any RPC of this API from this client: grpc.health.v1 Check (no token, no database)
            # through the same channel, server and interceptor, from the same number of callers. Diagnostic: it
            # says how much of the gap to the baseline is the gRPC call itself.
            health = health_pb2_grpc.HealthStub(ch)
            check = health_pb2.HealthCheckRequest(service=SERVICE)
            meter = CpuMeter(groups)
            meter.resume()
            seconds, latencies = await closed_loop(per_round, lambda _: health.Check(check))
            meter.pause()
            results["rpc_floor"] = summary(per_round, seconds, latencies)
            results["rpc_floor"]["cpu_ms_per_op"] = meter.per_op(per_round)
            floor = results["rpc_floor"]
            print(f"  rpc floor (health Check): {floor['per_s']:,.0f}/s"
                  f" ({floor['per_s'] / results['baseline']['per_s']:.2f} of the baseline),"
                  f" CPU ms per call {floor['cpu_ms_per_op']}", flush=True)  # fmt: skip

            n = int(args.rate * args.seconds)
            other = await proposal(stub, state.database_url, operator, author, "bench-latency")
            print(f"support -> visible count at {args.rate:.0f} supports/s for {args.seconds:.0f} s ...", flush=True)
            results["visible"] = await visible(stub, other, tokens(state.jwt_secret, "v", n), args.rate, reader)
            vis = results["visible"]["support_to_visible"]
            print(f"  achieved {results['visible']['achieved_per_s']:,.0f}/s; support -> count read p50"
                  f" {vis['p50_ms']:.0f} ms, p99 {vis['p99_ms']:.0f} ms (goal <= 500 ms); RPC p99"
                  f" {results['visible']['rpc']['p99_ms']:.0f} ms", flush=True)  # fmt: skip

        print(f"opinion-stats lag at {args.stats_rate:.0f} events/s for {args.seconds:.0f} s ...", flush=True)
        results["opinion_stats"] = await stats_lag(state.kafka_bootstrap, state.database_url, args.stats_rate,
                                                   args.seconds)  # fmt: skip
        lag = results["opinion_stats"]["lag"]
        print(f"  achieved {results['opinion_stats']['achieved_per_s']:,.0f}/s, counted"
              f" {results['opinion_stats']['counted']}/{results['opinion_stats']['events']}; lag p50"
              f" {lag.get('p50_ms', 0):.0f} ms, p99 {lag.get('p99_ms', 0):.0f} ms", flush=True)  # fmt: skip
        return results
    finally:
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json-out", type=Path, default=ROOT / "bench-results/community.json")
    parser.add_argument("-n", type=int, default=6_000, help="supports (and baseline inserts) for the throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating baseline/supports rounds")
    parser.add_argument("--rate", type=float, default=500.0, help="offered supports/s for the visibility run")
    parser.add_argument("--stats-rate", type=float, default=1_000.0, help="offered facts/s for the stats lag run")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the rate runs")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    results["at"] = datetime.now(UTC).isoformat()
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "visible"}, indent=None)[:2000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
