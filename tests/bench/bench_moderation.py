"""Moderation worker speed on the real broker, next to the same pipeline in a bare in-process loop.

    python tests/bench/bench_moderation.py --json-out bench-results/moderation.json

1. Bare loop: `Pipeline.decide` over the texts, in this process, nothing else running (the ceiling).
2. Throughput: N submissions are pre-loaded on `intake.submission-received.v1`, then one `sotong-moderation-worker`
   process starts; decisions/s is counted from the first to the last decision on `moderation.decision-made.v1`
   (startup excluded; the figure with startup is printed too). Decisions go through PostgreSQL and the outbox
   exactly as in production.
3. Latency: the same worker, warm, under a fixed offered load (default 1,000 submissions/s for 20 s); for each
   submission, the time from our produce call to our consumer receiving its decision (Kafka in -> decision out,
   both measured by this process's clock). p50/p95/p99/max.

The texts are the project's labelled civic comments (clean, advertising, personal data, abuse, political ...),
cycled. Everything runs on this machine: the load generator, Kafka, PostgreSQL and the worker share its cores,
so the figures are lower bounds for a worker with a core to itself. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from sotong.intake.v1 import intake_events_pb2
from sotong.moderation.v1 import moderation_events_pb2
from sotong_common import events, topics
from sotong_localstack import topics as stack_topics
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import Stack
from sotong_moderation.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]
CIVIC = ROOT / "services/moderation/src/sotong_moderation/eval_sets/civic.jsonl"


def texts() -> list[str]:
    lines = [json.loads(line)["text"] for line in CIVIC.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines or ["버스 배차 간격을 줄여 주세요"]


def bare_loop(sample: list[str], n: int) -> dict[str, float]:
    pipeline = Pipeline.default()
    for i in range(200):  # warm caches the way a running worker has them
        pipeline.decide(f"w{i}", sample[i % len(sample)], "app")
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        pipeline.decide(f"b{i}", sample[i % len(sample)], "app")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"n": n, "seconds": wall, "decisions_per_s": n / wall, "decisions_per_cpu_s": n / cpu}


def submission(text: str) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    sid = str(uuid.uuid4())
    message = intake_events_pb2.SubmissionReceived(submission_id=sid, tracking_id="bench", text=text, channel="app")
    meta = events.EventMetadata.new(topics.SUBMISSION_RECEIVED, "bench")
    return sid, events.encode(message), meta.headers(with_trace=False)


class Decisions(threading.Thread):
    """Reads moderation.decision-made.v1 from the beginning and notes when each content id's decision arrived.

    On librdkafka (confluent-kafka), read_committed: the reader shares the machine with the worker, and a
    pure-Python client would take CPU the worker needs; read_committed is what a downstream consumer of the
    worker's transactions sees.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.arrived: dict[str, float] = {}
        self.created_ms: dict[str, int] = {}
        self._halt = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 20,
            }
        )
        self._consumer.subscribe([topic])

    def run(self) -> None:
        while not self._halt.is_set():
            first = self._consumer.poll(0.05)  # returns as soon as a decision is readable ...
            if first is None:
                continue
            now = time.perf_counter()
            batch = [first, *self._consumer.consume(5000, 0)]  # ... then whatever else already is
            for r in batch:
                if r.error() is not None:
                    continue
                key = (r.key() or b"").decode()
                if key not in self.arrived:
                    self.arrived[key] = now
                    self.created_ms[key] = r.timestamp()[1]
                    moderation_events_pb2.DecisionMade.FromString(r.value() or b"")  # it is a decision

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self._consumer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def send(producer: Producer, topic: str, sid: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    while True:
        try:
            producer.produce(topic, key=sid.encode(), value=value, headers=list(headers))
            producer.poll(0)
            return
        except BufferError:  # local queue full during the pre-load: let it drain
            producer.poll(0.05)


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached after {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json-out", type=Path, default=ROOT / "bench-results/moderation.json")
    parser.add_argument("-n", type=int, default=20_000, help="pre-loaded submissions for the throughput run")
    parser.add_argument("--rate", type=int, default=1_000, help="offered load (submissions/s) for the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the latency run")
    args = parser.parse_args()
    sample = texts()

    print(f"bare loop: {args.n} decisions in this process ...", flush=True)
    bare = bare_loop(sample, args.n)
    print(f"  {bare['decisions_per_s']:,.0f} decisions/s ({bare['decisions_per_cpu_s']:,.0f} per CPU second)")

    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-moderation-"))
    stack = Stack(run_dir, nodes=1)
    worker: subprocess.Popen[bytes] | None = None
    decisions: Decisions | None = None
    try:
        print("starting Kafka and PostgreSQL ...", flush=True)
        state = stack.start_infrastructure(say=False)
        state.topic_prefix = f"bench{uuid.uuid4().hex[:6]}."
        stack_topics.create_all(state.kafka_bootstrap, state.replication, 1, prefix=state.topic_prefix)
        source = state.topic_prefix + topics.SUBMISSION_RECEIVED
        out = state.topic_prefix + topics.DECISION_MADE
        # librdkafka for the load too: a pure-Python producer would take CPU from the worker it feeds.
        producer = Producer(
            {"bootstrap.servers": state.kafka_bootstrap, "acks": "all", "linger.ms": 5, "batch.size": 256 * 1024}
        )

        print(f"pre-loading {args.n} submissions ...", flush=True)
        for i in range(args.n):
            sid, value, headers = submission(sample[i % len(sample)])
            send(producer, source, sid, value, headers)
        producer.flush()

        decisions = Decisions(state.kafka_bootstrap, out)
        decisions.start()
        env = {
            **os.environ,
            **state.env("moderation-worker"),
            "SOTONG_METRICS_PORT": str(free_ports(1)[0]),
            "SOTONG_OTEL_EXPORTER": "none",
            "SOTONG_LOG_LEVEL": "warning",
        }
        script = Path(sys.executable).parent / "sotong-moderation-worker"
        log = open(run_dir / "moderation-worker.log", "ab")  # noqa: SIM115 - handed to the child
        started = time.perf_counter()
        worker = subprocess.Popen([str(script)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        print("worker started; waiting for every decision ...", flush=True)
        wait_for(lambda: len(decisions.arrived) > 0, 120, "the first decision")
        cpu_first, done_first = cpu_seconds(worker.pid), len(decisions.arrived)
        wait_for(lambda: len(decisions.arrived) >= args.n, 600, f"{args.n} decisions")
        worker_cpu = cpu_seconds(worker.pid) - cpu_first
        per_cpu = (args.n - done_first) / max(worker_cpu, 1e-9)
        arrivals = sorted(decisions.arrived.values())
        first, last = arrivals[0], arrivals[-1]
        created = sorted(decisions.created_ms.values())
        worker_rate = (args.n - 1) / max(last - first, 1e-9)
        produced_rate = (args.n - 1) / max((created[-1] - created[0]) / 1000, 1e-9)
        with_startup = args.n / (last - started)
        print(
            f"  worker: {worker_rate:,.0f} decisions/s first-to-last decision "
            f"({produced_rate:,.0f}/s by the decisions' broker timestamps; {with_startup:,.0f}/s including "
            f"{first - started:.1f}s of start-up)"
        )
        print(f"  worker: {per_cpu:,.0f} decisions per CPU second of the worker process ({worker_cpu:.1f} CPU s)")

        print(f"latency: {args.rate}/s offered for {args.seconds:.0f}s ...", flush=True)
        sent: dict[str, float] = {}
        total = int(args.rate * args.seconds)
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sid, value, headers = submission(sample[i % len(sample)])
            sent[sid] = time.perf_counter()
            send(producer, source, sid, value, headers)
        producer.flush()
        offered = total / (time.perf_counter() - t0)
        del producer  # closes its connections before the broker stops
        wait_for(lambda: all(s in decisions.arrived for s in sent), 120, "every latency-run decision")
        latencies = sorted((decisions.arrived[s] - t) * 1000 for s, t in sent.items())

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

        lat = {
            "offered_per_s": offered,
            "n": len(latencies),
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "max_ms": latencies[-1],
            "mean_ms": statistics.fmean(latencies),
        }
        print(
            f"  offered {offered:,.0f}/s: p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, "
            f"p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms"
        )
    finally:
        if decisions is not None:
            decisions.stop()
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs

    ratio = worker_rate / bare["decisions_per_s"]
    ratio_cpu = per_cpu / bare["decisions_per_cpu_s"]
    print()
    print(f"worker on the real broker : {worker_rate:>8,.0f} decisions/s   (goal >= 3,000)")
    print(f"bare in-process loop      : {bare['decisions_per_s']:>8,.0f} decisions/s")
    print(f"ratio worker / bare loop  : {ratio:>8.2f}            (goal >= 0.70)")
    print(f"per CPU second: worker {per_cpu:,.0f}, bare loop {bare['decisions_per_cpu_s']:,.0f}, ratio {ratio_cpu:.2f}")
    print(f"p99 Kafka-in -> decision-out at {lat['offered_per_s']:,.0f}/s: {lat['p99_ms']:.0f} ms   (goal <= 250 ms)")
    result = {
        "bench": "moderation",
        "cpu_count": os.cpu_count(),
        "bare_loop": bare,
        "worker": {
            "n": args.n,
            "decisions_per_s": worker_rate,
            "decisions_per_s_by_broker_time": produced_rate,
            "decisions_per_s_with_startup": with_startup,
            "startup_s": first - started,
            "decisions_per_worker_cpu_s": per_cpu,
            "worker_cpu_s": worker_cpu,
        },
        "ratio_worker_to_bare": ratio,
        "ratio_worker_to_bare_per_cpu_s": ratio_cpu,
        "load_average_at_end": os.getloadavg(),
        "latency": lat,
        "goals": {"decisions_per_s": 3000, "ratio": 0.7, "p99_ms_at_1000_per_s": 250},
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2))
    print(f"results in {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
