"""Decisions as stored and as announced: the pipeline's `Decision` to rows and `moderation.decision-made.v1`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg

from sotong.moderation.v1 import moderation_events_pb2 as pb
from sotong_common import events, outbox, topics
from sotong_moderation.pipeline import Decision

SOURCE = "sotong.moderation"

ACTIONS: dict[str, pb.Action.ValueType] = {
    "publish": pb.ACTION_PUBLISH,
    "review": pb.ACTION_REVIEW,
    "remove": pb.ACTION_REMOVE,
}
ACTION_NAMES = {v: k for k, v in ACTIONS.items()}


def to_event(
    decision: Decision, decision_id: str, content_type: str, source_event_id: str, decided_at: datetime
) -> pb.DecisionMade:
    event = pb.DecisionMade(
        decision_id=decision_id,
        content_id=decision.content_id,
        content_type=content_type,
        action=ACTIONS[decision.action],
        categories=list(decision.categories),
        evidence=[
            pb.Evidence(start=e.start, end=e.end, clause=e.clause, rule=e.rule, score=e.score, threshold=e.threshold)
            for e in decision.evidence
        ],
        policy_version=decision.policy_version,
        model_version=decision.model_version,
        source_event_id=source_event_id,
        masked_text=decision.masked_text,
    )
    event.decided_at.FromDatetime(decided_at)
    return event


class DecisionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, decision: Decision, content_type: str, source_event_id: str) -> bool:
        """Store the decision and queue its event, once per source event; False if it was already recorded.

        The decision id is derived from the source event id, so a redelivered submission yields the same id and
        the unique source_event_id makes the second insert a no-op.
        """
        decision_id = events.derived_event_id(source_event_id, "moderation.decision")
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO decisions (decision_id, content_id, content_type, source_event_id, action, categories,"
                " evidence, policy_version, model_version, decided_at)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8,$9,$10) ON CONFLICT (source_event_id) DO NOTHING RETURNING 1",
                uuid.UUID(decision_id),
                decision.content_id,
                content_type,
                source_event_id,
                decision.action,
                list(decision.categories),
                json.dumps([e.to_json_dict() for e in decision.evidence], ensure_ascii=False),
                decision.policy_version,
                decision.model_version,
                now,
            )
            if inserted != 1:
                return False
            await outbox.add(
                conn,
                topics.DECISION_MADE,
                decision.content_id,
                to_event(decision, decision_id, content_type, source_event_id, now),
                events.EventMetadata.new(topics.DECISION_MADE, SOURCE, event_id=decision_id),
            )
            return True

    async def latest(self, content_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._pool.fetchrow(
            "SELECT * FROM decisions WHERE content_id = $1 ORDER BY decided_at DESC LIMIT 1", content_id
        )
        return row
