"""Moderators' decisions as labelled data: what people decided is the best training signal the pipeline gets.

One record per decision, oldest first: the text as published (personal data masked: the export is meant to be
copied to training machines, and the personal-data stage is rules, not learned), the action, the policy clauses
as labels (empty = acceptable), who decided and why. `ExportDecisions` streams the same records over gRPC;
`sotong-moderation-export` writes them as JSON lines:

    sotong-moderation-export [--since 2026-01-01T00:00:00+09:00] [--include-pipeline] > labelled.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from sotong_common import database
from sotong_moderation import settings

QUERY = (
    "SELECT d.decision_id, d.content_id, d.content_type, d.action, d.categories, d.decided_by, d.reason,"
    " d.decided_at, COALESCE(NULLIF(d.masked_text, ''), c.text) AS text"
    " FROM decisions d JOIN contents c ON c.content_id = d.content_id"
    " WHERE d.decided_at >= $1 AND ($2 OR d.decided_by <> 'pipeline')"
    " ORDER BY d.decided_at, d.decision_id"
)
EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


async def labelled(pool: asyncpg.Pool, since: datetime | None, include_pipeline: bool) -> AsyncIterator[asyncpg.Record]:
    """Stream the records with a server-side cursor, so an export of millions does not sit in memory."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        async for row in conn.cursor(QUERY, since or EPOCH, include_pipeline, prefetch=500):
            yield row


def to_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "decision_id": str(row["decision_id"]),
        "content_id": row["content_id"],
        "content_type": row["content_type"],
        "text": row["text"],
        "action": row["action"],
        "labels": list(row["categories"]),
        "decided_by": row["decided_by"],
        "reason": row["reason"],
        "decided_at": row["decided_at"].isoformat(),
    }


async def _run(url: str, since: datetime | None, include_pipeline: bool) -> int:
    pool = await database.connect(url, settings.SCHEMA, settings.MIGRATIONS, min_size=1, max_size=1)
    count = 0
    try:
        async for row in labelled(pool, since, include_pipeline):
            sys.stdout.write(json.dumps(to_json(row), ensure_ascii=False) + "\n")
            count += 1
    finally:
        await pool.close()
    return count


def _since(raw: str) -> datetime:
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--since needs a time zone, e.g. 2026-01-01T00:00:00+09:00")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sotong-moderation-export", description=__doc__,
                                     epilog=settings.Export.describe(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--since", type=_since, help="only decisions at or after this ISO time")
    parser.add_argument("--include-pipeline", action="store_true", help="also the pipeline's own decisions")
    args = parser.parse_args(argv)
    chosen = settings.Export.load_or_exit()
    count = asyncio.run(_run(chosen.database_url, args.since, args.include_pipeline))
    print(f"exported {count} decisions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
