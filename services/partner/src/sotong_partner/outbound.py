"""Outbound partner webhooks: endpoints, the delivery queue in PostgreSQL, and the sender that works it.

A delivery row is created once per (endpoint, event) in the transaction that records the event as processed, so a
redelivered event queues nothing twice. The sender claims due rows, one per endpoint at a time (`FOR UPDATE SKIP
LOCKED` and a lease, so several worker replicas share the queue without sending one row twice at once), posts them
signed, and stores the outcome:
delivered; the endpoint disabled on 410 Gone (its queue discarded); or the next attempt per the schedule
(`notifications`), dead once the schedule is over. Dead rows are the dead-letter queue: `replay` puts them back
with a fresh schedule and the same webhook-id.

Endpoint secrets are sealed at rest with the partner key ring, bound to the endpoint id, and opened only to sign.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from sotong.partner.v1 import partner_events_pb2 as ev
from sotong_common import at_rest, dedup, logs
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound
from sotong_common.webhooks import new_secret, signed_headers
from sotong_partner import notifications

_SECRET_AAD = b"sotong.partner.webhook-secret.v1|"
CLAIM_BATCH = 20
USER_AGENT = "Sotong-Partner-Webhooks/1"


def seal_secret(secret: str, keys: at_rest.KeyRing, endpoint_id: uuid.UUID) -> bytes:
    return at_rest.seal(secret.encode(), keys, _SECRET_AAD + str(endpoint_id).encode()).to_bytes()


def open_secret(sealed: bytes, keys: at_rest.KeyRing, endpoint_id: uuid.UUID) -> str:
    context = _SECRET_AAD + str(endpoint_id).encode()
    return at_rest.open_sealed(at_rest.Sealed.from_bytes(sealed), keys, context, what="webhook secret").decode()


class EndpointStore:
    def __init__(self, pool: asyncpg.Pool, keys: at_rest.KeyRing) -> None:
        self.pool = pool
        self._keys = keys

    async def register(
        self, platform: str, url: str, event_types: Sequence[str], by: str
    ) -> tuple[asyncpg.Record, str]:
        endpoint_id = uuid.uuid4()
        secret = new_secret()
        row = await self.pool.fetchrow(
            "INSERT INTO webhook_endpoints (id, platform, url, event_types, secret, status, created_by)"
            " VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING *",
            endpoint_id,
            platform,
            url,
            list(event_types),
            seal_secret(secret, self._keys, endpoint_id),
            by,
        )
        assert row is not None
        return row, secret

    async def get(self, endpoint_id: str) -> asyncpg.Record:
        try:
            key = uuid.UUID(endpoint_id)
        except ValueError:
            raise InvalidArgument(FieldViolation("endpoint_id", "endpoint_id must be a UUID")) from None
        row: asyncpg.Record | None = await self.pool.fetchrow("SELECT * FROM webhook_endpoints WHERE id = $1", key)
        if row is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return row

    async def enable(self, endpoint_id: str) -> asyncpg.Record:
        row = await self.get(endpoint_id)
        updated: asyncpg.Record | None = await self.pool.fetchrow(
            "UPDATE webhook_endpoints SET status = 'active', disabled_reason = '' WHERE id = $1 RETURNING *", row["id"]
        )
        assert updated is not None
        return updated

    async def deliveries(self, endpoint_id: str, status: str | None, limit: int) -> list[asyncpg.Record]:
        row = await self.get(endpoint_id)
        return list(
            await self.pool.fetch(
                "SELECT * FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2::text IS NULL OR status = $2)"
                " ORDER BY created_at DESC LIMIT $3",
                row["id"],
                status,
                limit,
            )
        )

    async def replay(self, endpoint_id: str | None, delivery_ids: Sequence[str] = ()) -> int:
        return await replay_dead(self.pool, endpoint_id, delivery_ids)

    async def enqueue(self, consumer: str, event_id: str, event: ev.MerchantChanged) -> int | None:
        """Queue the event for every endpoint that receives it, once; None when the event was seen before."""
        kind = notifications.event_type(event.change)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await dedup.first_time(conn, consumer, event_id):
                return None
            endpoints = await conn.fetch(
                "SELECT id, platform, event_types FROM webhook_endpoints WHERE status = 'active'"
            )
            chosen = [e for e in endpoints if notifications.wants(e["platform"], list(e["event_types"]), event, kind)]
            body = notifications.payload(event, kind)
            for endpoint in chosen:
                await conn.execute(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, message_id, event_type, merchant_id,"
                    " body, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') ON CONFLICT DO NOTHING",
                    uuid.uuid4(),
                    endpoint["id"],
                    event_id,
                    notifications.message_id(event_id, str(endpoint["id"])),
                    kind,
                    uuid.UUID(event.merchant_id),
                    body,
                )
            return len(chosen)


async def replay_dead(pool: asyncpg.Pool, endpoint_id: str | None, delivery_ids: Sequence[str] = ()) -> int:
    """Dead deliveries back to pending with a fresh schedule (same webhook-id); how many."""
    ids = []
    for raw in delivery_ids:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            raise InvalidArgument(FieldViolation("delivery_ids", f"{raw[:40]!r} is not a delivery id")) from None
    try:
        endpoint = uuid.UUID(endpoint_id) if endpoint_id else None
    except ValueError:
        raise InvalidArgument(FieldViolation("endpoint_id", "endpoint_id must be a UUID")) from None
    status = await pool.execute(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = ''"
        " WHERE status = 'dead' AND ($1::uuid IS NULL OR endpoint_id = $1)"
        " AND (cardinality($2::uuid[]) = 0 OR id = ANY($2::uuid[]))",
        endpoint,
        ids,
    )
    return int(status.split()[-1])


@dataclass(frozen=True)
class Attempt:
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secret: str
    message_id: str
    body: bytes
    attempts: int


class Sender:
    """Works the delivery queue: claims due rows, posts them, records outcomes (see the module doc)."""

    def __init__(self, pool: asyncpg.Pool, keys: at_rest.KeyRing, scale: float = 1.0, timeout_s: float = 15.0) -> None:
        self._pool = pool
        self._keys = keys
        self._scale = scale
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._log = logs.get("partner.webhooks")

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout, headers={"User-Agent": USER_AGENT})

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run_once(self) -> int:
        """Claim and send what is due now; how many attempts were made."""
        attempts = await self._claim()
        if attempts:
            await asyncio.gather(*(self._attempt(a) for a in attempts))
        return len(attempts)

    async def _claim(self) -> list[Attempt]:
        """Due rows, at most one per endpoint (an endpoint that answers 410 is not sent a second one meanwhile),
        pushed a lease ahead so another replica does not take them while this one sends."""
        lease = max(60.0, self._timeout.total or 15.0) * 2
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT d.id, d.endpoint_id, d.message_id, d.body, d.attempts, e.url, e.secret"
                " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
                " WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.status = 'active'"
                " ORDER BY d.next_attempt_at, d.created_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED",
                CLAIM_BATCH * 5,
            )
            chosen: dict[uuid.UUID, asyncpg.Record] = {}
            for row in rows:
                chosen.setdefault(row["endpoint_id"], row)
                if len(chosen) == CLAIM_BATCH:
                    break
            if not chosen:
                return []
            await conn.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $2)"
                " WHERE id = ANY($1::uuid[])",
                [r["id"] for r in chosen.values()],
                lease,
            )
        return [
            Attempt(
                r["id"],
                r["endpoint_id"],
                r["url"],
                open_secret(r["secret"], self._keys, r["endpoint_id"]),
                r["message_id"],
                bytes(r["body"]),
                r["attempts"],
            )
            for r in chosen.values()
        ]

    async def _attempt(self, attempt: Attempt) -> None:
        assert self._session is not None
        headers = signed_headers([attempt.secret], attempt.message_id, int(time.time()), attempt.body)
        status: int | None = None
        error = ""
        asked: float | None = None
        try:
            async with self._session.post(attempt.url, data=attempt.body, headers=headers, allow_redirects=False) as r:
                status = r.status
                asked = notifications.retry_after(dict(r.headers), datetime.now(UTC))
                if status >= 300:
                    error = (await r.text(errors="replace"))[:200]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        outcome = notifications.outcome(status)
        made = attempt.attempts + 1
        if outcome == notifications.DELIVERED:
            await self._pool.execute(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, last_status_code = $3,"
                " last_error = '', delivered_at = now() WHERE id = $1",
                attempt.delivery_id,
                made,
                status,
            )
        elif outcome == notifications.GONE:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2 WHERE id = $1",
                    attempt.endpoint_id,
                    "410 Gone: the endpoint asked for no more webhooks",
                )
                await conn.execute(
                    "UPDATE webhook_deliveries SET status = 'discarded', attempts = CASE WHEN id = $2 THEN $3"
                    " ELSE attempts END, last_status_code = CASE WHEN id = $2 THEN 410 ELSE last_status_code END"
                    " WHERE endpoint_id = $1 AND status = 'pending'",
                    attempt.endpoint_id,
                    attempt.delivery_id,
                    made,
                )
            self._log.warning("webhook endpoint disabled: 410 Gone", endpoint_id=str(attempt.endpoint_id))
        else:
            delay = notifications.next_delay(made, self._scale, asked)
            if delay is None:
                await self._pool.execute(
                    "UPDATE webhook_deliveries SET status = 'dead', attempts = $2, last_status_code = $3,"
                    " last_error = $4 WHERE id = $1",
                    attempt.delivery_id,
                    made,
                    status,
                    error,
                )
                self._log.warning("webhook delivery dead-lettered", delivery_id=str(attempt.delivery_id), attempts=made)
            else:
                await self._pool.execute(
                    "UPDATE webhook_deliveries SET attempts = $2, last_status_code = $3, last_error = $4,"
                    " next_attempt_at = $5 WHERE id = $1",
                    attempt.delivery_id,
                    made,
                    status,
                    error,
                    datetime.now(UTC) + timedelta(seconds=delay),
                )

    async def next_due_in(self) -> float | None:
        """Seconds until the next pending delivery is due (None: nothing pending)."""
        due = await self._pool.fetchval(
            "SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM webhook_deliveries d"
            " JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.status = 'pending' AND e.status = 'active'"
        )
        return None if due is None else max(0.0, float(due))
