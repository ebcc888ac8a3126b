"""Processed-event dedup: at-least-once delivery made idempotent.

Kafka redelivers after a crash or rebalance, and producers may publish the same event twice. The table is
created by the platform migrations (sotong_common/sql). A consumer records
each event id it handled in the same transaction as the effect; a second copy finds the id and does nothing.
"""

from __future__ import annotations

import asyncpg

from sotong_common import database

RETENTION_DAYS = 35
"""How long processed ids are kept: longer than any topic a deduplicating consumer reads keeps its records
(7 days by default, 30 for decisions), so no redelivery can outlive its id."""
PURGE_INTERVAL_S = 3600.0
PURGE_CHUNK = 10_000


async def first_time(conn: database.Connection, consumer: str, event_id: str) -> bool:
    """Record `event_id` for `consumer`; True when it was not processed before.

    Call inside the transaction that applies the event's effect, so both commit or neither does.
    """
    inserted = await conn.fetchval(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
    )
    return bool(inserted == 1)


async def purge_older_than(conn: database.Connection | asyncpg.Pool, days: int) -> int:
    """Forget ids older than `days`, in chunks so that a large purge never holds long locks; returns the count."""
    removed = 0
    while True:
        result: str = await conn.execute(
            "DELETE FROM processed_events WHERE ctid = ANY(ARRAY(SELECT ctid FROM processed_events"
            " WHERE processed_at < now() - make_interval(days => $1) LIMIT $2))",
            days,
            PURGE_CHUNK,
        )
        count = int(result.split()[-1])
        removed += count
        if count < PURGE_CHUNK:
            return removed
