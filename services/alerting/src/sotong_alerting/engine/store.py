"""The durable record of finished deliveries and fan-out checkpoints (PostgreSQL schema alerting_engine).

A delivery is recorded after the provider acknowledged it, so the only window for a second send is a crash
between the provider's answer and this insert; the retry then carries the same idempotency key and the
provider deduplicates it. Rows are never updated: the first outcome wins (ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg


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
        values = [(dispatch_id, r.target, r.outcome, r.provider, r.attempts, r.idempotency_key, r.error) for r in rows]
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

    async def get_ref(self, incident_id: str, kind: str) -> str | None:
        ref = await self.pool.fetchval(
            "SELECT ref FROM provider_refs WHERE incident_id = $1 AND kind = $2", incident_id, kind
        )
        return None if ref is None else str(ref)

    async def put_ref(self, incident_id: str, kind: str, ref: str) -> None:
        await self.pool.execute(
            "INSERT INTO provider_refs (incident_id, kind, ref) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            incident_id,
            kind,
            ref,
        )
