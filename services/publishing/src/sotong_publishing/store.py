"""The engine's durable state in its PostgreSQL schema (`publishing`): what was delivered, the directory's named
lists, and the dispatches waiting for their time.

A delivery is recorded after the provider acknowledged it, so the only window for a second send is a crash
between the provider's answer and this insert; the retry then carries the same idempotency key and the provider
deduplicates it. Delivery rows are never updated: the first outcome wins (ON CONFLICT DO NOTHING). Targets are
recorded as requesters may show them: a sealed target by its ref, never in clear.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from sotong_common import events


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL: a provider's error text with one must still be recorded."""
    return value.replace("\x00", "\ufffd")


@dataclass(frozen=True)
class Finished:
    target: str
    outcome: str  # delivered | failed
    provider: str
    attempts: int
    idempotency_key: str
    error: str = ""


class DeliveryStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def finished_targets(self, dispatch_id: str) -> set[str]:
        rows = await self.pool.fetch("SELECT target FROM deliveries WHERE dispatch_id = $1", dispatch_id)
        return {r["target"] for r in rows}

    async def record(self, dispatch_id: str, rows: Iterable[Finished]) -> None:
        values = [
            (dispatch_id, _text(r.target), r.outcome, r.provider, r.attempts, _text(r.idempotency_key), _text(r.error))
            for r in rows
        ]
        if values:
            await self.pool.executemany(
                "INSERT INTO deliveries (dispatch_id, target, outcome, provider, attempts, idempotency_key, error)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                values,
            )

    async def finished_batches(self, dispatch_id: str) -> set[int]:
        rows = await self.pool.fetch("SELECT batch_index FROM fanout_batches WHERE dispatch_id = $1", dispatch_id)
        return {r["batch_index"] for r in rows}

    async def record_batch(self, dispatch_id: str, index: int, delivered: int, failed: int, provider: str) -> None:
        await self.pool.execute(
            "INSERT INTO fanout_batches (dispatch_id, batch_index, delivered, failed, provider)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            dispatch_id,
            index,
            delivered,
            failed,
            provider,
        )

    async def get_ref(self, thread_id: str, kind: str) -> str | None:
        ref = await self.pool.fetchval(
            "SELECT ref FROM provider_refs WHERE thread_id = $1 AND kind = $2", thread_id, kind
        )
        return None if ref is None else str(ref)

    async def put_ref(self, thread_id: str, kind: str, ref: str) -> None:
        await self.pool.execute(
            "INSERT INTO provider_refs (thread_id, kind, ref) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            thread_id,
            kind,
            ref,
        )


@dataclass(frozen=True)
class Entry:
    """One entry of a named list as a feed reports it."""

    list: str
    target: str
    active: bool = True
    district_code: str = ""
    language: str = ""
    display_name: str = ""
    version: int = 0


class DirectoryStore:
    """The directory's named lists."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def members(self, name: str) -> list[str]:
        """The active targets of list `name`, in a stable order."""
        rows = await self.pool.fetch(
            "SELECT target FROM directory_entries WHERE list = $1 AND active ORDER BY target", name
        )
        return [r["target"] for r in rows]

    async def seed(self, lists: Mapping[str, Sequence[str]], source: str) -> int:
        """Make `source`'s entries exactly `lists`: add and reactivate what is listed, deactivate what is not.

        Only `source`'s own entries change, so a restart with the configuration never undoes what a feed did.
        Returns how many entries are active for `source` afterwards.
        """
        names = [n for n, targets in lists.items() for _ in targets]
        targets = [t for t_list in lists.values() for t in t_list]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO directory_entries (list, target, source, active)"
                " SELECT n, t, $3, true FROM unnest($1::text[], $2::text[]) AS u(n, t)"
                " ON CONFLICT (list, target) DO UPDATE SET active = true, updated_at = now()"
                " WHERE directory_entries.source = $3 AND NOT directory_entries.active",
                names,
                targets,
                source,
            )
            await conn.execute(
                "UPDATE directory_entries SET active = false, updated_at = now() WHERE source = $1 AND active"
                " AND (list = ANY($2::text[])) AND (list, target) NOT IN"
                " (SELECT * FROM unnest($3::text[], $4::text[]))",
                source,
                list(lists),
                names,
                targets,
            )
            if source == "config":  # lists dropped from the file entirely
                await conn.execute(
                    "UPDATE directory_entries SET active = false, updated_at = now()"
                    " WHERE source = 'config' AND active AND NOT (list = ANY($1::text[]))",
                    list(lists),
                )
            count = await conn.fetchval("SELECT count(*) FROM directory_entries WHERE source = $1 AND active", source)
        return int(count)

    async def apply(self, entry: Entry, source: str) -> bool:
        """Apply a feed's change if it is newer than what is stored; False when it was old or a repeat."""
        row = await self.pool.fetchval(
            "INSERT INTO directory_entries (list, target, active, district_code, language, display_name, source,"
            " version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (list, target) DO UPDATE SET active = EXCLUDED.active,"
            " district_code = EXCLUDED.district_code, language = EXCLUDED.language,"
            " display_name = EXCLUDED.display_name, source = EXCLUDED.source, version = EXCLUDED.version,"
            " updated_at = now()"
            " WHERE directory_entries.version < EXCLUDED.version OR directory_entries.source <> EXCLUDED.source"
            " RETURNING 1",
            _text(entry.list),
            _text(entry.target),
            entry.active,
            _text(entry.district_code),
            _text(entry.language),
            _text(entry.display_name),
            source,
            entry.version,
        )
        return bool(row == 1)


@dataclass(frozen=True)
class Scheduled:
    dispatch_id: str
    kind: str
    topic: str
    requester: str
    not_before: datetime
    payload: bytes
    headers: events.Headers


class ScheduleStore:
    """Dispatches held until their `not_before` time."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def hold(self, item: Scheduled) -> None:
        await self.pool.execute(
            "INSERT INTO scheduled_dispatches (dispatch_id, kind, topic, requester, not_before, payload, headers)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT DO NOTHING",
            item.dispatch_id,
            item.kind,
            item.topic,
            item.requester,
            item.not_before,
            item.payload,
            json.dumps([[k, v.decode("latin-1")] for k, v in item.headers]),
        )

    async def due(self, kinds: Sequence[str], limit: int = 50) -> list[Scheduled]:
        rows = await self.pool.fetch(
            "SELECT dispatch_id, kind, topic, requester, not_before, payload, headers FROM scheduled_dispatches"
            " WHERE kind = ANY($1::text[]) AND not_before <= now() ORDER BY not_before LIMIT $2",
            list(kinds),
            limit,
        )
        return [
            Scheduled(
                r["dispatch_id"],
                r["kind"],
                r["topic"],
                r["requester"],
                r["not_before"],
                bytes(r["payload"]),
                [(k, v.encode("latin-1")) for k, v in json.loads(r["headers"])],
            )
            for r in rows
        ]

    async def done(self, dispatch_id: str, kind: str) -> None:
        await self.pool.execute(
            "DELETE FROM scheduled_dispatches WHERE dispatch_id = $1 AND kind = $2", dispatch_id, kind
        )
