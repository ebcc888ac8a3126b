"""Processed-event dedup: at-least-once delivery made idempotent.

Kafka redelivers after a crash or rebalance, and producers may publish the same event twice. The table is
created by the platform migrations (sotong_common/sql). A consumer records
each event id it handled in the same transaction as the effect; a second copy finds the id and does nothing.
"""

from __future__ import annotations

from sotong_common import database


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


async def purge_older_than(conn: database.Connection, days: int) -> int:
    """Forget ids older than the longest possible redelivery (topic retention), to keep the table small."""
    result: str = await conn.execute(
        "DELETE FROM processed_events WHERE processed_at < now() - make_interval(days => $1)", days
    )
    return int(result.split()[-1])
