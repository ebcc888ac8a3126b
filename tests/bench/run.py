"""`make bench`: run every benchmark in tests/bench (files named bench_*.py), each in its own process.

Each benchmark measures its subject and a baseline in the same run, prints figures and ratios, and writes
`bench-results/<name>.json`. Benchmarks are not tests: they assert nothing about speed. Pass names to run a subset:
`make bench BENCH="intake moderation"`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. intake moderation")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench-results", help="where JSON results go")
    args = parser.parse_args()
    available = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    chosen = args.names or list(available)
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in chosen:
        print(f"== bench {name} ==", flush=True)
        started = time.monotonic()
        out = args.out_dir / f"{name}.json"
        code = subprocess.call([sys.executable, str(available[name]), "--json-out", str(out)], cwd=ROOT)
        print(
            f"== bench {name}: {'ok' if code == 0 else f'failed ({code})'} in {time.monotonic() - started:.0f}s, "
            f"results in {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}",
            flush=True,
        )
        if code != 0:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
