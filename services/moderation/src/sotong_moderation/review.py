"""People in the loop: the review queue, moderators' decisions and appeals, each audited.

A moderator's decision is a new row in `decisions` (never an update): who decided, when, why, and which decision
it replaces, so the history of a piece of content reads top to bottom. It is announced on
`moderation.decision-made.v1` through the outbox in the same transaction, so intake (and later community) follow
it exactly like a pipeline decision. An appeal is a row in `appeals` and puts the content back in the queue; the
moderator's decision that follows resolves it.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from sotong.moderation.v1 import moderation_events_pb2 as pb
from sotong.moderation.v1 import moderation_service_pb2 as spb
from sotong_common import auth, events, outbox, topics
from sotong_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied
from sotong_moderation.decisions import SOURCE, row_to_event
from sotong_moderation.policy import CLAUSES

MAX_PAGE = 500
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class QueueFilter:
    clauses: list[str]
    content_type: str
    min_age_s: int
    max_age_s: int


def encode_cursor(queued_at: datetime, content_id: str) -> str:
    raw = json.dumps([queued_at.isoformat(), content_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, str]:
    """The page token is opaque to callers; a token we did not issue is their error, named as such."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        at, content_id = json.loads(raw)
        return datetime.fromisoformat(at), str(content_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidArgument(FieldViolation("page_token", "page_token is not a token this service issued")) from None


def check_clauses(field: str, clauses: list[str]) -> None:
    unknown = [c for c in clauses if c not in CLAUSES]
    if unknown:
        raise InvalidArgument(FieldViolation(field, f"unknown clause(s) {unknown}; known: {', '.join(CLAUSES)}"))


class ReviewStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def queue(
        self, where: QueueFilter, page_size: int, after: tuple[datetime, str] | None
    ) -> tuple[list[asyncpg.Record], tuple[datetime, str] | None, int]:
        """Oldest first, keyset-paged on (queued_at, content_id) so pages stay stable while items come and go; and
        how many items match the filters on all pages (what is waiting), read in the same snapshot as the page."""
        now = datetime.now(UTC)
        conditions = ["TRUE"]
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if where.clauses:
            conditions.append(f"q.categories && {arg(where.clauses)}::text[]")
        if where.content_type:
            conditions.append(f"q.content_type = {arg(where.content_type)}")
        if where.min_age_s:
            conditions.append(f"q.queued_at <= {arg(now - timedelta(seconds=where.min_age_s))}")
        if where.max_age_s:
            conditions.append(f"q.queued_at >= {arg(now - timedelta(seconds=where.max_age_s))}")
        filters = " AND ".join(conditions)
        count_args = list(args)
        if after is not None:
            conditions.append(f"(q.queued_at, q.content_id) > ({arg(after[0])}, {arg(after[1])})")
        limit = arg(page_size + 1)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            rows = list(
                await conn.fetch(
                    "SELECT q.content_id AS q_content_id, q.queued_at, q.reason AS queue_reason,"
                    " a.appealed_by, a.reason AS appeal_reason, d.*"
                    " FROM review_queue q JOIN decisions d ON d.decision_id = q.decision_id"
                    " LEFT JOIN appeals a ON a.appeal_id = q.appeal_id"
                    f" WHERE {' AND '.join(conditions)} ORDER BY q.queued_at, q.content_id LIMIT {limit}",
                    *args,
                )
            )
            total = await conn.fetchval(f"SELECT count(*) FROM review_queue q WHERE {filters}", *count_args)
        more = len(rows) > page_size
        rows = rows[:page_size]
        cursor = (rows[-1]["queued_at"], rows[-1]["q_content_id"]) if more and rows else None
        return rows, cursor, int(total)

    async def decide(
        self,
        content_id: str,
        action: str,
        clauses: list[str],
        reason: str,
        moderator: str,
        expected_decision_id: str,
    ) -> pb.DecisionMade:
        """Record a moderator's decision, take the content off the queue, resolve open appeals, announce it."""
        decision_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            content = await conn.fetchrow(
                "SELECT content_type FROM contents WHERE content_id = $1 FOR UPDATE", content_id
            )
            if content is None:
                raise NotFound(f"no content {content_id} was moderated")
            previous = await conn.fetchrow(
                "SELECT * FROM decisions WHERE content_id = $1 ORDER BY decided_at DESC, decision_id LIMIT 1",
                content_id,
            )
            assert previous is not None  # a content row is written with its first decision
            if expected_decision_id and str(previous["decision_id"]) != expected_decision_id:
                raise FailedPrecondition(
                    f"content {content_id} was decided again since {expected_decision_id}"
                    f" (latest decision {previous['decision_id']})"
                )
            row = await conn.fetchrow(
                "INSERT INTO decisions (decision_id, content_id, content_type, source_event_id, action, categories,"
                " evidence, policy_version, model_version, decided_by, decided_at, reason, previous_decision_id,"
                " masked_text)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14) RETURNING *",
                uuid.UUID(decision_id),
                content_id,
                content["content_type"],
                f"moderator:{decision_id}",
                action,
                clauses,
                previous["evidence"] if isinstance(previous["evidence"], str) else json.dumps(previous["evidence"]),
                previous["policy_version"],
                previous["model_version"],
                moderator,
                now,
                reason,
                previous["decision_id"],
                previous["masked_text"],
            )
            assert row is not None
            await conn.execute("DELETE FROM review_queue WHERE content_id = $1", content_id)
            await conn.execute(
                "UPDATE appeals SET resolved_by_decision_id = $2 WHERE content_id = $1"
                " AND resolved_by_decision_id IS NULL",
                content_id,
                uuid.UUID(decision_id),
            )
            event = row_to_event(row)
            await outbox.add(
                conn,
                topics.DECISION_MADE,
                content_id,
                event,
                events.EventMetadata.new(topics.DECISION_MADE, SOURCE, event_id=decision_id),
            )
            return event

    async def appeal(self, content_id: str, reason: str, who: str, roles: list[str]) -> asyncpg.Record:
        """Contest the current decision: an audited appeal, and the content (back) in the queue.

        Only the content's author (its owner, a citizen's subject id) or an operator may appeal: a citizen
        contesting someone else's removal, or pushing another's comment back into the queue, is refused.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            content = await conn.fetchrow(
                "SELECT content_type, owner FROM contents WHERE content_id = $1 FOR UPDATE", content_id
            )
            if content is None:
                raise NotFound(f"no content {content_id} was moderated")
            if "operator" not in roles and not (content["owner"] and auth.same_subject(content["owner"], who)):
                raise PermissionDenied(f"only the author of content {content_id} may appeal its decision")
            current = await conn.fetchrow(
                "SELECT decision_id, categories FROM decisions WHERE content_id = $1"
                " ORDER BY decided_at DESC, decision_id LIMIT 1",
                content_id,
            )
            assert current is not None
            open_appeal = await conn.fetchval(
                "SELECT appeal_id FROM appeals WHERE content_id = $1 AND resolved_by_decision_id IS NULL", content_id
            )
            if open_appeal is not None:
                raise FailedPrecondition(f"content {content_id} already has an open appeal ({open_appeal})")
            appeal = await conn.fetchrow(
                "INSERT INTO appeals (appeal_id, content_id, decision_id, appealed_by, roles, reason)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                uuid.uuid4(),
                content_id,
                current["decision_id"],
                who,
                roles,
                reason,
            )
            assert appeal is not None
            await conn.execute(
                "INSERT INTO review_queue (content_id, content_type, decision_id, categories, reason, appeal_id,"
                " queued_at) VALUES ($1, $2, $3, $4, 'appeal', $5, $6)"
                " ON CONFLICT (content_id) DO UPDATE SET reason = 'appeal', appeal_id = EXCLUDED.appeal_id,"
                " decision_id = EXCLUDED.decision_id",
                content_id,
                content["content_type"],
                current["decision_id"],
                list(current["categories"]),
                appeal["appeal_id"],
                appeal["appealed_at"],
            )
            return appeal

    async def appeals(self, content_id: str) -> list[asyncpg.Record]:
        return list(
            await self._pool.fetch("SELECT * FROM appeals WHERE content_id = $1 ORDER BY appealed_at", content_id)
        )

    async def in_queue(self, content_id: str) -> bool:
        return bool(await self._pool.fetchval("SELECT 1 FROM review_queue WHERE content_id = $1", content_id))


def appeal_to_proto(row: asyncpg.Record) -> spb.AppealRecord:
    out = spb.AppealRecord(
        appeal_id=str(row["appeal_id"]),
        content_id=row["content_id"],
        decision_id=str(row["decision_id"]),
        appealed_by=row["appealed_by"],
        reason=row["reason"],
        resolved_by_decision_id=str(row["resolved_by_decision_id"] or ""),
    )
    out.appealed_at.FromDatetime(row["appealed_at"])
    return out
