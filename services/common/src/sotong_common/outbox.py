"""The transactional outbox: store a change and the event that announces it in one transaction.

A service that writes a row and then produces to Kafka can crash in between and announce nothing, or produce and
then fail to commit and announce something that never happened. Instead the event goes into the `outbox` table
in the same transaction as the change, and a relay publishes outbox rows to Kafka (acks=all, idempotent producer)
and deletes them once the broker has them. A crash of the relay re-publishes at most the rows it had not yet
deleted, with the same event id, which consumers dedup.

The relay wakes on NOTIFY for low latency and also polls, so a lost notification only costs a poll interval.
Only one relay per schema publishes at a time (an advisory lock), which keeps per-key order.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from google.protobuf.message import Message

from sotong_common import database, events, logs, metrics

NOTIFY_CHANNEL = "sotong_outbox"


async def add(
    conn: database.Connection, topic: str, key: str, message: Message, metadata: events.EventMetadata
) -> None:
    """Queue `message` for `topic` inside the caller's transaction (with the current trace context)."""
    headers = [[k, v.decode("latin-1")] for k, v in metadata.headers()]
    await conn.execute(
        "INSERT INTO outbox (topic, key, value, headers) VALUES ($1, $2, $3, $4::jsonb)",
        topic,
        key.encode(),
        events.encode(message),
        _json(headers),
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")


async def add_many(conn: database.Connection, rows: Sequence[tuple[str, str, bytes, events.Headers]]) -> None:
    """Queue many events at once (`(topic, key, encoded message, headers)` each) inside the caller's transaction.

    One statement and one NOTIFY for a whole batch: what a micro-batched consumer needs to write thousands of
    events a second. The caller builds the headers (`metadata.headers()` inside each event's own span, so each
    carries its own trace); the relay publishes them in order like rows from `add`.
    """
    if not rows:
        return
    await conn.execute(
        "INSERT INTO outbox (topic, key, value, headers)"
        " SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::jsonb[])",
        *columns(rows),
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")


def columns(
    rows: Sequence[tuple[str, str, bytes, events.Headers]],
) -> tuple[list[str], list[bytes], list[bytes], list[str]]:
    """The outbox columns (topic, key, value, headers) of `rows` as arrays for `unnest($1::text[], $2::bytea[],
    $3::bytea[], $4::jsonb[])`.

    For a store that folds its outbox rows into the statement that writes its own rows (one round trip instead
    of a transaction of several); that statement must also call `pg_notify(NOTIFY_CHANNEL, '')`.
    """
    return (
        [r[0] for r in rows],
        [r[1].encode() for r in rows],
        [r[2] for r in rows],
        [headers_json(r[3]) for r in rows],
    )


def headers_json(headers: events.Headers) -> str:
    """Event headers as the outbox's `headers` column holds them (for stores that write outbox rows in their own
    statements)."""
    return _json([[k, v.decode("latin-1")] for k, v in headers])


def _json(value: object) -> str:
    return json.dumps(value)


RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 5.0


class OutboxRelay:
    """Publishes outbox rows of one schema to Kafka, in id order, and deletes what the broker acknowledged.

    Under load a NOTIFY comes with every committing transaction; answering each with its own SELECT, produce
    request and DELETE costs PostgreSQL, Kafka and this process a round trip per few rows. So the relay, once
    woken, lets rows gather for `gather_s` before it reads, does its work on the connection that holds the lock
    (no pool acquire and reset per batch), and deletes a batch's acknowledged rows in the same statement that reads
    the next batch whenever more rows are waiting (otherwise at once, so an idle outbox is empty). One batch is in
    flight at a time: a failed send is retried from the oldest undeleted row, so events of one key reach Kafka in
    id order even after a failure.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        schema: str,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        gather_s: float = 0.005,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = schema
        self._batch = batch_size
        self._poll = poll_interval
        self._gather = gather_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._log = logs.get("outbox")
        self._lock_id = zlib.crc32(f"outbox:{schema}".encode())

    async def run(self) -> None:
        """Run until `stop()`; safe to run in every replica (one holds the lock and publishes).

        The database going away (a restart, a failover) is waited out, not fatal: the relay takes new connections
        with backoff and carries on from the oldest row left, so the API or worker it runs in keeps serving.
        Rows sent but not yet deleted when the connection dropped are sent again; they keep their event ids, which
        consumers deduplicate on.
        """
        backoff = RECONNECT_MIN_S
        while not self._stopping.is_set():
            try:
                await self._relay()
                backoff = RECONNECT_MIN_S
            except database.UNAVAILABLE as exc:
                self._log.warning(
                    "outbox relay lost the database; reconnecting", error=type(exc).__name__, retry_in_s=backoff
                )
                metrics.OUTBOX_RECONNECTS.labels(self._schema).inc()
                await self._sleep(backoff)
                backoff = min(RECONNECT_MAX_S, backoff * 2)
            except Exception:  # a relay that stops leaves every later event unannounced: log it loudly, go on
                self._log.exception("outbox relay failed; starting again", retry_in_s=backoff)
                metrics.OUTBOX_RECONNECTS.labels(self._schema).inc()
                await self._sleep(backoff)
                backoff = min(RECONNECT_MAX_S, backoff * 2)

    async def _relay(self) -> None:
        """One connection's worth of relaying: listen, take the lock, publish until stopped or the link drops."""
        async with self._pool.acquire() as listen_conn:
            await listen_conn.add_listener(NOTIFY_CHANNEL, self._notified)
            while not self._stopping.is_set():
                if listen_conn.is_closed():
                    return
                async with self._pool.acquire() as conn:
                    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_id):
                        try:
                            await self._publish_until_stopped(conn)
                        finally:
                            if not conn.is_closed():
                                await conn.execute("SELECT pg_advisory_unlock($1)", self._lock_id)
                    else:
                        await self._sleep(self._poll * 4)
            if not listen_conn.is_closed():
                await listen_conn.remove_listener(NOTIFY_CHANNEL, self._notified)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> bool:
        """Wait for a NOTIFY (True) or `seconds` (False)."""
        woken = True
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            woken = False
        self._wake.clear()
        return woken

    async def _publish_until_stopped(self, conn: database.Connection) -> None:
        acked: list[int] = []
        while not self._stopping.is_set():
            try:
                rows = await self._next_batch(conn, acked)
                acked = []
                if rows:
                    acked = await self._send(rows)
            except (*database.UNAVAILABLE, KafkaError) as exc:  # a dependency restarting: expected, retried
                self._log.warning("outbox publish interrupted; retrying", error=type(exc).__name__)
                if conn.is_closed():
                    return  # run() takes a new connection (and the lock again)
                await asyncio.sleep(1.0)
                continue
            except Exception:  # keep relaying: a broker blip must not kill the API process
                self._log.exception("outbox publish failed; retrying")
                if conn.is_closed():
                    return  # run() takes a new connection (and the lock again)
                await asyncio.sleep(1.0)
                continue
            if len(acked) == self._batch:
                continue  # a backlog: read on at once
            if not self._wake.is_set() and acked:
                await self._delete(conn, acked)  # caught up: leave the outbox empty while idle
                acked = []
            if await self._sleep(self._poll) and self._gather:
                await asyncio.sleep(self._gather)
        if acked and not conn.is_closed():
            await self._delete(conn, acked)

    async def _next_batch(self, conn: database.Connection, acked: list[int]) -> Sequence[asyncpg.Record]:
        """The oldest rows not yet published; deletes `acked` in the same statement (one round trip)."""
        if not acked:
            rows: Sequence[asyncpg.Record] = await conn.fetch(
                "SELECT id, topic, key, value, headers FROM outbox ORDER BY id LIMIT $1", self._batch
            )
            return rows
        rows = await conn.fetch(
            "WITH done AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]))"
            " SELECT id, topic, key, value, headers FROM outbox WHERE id <> ALL($1::bigint[]) ORDER BY id LIMIT $2",
            acked,
            self._batch,
        )
        metrics.OUTBOX_PUBLISHED.labels(self._schema).inc(len(acked))
        return rows

    async def _send(self, rows: Sequence[asyncpg.Record]) -> list[int]:
        """Produce `rows` in order and wait for the broker's acknowledgement of all of them; their ids."""
        futures = []
        for row in rows:
            headers = [(k, v.encode("latin-1")) for k, v in _loads(row["headers"])]
            futures.append(await self._producer.send(row["topic"], value=row["value"], key=row["key"], headers=headers))
        await asyncio.gather(*futures)
        return [r["id"] for r in rows]

    async def _delete(self, conn: database.Connection, acked: list[int]) -> None:
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", acked)
        metrics.OUTBOX_PUBLISHED.labels(self._schema).inc(len(acked))

    async def publish_batch(self) -> int:
        """Publish up to one batch now and delete it; returns how many rows went out (for tools and tests)."""
        async with self._pool.acquire() as conn:
            rows = await self._next_batch(conn, [])
            if rows:
                await self._delete(conn, await self._send(rows))
            return len(rows)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()


def _loads(raw: str | list[list[str]]) -> list[list[str]]:
    return json.loads(raw) if isinstance(raw, str) else raw
