"""Decisions as stored and as announced: the pipeline's `Decision` to rows and `moderation.decision-made.v1`.

The worker stores decisions a batch at a time (`DecisionStore.record_batch`): one transaction writes the texts,
the decisions and the review-queue entries of up to a few hundred events, with one statement each, and hands
back the `moderation.decision-made.v1` events, which the worker publishes in the batch's Kafka transaction with
its offsets. Exactly one decision per source event still holds: the decision id derives from the source event
id, and the unique `source_event_id` turns a redelivered event into a no-op whose event is the *stored*
decision (a redelivery re-judged with a different repetition history must not announce a different outcome).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sotong.moderation.v1 import moderation_events_pb2 as pb
from sotong_common import events, topics
from sotong_moderation.content import Content
from sotong_moderation.pipeline import Decision, Evidence

SOURCE = "sotong.moderation"
_EVENT_TYPE = topics.event_type(topics.DECISION_MADE)
_SCHEMA_VERSION = events.schema_version_of(_EVENT_TYPE)
PIPELINE = "pipeline"

ACTIONS: dict[str, pb.Action.ValueType] = {
    "publish": pb.ACTION_PUBLISH,
    "review": pb.ACTION_REVIEW,
    "remove": pb.ACTION_REMOVE,
}
ACTION_NAMES = {v: k for k, v in ACTIONS.items()}


def storable(text: str) -> str:
    """PostgreSQL text (and jsonb) cannot hold NUL; binary garbage in a comment must not stop the worker."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


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
            pb.Evidence(
                start=e.start,
                end=e.end,
                clause=e.clause,
                rule=e.rule,
                score=e.score,
                threshold=e.threshold,
                text=e.text,
            )
            for e in decision.evidence
        ],
        policy_version=decision.policy_version,
        model_version=decision.model_version,
        source_event_id=source_event_id,
        masked_text=decision.masked_text,
        decided_by=PIPELINE,
    )
    stamp = decided_at.timestamp()  # what Timestamp.FromDatetime computes, without its pure-Python detour
    event.decided_at.seconds = int(stamp // 1)
    event.decided_at.nanos = decided_at.microsecond * 1000
    return event


def row_to_event(row: asyncpg.Record) -> pb.DecisionMade:
    """A stored decision (pipeline's or a moderator's) as the contract shows it."""
    evidence = json.loads(row["evidence"]) if isinstance(row["evidence"], str) else row["evidence"]
    out = pb.DecisionMade(
        decision_id=str(row["decision_id"]),
        content_id=row["content_id"],
        content_type=row["content_type"],
        action=ACTIONS[row["action"]],
        categories=list(row["categories"]),
        evidence=[
            pb.Evidence(
                start=int(e.get("start", 0)),
                end=int(e.get("end", 0)),
                clause=str(e.get("clause", "")),
                rule=str(e.get("rule", "")),
                score=float(e.get("score", 0.0)),
                threshold=float(e.get("threshold", 0.0)),
                text=str(e.get("text", "")),
            )
            for e in evidence or []
        ],
        policy_version=row["policy_version"],
        model_version=row["model_version"],
        source_event_id=row["source_event_id"],
        masked_text=row["masked_text"],
        decided_by=row["decided_by"],
        reason=row["reason"],
        previous_decision_id=str(row["previous_decision_id"] or ""),
    )
    out.decided_at.FromDatetime(row["decided_at"])
    return out


@dataclass(frozen=True, slots=True)
class Judged:
    """One content event and the pipeline's decision, ready to store: the event is encoded and its headers
    carry the trace of the consumer span it was judged in."""

    content: Content
    decision: Decision
    decision_id: str
    decided_at: datetime
    payload: bytes
    headers: events.Headers

    @classmethod
    def of(cls, content: Content, decision: Decision) -> Judged:
        """Call inside the event's span: the headers capture the current trace context.

        Content whose source asks for a person (`Content.review_reason`, e.g. hidden by citizens' reports) is at
        least a review decision, with evidence naming the reason, so it reaches the queue whatever the policy says.
        """
        if content.review_reason:
            decision = at_least_review(decision, content.review_reason, len(content.text))
        decision_id = events.derived_event_id(content.source_event_id, "moderation.decision")
        now = datetime.now(UTC)
        event = to_event(decision, decision_id, content.content_type, content.source_event_id, now)
        metadata = events.EventMetadata(decision_id, _EVENT_TYPE, SOURCE, now, _SCHEMA_VERSION)
        return cls(content, decision, decision_id, now, events.encode(event), metadata.headers())


@dataclass(frozen=True, slots=True)
class Announcement:
    """A `moderation.decision-made.v1` event ready to publish: key (content id), payload, headers."""

    key: str
    payload: bytes
    headers: events.Headers


@dataclass(frozen=True, slots=True)
class Recorded:
    new: int
    announcements: list[Announcement]


def stored_announcement(row: asyncpg.Record) -> Announcement:
    """The event of a decision already stored, with the metadata it was first announced with."""
    decision_id = str(row["decision_id"])
    metadata = events.EventMetadata(decision_id, _EVENT_TYPE, SOURCE, row["decided_at"], _SCHEMA_VERSION)
    return Announcement(row["content_id"], events.encode(row_to_event(row)), metadata.headers())


class DecisionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def record_batch(self, batch: Sequence[Judged]) -> Recorded:
        """Store a batch of pipeline decisions; returns how many were new and the event of every one to publish.

        One transaction: a crash before the commit stores nothing (the events are redelivered and judged
        again); after it, redelivered events find their source_event_id, add nothing, and are announced with the
        decision stored the first time.
        """
        unique: dict[str, Judged] = {}
        for j in batch:
            unique.setdefault(j.content.source_event_id, j)
        rows = list(unique.values())
        if not rows:
            return Recorded(0, [])
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO contents (content_id, content_type, author, text, owner)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
                " ON CONFLICT DO NOTHING",
                [j.content.content_id for j in rows],
                [j.content.content_type for j in rows],
                [storable(j.content.author) for j in rows],
                [storable(j.content.text) for j in rows],
                [storable(j.content.owner) for j in rows],
            )
            inserted = await conn.fetch(
                "INSERT INTO decisions (decision_id, content_id, content_type, source_event_id, action, categories,"
                " evidence, policy_version, model_version, decided_at, masked_text)"
                " SELECT d, c, t, s, a, string_to_array(cat, ','), e::jsonb, pv, mv, at, mt FROM unnest("
                "$1::text[]::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
                " $8::text[], $9::text[], $10::timestamptz[], $11::text[]) AS u(d, c, t, s, a, cat, e, pv, mv, at, mt)"
                " ON CONFLICT (source_event_id) DO NOTHING RETURNING source_event_id",
                [j.decision_id for j in rows],
                [j.content.content_id for j in rows],
                [j.content.content_type for j in rows],
                [j.content.source_event_id for j in rows],
                [j.decision.action for j in rows],
                [",".join(j.decision.categories) for j in rows],
                [_evidence_json(j.decision) for j in rows],
                [j.decision.policy_version for j in rows],
                [j.decision.model_version for j in rows],
                [j.decided_at for j in rows],
                [storable(j.decision.masked_text) for j in rows],
            )
            new = {r["source_event_id"] for r in inserted}
            fresh = [j for j in rows if j.content.source_event_id in new]
            reviews = [j for j in fresh if j.decision.action == "review"]
            if reviews:
                await conn.execute(
                    "INSERT INTO review_queue (content_id, content_type, decision_id, categories, reason, queued_at)"
                    " SELECT c, t, d, string_to_array(cat, ','), 'pipeline', at FROM unnest("
                    "$1::text[], $2::text[], $3::text[]::uuid[], $4::text[], $5::timestamptz[]) AS u(c, t, d, cat, at)"
                    " ON CONFLICT (content_id) DO NOTHING",
                    [j.content.content_id for j in reviews],
                    [j.content.content_type for j in reviews],
                    [j.decision_id for j in reviews],
                    [",".join(j.decision.categories) for j in reviews],
                    [j.decided_at for j in reviews],
                )
            stored: dict[str, asyncpg.Record] = {}
            if len(fresh) < len(rows):
                found = await conn.fetch(
                    "SELECT * FROM decisions WHERE source_event_id = ANY($1::text[])",
                    [j.content.source_event_id for j in rows if j.content.source_event_id not in new],
                )
                stored = {r["source_event_id"]: r for r in found}
        announced: list[Announcement] = []
        for j in rows:
            earlier = stored.get(j.content.source_event_id)
            if earlier is None:
                announced.append(Announcement(j.content.content_id, j.payload, j.headers))
            else:
                announced.append(stored_announcement(earlier))
        return Recorded(len(fresh), announced)

    async def latest(self, content_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._pool.fetchrow(
            "SELECT * FROM decisions WHERE content_id = $1 ORDER BY decided_at DESC, decision_id LIMIT 1", content_id
        )
        return row

    async def history(self, content_id: str) -> list[asyncpg.Record]:
        """Every decision about the content, oldest first."""
        return list(
            await self._pool.fetch(
                "SELECT * FROM decisions WHERE content_id = $1 ORDER BY decided_at, decision_id", content_id
            )
        )


def at_least_review(decision: Decision, reason: str, length: int) -> Decision:
    """`decision` raised to review (a removal stays a removal), with evidence saying who asked for a person."""
    evidence = [*decision.evidence, Evidence(0, length, "source", "source.review_requested", 1.0, 1.0, reason)]
    action = decision.action if decision.action == "remove" else "review"
    return dataclasses.replace(decision, action=action, evidence=evidence)


def _evidence_json(decision: Decision) -> str:
    if not decision.evidence:  # most comments: nothing to explain
        return "[]"
    items: list[dict[str, Any]] = []
    for e in decision.evidence:
        item = e.to_json_dict()
        item["text"] = storable(str(item["text"]))
        items.append(item)
    return json.dumps(items, ensure_ascii=False)
