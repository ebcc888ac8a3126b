"""`sotong-partner`: the partner service's command line.

sotong-partner ep validate FILE [--format naver|google] [--kind full|summary] [--limit N]
    Check a feed file as a shopping platform would: each problem on its own line with line, column and a
    Korean explanation a merchant can act on; exit 1 if there is any problem, 2 if the file cannot be read.
sotong-partner webhooks replay [--endpoint ID]
    Put dead-lettered partner webhooks back in the queue (same webhook-id, fresh retry schedule).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sotong_partner.feeds import FORMATS, open_feed, validate


def _validate(args: argparse.Namespace) -> int:
    fmt = FORMATS[args.format]
    path = Path(args.file)
    if args.kind and args.kind not in fmt.kinds:
        print(f"{fmt.title}에는 {args.kind} EP가 없습니다 ({', '.join(fmt.kinds)} 중 하나)", file=sys.stderr)
        return 2
    try:
        stream = open_feed(path)
    except OSError as exc:
        print(f"{path}: 파일을 읽을 수 없습니다 ({exc.strerror})", file=sys.stderr)
        return 2
    found = 0
    with stream:
        for problem in validate(stream, fmt, args.kind, limit=args.limit):
            print(problem.render(str(path)))
            found += 1
    if found:
        print(f"{path}: 문제 {found}건{' (이후 생략)' if args.limit and found >= args.limit else ''}", file=sys.stderr)
        return 1
    print(f"{path}: {fmt.title} 규칙에 맞습니다", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from sotong_common import database
    from sotong_partner import settings
    from sotong_partner.outbound import replay_dead

    chosen = settings.Cli.load_or_exit()

    async def run() -> int:
        pool = await database.connect(chosen.database_url, settings.SCHEMA)
        try:
            return await replay_dead(pool, args.endpoint or None)
        finally:
            await pool.close()

    count = asyncio.run(run())
    print(f"{count} dead webhook deliveries queued again")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sotong-partner", description="the partner service's command line")
    commands = parser.add_subparsers(dest="command", required=True)
    ep = commands.add_parser("ep", help="product-DB feeds (EP)").add_subparsers(dest="action", required=True)
    check = ep.add_parser("validate", help="check a feed file; problems with line, column and a Korean explanation")
    check.add_argument("file")
    check.add_argument("--format", choices=sorted(FORMATS), default="naver")
    check.add_argument("--kind", choices=["full", "summary"], default=None, help="default: from the header row")
    check.add_argument("--limit", type=int, default=1000, help="stop after this many problems (0 = all)")
    hooks = commands.add_parser("webhooks", help="outbound partner webhooks").add_subparsers(
        dest="action", required=True
    )
    replay = hooks.add_parser("replay", help="queue dead-lettered deliveries again")
    replay.add_argument("--endpoint", default="", help="only this endpoint's (default: every endpoint's)")
    args = parser.parse_args(argv)
    if args.command == "ep":
        raise SystemExit(_validate(args))
    raise SystemExit(_replay(args))


if __name__ == "__main__":
    main()
