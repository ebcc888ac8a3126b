"""What the benchmarks that charge calls with their processes' CPU share (`bench_gateway`, `bench_console`).

Not a benchmark itself (`run.py` runs files named bench_*.py); a bench run as a script finds it beside itself.
"""

from __future__ import annotations

import psutil


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class CpuMeter:
    """CPU seconds of named processes (psutil), to charge each run's calls with what they cost.

    Throughput on a shared two-core machine moves with whatever else runs; CPU time per call moves much less, and
    says how many replicas of one process another needs."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}

    def snapshot(self) -> dict[str, float]:
        found = {}
        for name, process in self._processes.items():
            times = process.cpu_times()
            found[name] = times.user + times.system
        return found

    @staticmethod
    def per_call_ms(before: dict[str, float], after: dict[str, float], calls: int) -> dict[str, float]:
        return {name: round((after[name] - before[name]) * 1000 / max(calls, 1), 3) for name in before}
