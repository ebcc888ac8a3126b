"""`make soak`: the whole platform under steady mixed load for ten minutes, watched for what slowly goes wrong.

It starts a stack of its own (its own PostgreSQL, broker and every process of `make up`, in a temporary run
directory, so a running `make up` is left alone), drives it with `sotong_localstack.traffic` (reports through
gRPC, SubmitBatch and Open311, moderators' reads, an incident every few seconds paged out through the publishing
engine, and an alert with fan-out to the district's lists every minute), and samples every 30 s:

- the resident memory (RSS) of every Python process: after a warm-up (the first quarter) it must grow less than
  10 % (`--max-growth`);
- every consumer group's lag: its lowest value in the last third of the run must not exceed its lowest in the
  first third by more than a margin (a consumer that keeps up drains its backlog again, however the shared
  machine's load swings it; one that cannot keep up never does); the averages are printed too;
- error lines in every process's log after the first sample (level error or critical, or a traceback): there
  must be none.

It prints a line per sample and a summary, writes `bench-results/soak.json`, and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from sotong_localstack.stack import ROOT, Stack
from sotong_localstack.traffic import Traffic

SAMPLE_EVERY_S = 30.0
LAG_MARGIN = 200  # events: a backlog within this is noise (a batch in flight), not growth


@dataclass
class Sample:
    at_s: float
    rss_mb: dict[str, float]
    lag: dict[str, int]
    accepted: int
    errors: int


@dataclass
class Verdict:
    rss_growth: dict[str, float] = field(default_factory=dict)  # after warm-up, per process (fraction)
    lag_first_third: float = 0.0
    lag_last_third: float = 0.0
    lag_floor_first_third: int = 0
    lag_floor_last_third: int = 0
    error_lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process from /proc (Linux), in MB; None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Total lag per consumer group: committed offset to the end of each partition it reads (librdkafka's admin
    client; a partition whose end cannot be read this time is left out of the sample rather than failing it)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "sotong-soak"})
    lags: dict[str, int] = {}
    listed = admin.list_consumer_groups(request_timeout=10).result()
    for listing in listed.valid:
        group = listing.group_id
        asked = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)
        committed = [tp for tp in asked[group].result().topic_partitions if tp.offset >= 0]
        if not committed:
            continue
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        ends = admin.list_offsets({TopicPartition(tp.topic, tp.partition): latest for tp in committed})
        lag = 0
        for tp in committed:
            future = next(f for k, f in ends.items() if (k.topic, k.partition) == (tp.topic, tp.partition))
            try:
                lag += max(0, future.result(timeout=10).offset - tp.offset)
            except Exception:  # a sample, not a verdict: skip what the broker did not answer this time
                continue
        lags[group] = lag
    return lags


def error_lines(logs: Path, after: dict[str, int] | None = None) -> list[str]:
    """Lines at level error/critical or starting a traceback, in every process's log.

    `after` gives, per log, how many lines to skip: what was written while the stack started (clients that log
    a refused connection at error level while the broker elects its controller) is not the steady state.
    """
    found = []
    for log in sorted(logs.glob("*.log")):
        if log.name.startswith("kafka"):
            continue
        lines = log.read_text(errors="replace").splitlines()
        for line in lines[(after or {}).get(log.name, 0) :]:
            if '"level": "error"' in line or '"level": "critical"' in line or line.startswith("Traceback"):
                found.append(f"{log.stem}: {line[:300]}")
    return found


def line_count(log: Path) -> int:
    return len(log.read_text(errors="replace").splitlines())


def judge(samples: list[Sample], errors: list[str], max_growth: float) -> Verdict:
    verdict = Verdict(error_lines=errors[:20])
    warm = samples[len(samples) // 4] if len(samples) >= 4 else samples[0]
    last = samples[-1]
    for name, start in warm.rss_mb.items():
        end = last.rss_mb.get(name)
        if end is None:
            verdict.failures.append(f"{name} is gone")
            continue
        verdict.rss_growth[name] = (end - start) / start
        if verdict.rss_growth[name] > max_growth:
            verdict.failures.append(f"{name} RSS grew {verdict.rss_growth[name]:.1%} ({start:.0f} -> {end:.0f} MB)")
    third = max(1, len(samples) // 3)
    verdict.lag_first_third = sum(sum(s.lag.values()) for s in samples[:third]) / third
    verdict.lag_last_third = sum(sum(s.lag.values()) for s in samples[-third:]) / third
    # On a shared machine the lag swings with the neighbours' load (0 to a few thousand events within a minute,
    # measured); a consumer that keeps up drains it again, one that falls behind never does. So the verdict is
    # on the floor: the lowest lag of the last third must be as low as that of the first.
    verdict.lag_floor_first_third = min(sum(s.lag.values()) for s in samples[:third])
    verdict.lag_floor_last_third = min(sum(s.lag.values()) for s in samples[-third:])
    if verdict.lag_floor_last_third > verdict.lag_floor_first_third + LAG_MARGIN:
        verdict.failures.append(
            f"consumer lag never drained: its floor grew {verdict.lag_floor_first_third} -> "
            f"{verdict.lag_floor_last_third} events (average {verdict.lag_first_third:.0f} -> "
            f"{verdict.lag_last_third:.0f})"
        )
    if errors:
        verdict.failures.append(f"{len(errors)} error lines in the logs")
    return verdict


async def soak(minutes: float, reports_per_s: float, max_growth: float, out: Path) -> int:
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-soak-"))
    print(f"soak: starting a stack of its own in {run_dir} (Kafka, PostgreSQL, every process)", flush=True)
    stack = Stack(run_dir, nodes=1)
    try:
        stack.start_infrastructure(say=False)
        stack.start_services(say=False, timeout=120)
        assert stack.state is not None
        state = stack.state
        # Warm-up: what the logs hold at the first sample (consumers joining their groups while the broker
        # creates its internal topics log errors that say nothing about the steady state) is not judged.
        warm_logs: dict[str, int] | None = None
        traffic = Traffic(state, "soak", reports_per_s=reports_per_s, incident_every_s=5.0, alert_every_s=60.0)
        stop = asyncio.Event()
        running = asyncio.create_task(traffic.run(stop))
        samples: list[Sample] = []
        started = time.monotonic()
        print(
            f"soak: {minutes:g} min at {reports_per_s:g} reports/s plus batches, Open311, reads, incidents", flush=True
        )
        while time.monotonic() - started < minutes * 60:
            await asyncio.sleep(min(SAMPLE_EVERY_S, max(0.0, minutes * 60 - (time.monotonic() - started))))
            rss = {name: rss_mb(proc.pid) for name, proc in stack.processes.items()}
            lag = await asyncio.to_thread(consumer_lag, state.kafka_bootstrap)
            if warm_logs is None:
                warm_logs = {log.name: line_count(log) for log in (run_dir / "logs").glob("*.log")}
            errors = error_lines(run_dir / "logs", warm_logs)
            sample = Sample(
                round(time.monotonic() - started, 1),
                {n: round(v, 1) for n, v in rss.items() if v is not None},
                lag,
                len(traffic.ledger.reports),
                len(errors),
            )
            samples.append(sample)
            print(
                f"soak: {sample.at_s:6.0f} s  accepted {sample.accepted:6d}  lag {sum(lag.values()):5d}  "
                f"RSS {sum(sample.rss_mb.values()):6.0f} MB over {len(sample.rss_mb)} processes  "
                f"errors {sample.errors}",
                flush=True,
            )
        stop.set()
        await running
        verdict = judge(samples, error_lines(run_dir / "logs", warm_logs), max_growth)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "minutes": minutes,
                    "reports_per_s": reports_per_s,
                    "answers": {f"{c} {code}": n for (c, code), n in traffic.ledger.answers.items()},
                    "incidents": len(traffic.ledger.incidents),
                    "alerts": len(traffic.ledger.alerts),
                    "samples": [asdict(s) for s in samples],
                    "verdict": asdict(verdict),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        print(f"\nsoak: answers: {traffic.ledger.summary()}")
        print(f"soak: {len(traffic.ledger.incidents)} incidents, {len(traffic.ledger.alerts)} alerts issued")
        print("soak: RSS growth after warm-up: " + ", ".join(f"{n} {g:+.1%}" for n, g in verdict.rss_growth.items()))
        print(
            f"soak: consumer lag, first third: average {verdict.lag_first_third:.0f}, lowest "
            f"{verdict.lag_floor_first_third}; last third: average {verdict.lag_last_third:.0f}, lowest "
            f"{verdict.lag_floor_last_third}"
        )
        print(f"soak: error lines: {len(verdict.error_lines)}")
        for line in verdict.error_lines:
            print("  " + line)
        print(f"soak: figures in {out}")
        if verdict.failures:
            print("soak: FAILED: " + "; ".join(verdict.failures))
            return 1
        print("soak: passed")
        return 0
    finally:
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="sotong-soak", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run the load (default 10)")
    parser.add_argument("--reports-per-s", type=float, default=20.0, help="single reports per second (default 20)")
    parser.add_argument(
        "--max-growth", type=float, default=0.10, help="allowed RSS growth after warm-up (default 0.10)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "soak.json", help="where the figures go (JSON)"
    )
    args = parser.parse_args(argv)
    sys.exit(asyncio.run(soak(args.minutes, args.reports_per_s, args.max_growth, args.out)))


if __name__ == "__main__":
    main()
