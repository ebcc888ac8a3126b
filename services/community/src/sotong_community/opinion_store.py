"""Opinion by district in PostgreSQL: the stream job's buckets and terms, and the queries GetOpinionStats asks.

`apply` adds a batch of facts to their buckets with one `INSERT … ON CONFLICT DO UPDATE` (rows sorted by key, so
concurrent batches never deadlock) and queues the touched buckets' new counts for the compacted topic
community.opinion-stats.v1, all in the caller's transaction, which also records the events' ids: a batch
redelivered after a crash adds nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from sotong_common import database, events, outbox, topics
from sotong_community import announcements, opinion
from sotong_community.opinion import COUNTS, BucketKey, Fact


async def first_times(conn: database.Connection, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Record the batch's event ids for `consumer`; the ones not seen before."""
    if not event_ids:
        return set()
    rows = await conn.fetch(
        "INSERT INTO processed_events (consumer, event_id) SELECT $1, unnest($2::text[])"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


async def apply(conn: database.Connection, facts: list[Fact]) -> int:
    """Add `facts` to their buckets and announce the buckets' new counts; returns how many buckets moved."""
    buckets = opinion.add_up(facts)
    keys = sorted(buckets, key=lambda k: (k.window, k.start, k.district_code, k.category))
    if not keys:
        return 0
    rows = await conn.fetch(
        "INSERT INTO opinion_stats AS s (window_kind, window_start, district_code, category, opinions, complaints,"
        " proposals, supports, poll_responses, comments, updated_at)"
        " SELECT w, t, d, c, o, co, p, su, pr, cm, now() FROM unnest($1::text[], $2::timestamptz[], $3::text[],"
        " $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])"
        " AS u(w, t, d, c, o, co, p, su, pr, cm)"
        " ON CONFLICT (window_kind, window_start, district_code, category) DO UPDATE SET"
        " opinions = s.opinions + EXCLUDED.opinions, complaints = s.complaints + EXCLUDED.complaints,"
        " proposals = s.proposals + EXCLUDED.proposals, supports = s.supports + EXCLUDED.supports,"
        " poll_responses = s.poll_responses + EXCLUDED.poll_responses, comments = s.comments + EXCLUDED.comments,"
        " updated_at = now()"
        " RETURNING *",
        [k.window for k in keys],
        [k.start for k in keys],
        [k.district_code for k in keys],
        [k.category for k in keys],
        *[[buckets[k][c] for k in keys] for c in COUNTS],
    )
    now = rows[0]["updated_at"]
    out: list[tuple[str, str, bytes, events.Headers]] = []
    for row in rows:
        key = BucketKey(row["window_kind"], row["window_start"], row["district_code"], row["category"])
        stat = announcements.opinion_stat(key, {c: row[c] for c in COUNTS}, now)
        metadata = events.EventMetadata.new(topics.COMMUNITY_OPINION_STATS, announcements.SOURCE)
        out.append((topics.COMMUNITY_OPINION_STATS, key.kafka_key(), events.encode(stat), metadata.headers()))
    await outbox.add_many(conn, out)
    return len(rows)


async def add_terms(conn: database.Connection, found: list[tuple[str, datetime, Counter[str]]]) -> None:
    """Add each text's nouns (district, time, counts) to the district's terms of the hour, day and week."""
    totals: dict[tuple[str, datetime, str, str], int] = {}
    for district, at, counts in found:
        for window in opinion.WINDOWS:
            start = opinion.window_start(at, window)
            for term, n in counts.items():
                key = (window, start, district, term)
                totals[key] = totals.get(key, 0) + n
    keys = sorted(totals)
    if not keys:
        return
    await conn.execute(
        "INSERT INTO opinion_terms AS t (window_kind, window_start, district_code, term, count)"
        " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::bigint[])"
        " ON CONFLICT (window_kind, window_start, district_code, term) DO UPDATE SET count = t.count + EXCLUDED.count",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [totals[k] for k in keys],
    )


async def remember_text(conn: database.Connection, rows: list[tuple[str, str, datetime]]) -> None:
    """Intake submissions whose text counts for terms once moderation publishes it (content id, district, time)."""
    if rows:
        await conn.execute(
            "INSERT INTO pending_texts (content_id, district_code, at)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )


async def take_text(conn: database.Connection, content_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "DELETE FROM pending_texts WHERE content_id = $1 RETURNING district_code, at", content_id
    )
    return row


class OpinionStats:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def buckets(
        self, district: str, category: str, window: str, since: datetime, until: datetime
    ) -> list[asyncpg.Record]:
        args: list[Any] = [window, since, until]
        where = ["window_kind = $1", "window_start >= $2", "window_start < $3"]
        if district:
            args.append(district)
            where.append(f"district_code = ${len(args)}")
        if category:
            args.append(category)
            where.append(f"category = ${len(args)}")
        return list(
            await self.pool.fetch(
                f"SELECT * FROM opinion_stats WHERE {' AND '.join(where)}"
                " ORDER BY window_start, district_code, category LIMIT 5000",
                *args,
            )
        )

    async def terms(
        self, district: str, window: str, since: datetime, until: datetime, top: int
    ) -> list[asyncpg.Record]:
        args: list[Any] = [window, since, until, top]
        where = ["window_kind = $1", "window_start >= $2", "window_start < $3"]
        if district:
            args.append(district)
            where.append(f"district_code = ${len(args)}")
        return list(
            await self.pool.fetch(
                "SELECT district_code, term, total FROM (SELECT district_code, term, sum(count)::bigint AS total,"
                " row_number() OVER (PARTITION BY district_code ORDER BY sum(count) DESC, term) AS n"
                f" FROM opinion_terms WHERE {' AND '.join(where)} GROUP BY district_code, term) t"
                " WHERE n <= $4 ORDER BY district_code, total DESC, term",
                *args,
            )
        )
