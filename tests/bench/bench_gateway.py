"""Calls through the gateway next to the same calls straight to the service, in the same run.

    python tests/bench/bench_gateway.py --json-out bench-results/gateway.json

A real stack in a temporary directory (Kafka, PostgreSQL, `sotong-intake-api`, `sotong-gateway`). The call is a
citizen reading a submission, `sotong.intake.v1.IntakeService/GetSubmission`: straight to intake-api, and the very
same call through the gateway's native gRPC door (the gateway checks the token, the roles and the limits,
forwards it with the token, the remaining deadline and the trace, and passes the answer back). The public
contract's `GatewayService/GetSubmission` (mapped onto intake's) and the Connect door (JSON over HTTP/1.1) are
measured too, for information.

1. Saturation: C callers on one grpc.aio channel each, for a fixed time; calls per second and latency
   percentiles. Direct and through the gateway alternate, twice each, and the better run of each counts (the
   machine is shared: the lead's and other helpers' work runs beside it).
2. Half load: an open-loop caller paced at half the direct saturation rate, direct and through the gateway,
   three runs of each, alternating; the median run's p50/p99, and the p99 the gateway adds.
3. The floor (a diagnostic, no goal): the same calls through a bare pass-through proxy in its own process, a
   `grpc.aio` server that forwards each call's bytes to intake-api with its token, trace and remaining deadline
   over one channel and passes the answer's bytes back, with no check, no parsing, no span and no metric. It
   alternates with the others in (1) and (2). Any gateway written on grpc.aio pays at least this for the extra
   hop; what the gateway costs beyond it is its duties (tokens, roles, limits, validation, spans, metrics).

Load generator, gateway, intake-api and PostgreSQL share this machine's two cores: the gateway's own CPU comes
out of the same budget the service uses, so the ratio is a lower bound of what separate machines would show.
Goals (issue 14): at least 0.7 of the direct rate, and at most 5 ms of p99 added at half the direct rate. It
asserts nothing about speed.
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from meter import CpuMeter, percentile

from sotong.gateway.v1 import gateway_service_pb2 as gw
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import auth
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import Stack

GOAL_RATIO = 0.7
GOAL_P99_ADDED_MS = 5.0
GET = "/sotong.intake.v1.IntakeService/GetSubmission"
PUBLIC_GET = "/sotong.gateway.v1.GatewayService/GetSubmission"

Call = Callable[[], Awaitable[Any]]


def summary(latencies: list[float], elapsed: float, errors: int) -> dict[str, float]:
    return {
        "calls": len(latencies),
        "errors": errors,
        "calls_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else 0.0,
    }


METER: CpuMeter | None = None


# -- the floor: a bare pass-through proxy -----------------------------------------------------------------------


class _PassThrough(grpc.GenericRpcHandler):
    """Every unary method, forwarded as bytes: what a proxy on grpc.aio cannot avoid doing."""

    FORWARDED = ("authorization", "traceparent", "tracestate")

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is None:  # made once per method, not per call
            handler = self._handlers[method] = self._handler(self._channel.unary_unary(method))
        return handler

    def _handler(self, forward: Any) -> grpc.RpcMethodHandler[Any, Any]:
        async def unary(data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            metadata = tuple((k, v) for k, v in context.invocation_metadata() or () if k in self.FORWARDED)
            reply: bytes = await forward(data, metadata=metadata, timeout=context.time_remaining())
            return reply

        return grpc.unary_unary_rpc_method_handler(unary)


async def serve_passthrough(port: int, target: str) -> None:
    channel = grpc.aio.insecure_channel(target)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_PassThrough(channel),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def saturate(make_call: Callable[[], Call], concurrency: int, seconds: float) -> dict[str, Any]:
    """`concurrency` callers, each calling as fast as answers come, for `seconds`."""
    before = METER.snapshot() if METER else {}
    result = await _saturate(make_call, concurrency, seconds)
    if METER:
        result["cpu_ms_per_call"] = CpuMeter.per_call_ms(before, METER.snapshot(), int(result["calls"]))
    return result


async def _saturate(make_call: Callable[[], Call], concurrency: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal errors
        call = make_call()
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return summary(latencies, time.perf_counter() - started, errors)


async def paced(make_call: Callable[[], Call], rate: float, seconds: float) -> dict[str, float]:
    """Open loop: one call every 1/rate s whatever the answers do; latency from its scheduled start."""
    latencies: list[float] = []
    errors = 0
    call = make_call()
    interval = 1.0 / rate
    begin = time.perf_counter()
    total = int(rate * seconds)
    tasks = []

    async def one(scheduled: float) -> None:
        nonlocal errors
        try:
            await call()
        except Exception:
            errors += 1
            return
        latencies.append(time.perf_counter() - scheduled)

    for i in range(total):
        scheduled = begin + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return summary(latencies, time.perf_counter() - begin, errors)


def _serialize(message: Any) -> bytes:
    return bytes(message.SerializeToString())


def grpc_get(target: str, method: str, request: Any, response: Any, metadata: Any) -> Callable[[], Call]:
    """A factory of callers, each with its own channel (one HTTP/2 connection per caller, as separate apps)."""
    channels: list[grpc.aio.Channel] = []

    def make() -> Call:
        channel = grpc.aio.insecure_channel(target)
        channels.append(channel)
        stub = channel.unary_unary(method, request_serializer=_serialize, response_deserializer=response.FromString)

        async def call() -> Any:
            return await stub(request, metadata=metadata, timeout=10)

        return call

    make.channels = channels  # type: ignore[attr-defined]
    return make


def connect_get(
    base: str, method: str, body: bytes, authorization: str, session: aiohttp.ClientSession
) -> Callable[[], Call]:
    headers = {"content-type": "application/json", "authorization": authorization}

    def make() -> Call:
        async def call() -> Any:
            async with session.post(f"{base}{method}", data=body, headers=headers) as reply:
                data = await reply.read()
                if reply.status != 200:
                    raise RuntimeError(f"{reply.status} {data[:100]!r}")
                return data

        return call

    return make


async def close_channels(*factories: Any) -> None:
    for factory in factories:
        for channel in getattr(factory, "channels", []):
            await channel.close()


async def measure(stack: Stack, args: argparse.Namespace, floor_port: int, floor_pid: int) -> dict[str, Any]:
    assert stack.state is not None
    state = stack.state
    token = "Bearer " + auth.issue(state.jwt_secret, "citizen-bench", ["citizen"], ttl_s=24 * 3600)
    metadata = (("authorization", token),)
    direct_target = f"127.0.0.1:{state.grpc_ports['intake-api']}"
    gateway_target = f"127.0.0.1:{state.grpc_ports['gateway-api']}"
    async with grpc.aio.insecure_channel(direct_target) as channel:
        accepted = await channel.unary_unary(
            "/sotong.intake.v1.IntakeService/SubmitReport",
            request_serializer=_serialize,
            response_deserializer=pb.SubmitReportResponse.FromString,
        )(
            pb.SubmitReportRequest(
                kind=types.SUBMISSION_KIND_COMPLAINT, text="벤치마크용 민원입니다", district_code="11140", channel="app"
            ),
            metadata=metadata,
        )
    request = pb.GetSubmissionRequest(tracking_id=accepted.tracking_id)
    public = gw.GetSubmissionRequest(tracking_id=accepted.tracking_id)
    direct = grpc_get(direct_target, GET, request, pb.GetSubmissionResponse, metadata)
    through = grpc_get(gateway_target, GET, request, pb.GetSubmissionResponse, metadata)
    through_public = grpc_get(gateway_target, PUBLIC_GET, public, gw.GetSubmissionResponse, metadata)
    floor = grpc_get(f"127.0.0.1:{floor_port}", GET, request, pb.GetSubmissionResponse, metadata)
    results: dict[str, Any] = {"call": GET, "concurrency": args.concurrency, "seconds_per_run": args.seconds}
    global METER
    METER = CpuMeter(
        {
            "client": os.getpid(),
            "intake-api": stack.processes["intake-api"].pid,
            "gateway": stack.processes["gateway-api"].pid,
            "floor": floor_pid,
        }
    )

    print("[bench gateway] warm-up", flush=True)
    await saturate(direct, 8, 2)
    await saturate(through, 8, 2)
    await saturate(through_public, 8, 2)
    await saturate(floor, 8, 2)

    runs: dict[str, list[dict[str, float]]] = {"direct": [], "gateway": [], "floor": []}
    order = (("direct", direct), ("gateway", through), ("floor", floor))
    for round_ in range(args.rounds):
        for name, factory in order if round_ % 2 == 0 else order[::-1]:
            outcome = await saturate(factory, args.concurrency, args.seconds)
            runs[name].append(outcome)
            print(f"[bench gateway] saturation {name}: {outcome}", flush=True)
    best = {name: max(found, key=lambda r: r["calls_per_s"]) for name, found in runs.items()}
    ratio = best["gateway"]["calls_per_s"] / best["direct"]["calls_per_s"]
    results["saturation"] = {"runs": runs, "best": best, "ratio": round(ratio, 3)}

    public_run = await saturate(through_public, args.concurrency, args.seconds)
    print(f"[bench gateway] saturation gateway public contract: {public_run}", flush=True)
    results["saturation"]["gateway_public_contract"] = public_run

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
        base = f"http://127.0.0.1:{state.http_ports['gateway-api']}"
        body = json.dumps({"trackingId": accepted.tracking_id}).encode()
        connect = connect_get(base, GET, body, token, session)
        await saturate(connect, 8, 2)
        connect_run = await saturate(connect, args.concurrency, args.seconds)
        print(f"[bench gateway] saturation gateway Connect JSON: {connect_run}", flush=True)
        results["saturation"]["gateway_connect_json"] = connect_run

    half = best["direct"]["calls_per_s"] / 2
    paced_runs: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": [], "floor": []}
    for round_ in range(args.half_rounds):
        for name, factory in order if round_ % 2 == 0 else order[::-1]:
            outcome = await paced(factory, half, args.seconds)
            paced_runs[name].append(outcome)
            print(f"[bench gateway] half load ({half:.0f}/s) {name}: {outcome}", flush=True)
    # A shared machine's hiccup lands in one run's p99: the median run of each says what is typical.
    typical = {name: statistics.median(r["p99_ms"] for r in found) for name, found in paced_runs.items()}
    typical_p50 = {name: statistics.median(r["p50_ms"] for r in found) for name, found in paced_runs.items()}
    added = typical["gateway"] - typical["direct"]
    results["half_load"] = {
        "rate_per_s": round(half, 1),
        "runs": paced_runs,
        "median_p50_ms": typical_p50,
        "median_p99_ms": typical,
        "p99_added_ms": round(added, 3),
    }
    results["cpu_ms_per_call"] = {
        "direct": best["direct"].get("cpu_ms_per_call"),
        "gateway": best["gateway"].get("cpu_ms_per_call"),
        "floor": best["floor"].get("cpu_ms_per_call"),
    }
    floor_ratio = best["floor"]["calls_per_s"] / best["direct"]["calls_per_s"]
    results["floor"] = {
        "what": "a bare grpc.aio pass-through proxy: bytes forwarded with token, trace and deadline; no checks",
        "ratio": round(floor_ratio, 3),
        "p99_added_ms": round(typical["floor"] - typical["direct"], 3),
    }
    results["goals"] = {
        "ratio_at_least": GOAL_RATIO,
        "ratio": round(ratio, 3),
        "ratio_met": ratio >= GOAL_RATIO,
        "p99_added_at_most_ms": GOAL_P99_ADDED_MS,
        "p99_added_ms": round(added, 3),
        "p99_met": added <= GOAL_P99_ADDED_MS,
    }
    await close_channels(direct, through, through_public, floor)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json-out", type=Path, default=Path("bench-results/gateway.json"))
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers (one channel each)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument("--rounds", type=int, default=2, help="saturation runs of each, alternating")
    parser.add_argument("--half-rounds", type=int, default=3, help="half-load runs of each, alternating")
    parser.add_argument("--passthrough", nargs=2, metavar=("PORT", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passthrough:
        asyncio.run(serve_passthrough(int(args.passthrough[0]), args.passthrough[1]))
        return
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-gateway-"))
    stack = Stack(run_dir, nodes=1, database_url=os.environ.get("SOTONG_BENCH_DATABASE_URL"))
    saved = {key: os.environ.get(key) for key in ("SOTONG_GATEWAY_CITIZEN_RATE", "SOTONG_GATEWAY_CLIENT_RATE")}
    os.environ["SOTONG_GATEWAY_CITIZEN_RATE"] = "1000000/s"  # the bench measures forwarding, not the limits
    os.environ["SOTONG_GATEWAY_CLIENT_RATE"] = "1000000/s"
    try:
        stack.start_infrastructure(say=False)
        stack.start_services(("intake-api", "intake-worker", "gateway-api"), say=False)
        assert stack.state is not None
        floor_port = free_ports(1)[0]
        floor_proxy = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--passthrough",
                str(floor_port),
                f"127.0.0.1:{stack.state.grpc_ports['intake-api']}",
            ]
        )
        try:
            results = asyncio.run(measure(stack, args, floor_port, floor_proxy.pid))
        finally:
            floor_proxy.terminate()
            floor_proxy.wait(timeout=20)
    finally:
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2))
    goals = results["goals"]
    print(
        f"[bench gateway] through the gateway {results['saturation']['best']['gateway']['calls_per_s']:.0f} calls/s vs "
        f"direct {results['saturation']['best']['direct']['calls_per_s']:.0f} calls/s: ratio {goals['ratio']:.2f} "
        f"(goal >= {GOAL_RATIO}); p99 added at half load {goals['p99_added_ms']:.2f} ms (goal <= {GOAL_P99_ADDED_MS})",
        flush=True,
    )
    floor = results["floor"]
    print(
        "[bench gateway] floor, a bare grpc.aio pass-through proxy:"
        f" {results['saturation']['best']['floor']['calls_per_s']:.0f} calls/s, ratio {floor['ratio']:.2f};"
        f" p99 added at half load {floor['p99_added_ms']:.2f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
