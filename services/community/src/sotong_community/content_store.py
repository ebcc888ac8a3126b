"""Citizens' texts in PostgreSQL: posted for moderation, shown as decided, hidden by reports.

`post` stores a text with its content id and queues community.content-posted.v1 in the caller's transaction.
`apply_decision` (the worker, once per moderation.decision-made.v1 event) records the decision on the content and
on the row it belongs to (a comment, a statement, a debate, a community, a post, a poll answer; proposals move
through their state machine), keeps the waiting list moderators are told about, and returns what the opinion
statistics count (a published comment, the published text for the terms). `report` counts distinct reporters
and, at the threshold, hides the content and posts it again as reported, so it reaches a person's queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

import asyncpg

from sotong.community.v1 import community_events_pb2 as epb
from sotong.moderation.v1 import moderation_events_pb2 as mpb
from sotong_common import auth, database
from sotong_common.errors import FailedPrecondition, NotFound
from sotong_community import announcements, moderated
from sotong_community.moderated import HIDDEN, IN_REVIEW, PUBLISHED, REMOVED, Outcome
from sotong_community.proposal_store import ProposalStore

# The table and key column of each kind's rows (proposals move through ProposalStore).
_ENTITY = {
    "comment": ("comments", "comment_id", "uuid"),
    "statement": ("statements", "statement_id", "bigint"),
    "post": ("posts", "post_id", "uuid"),
    "poll_answer": ("poll_texts", "content_id", "text"),
}


async def post(
    conn: database.Connection, kind: str, entity: str, author: str, text: str, district_code: str = ""
) -> str:
    """Store a text for moderation and announce it; returns its content id."""
    content_id = moderated.content_id(kind, entity)
    await conn.execute(
        "INSERT INTO contents (content_id, kind, entity, author, text, status, district_code)"
        " VALUES ($1, $2, $3, $4, $5, 'in_moderation', $6)",
        content_id,
        kind,
        entity,
        author,
        text,
        district_code,
    )
    await announcements.content_posted(conn, content_id, moderated.content_type(kind), text, author)
    return content_id


@dataclass(frozen=True)
class Applied:
    """What a decision changed that the opinion statistics count."""

    kind: str
    newly_published: bool
    text_for_terms: str
    district_code: str
    category: str


async def apply_decision(
    conn: database.Connection, proposals: ProposalStore, decision: mpb.DecisionMade
) -> Applied | None:
    """Record `decision` on its content (inside the caller's transaction); None when it is not ours or stale."""
    parsed = moderated.parse(decision.content_id)
    if parsed is None:
        return None
    kind, entity, revision = parsed
    row = await conn.fetchrow("SELECT * FROM contents WHERE content_id = $1 FOR UPDATE", decision.content_id)
    if row is None:
        return None
    decided_at = decision.decided_at.ToDatetime(tzinfo=UTC)
    if row["decided_at"] is not None and decided_at < row["decided_at"]:
        return None  # an older decision arriving late
    outcome = moderated.outcome(decision, row["text"], row["status"] == HIDDEN)
    was_published = row["status"] == PUBLISHED
    await conn.execute(
        "UPDATE contents SET status = $2, masked_text = $3, clauses = $4, decision_id = $5, decided_at = $6"
        " WHERE content_id = $1",
        decision.content_id,
        outcome.status,
        outcome.shown_text,
        list(outcome.clauses),
        decision.decision_id,
        decided_at,
    )
    if outcome.status == PUBLISHED and decision.decided_by not in ("", "pipeline"):
        # A moderator cleared it: earlier reports are settled; new ones count afresh.
        await conn.execute("DELETE FROM reports WHERE content_id = $1", decision.content_id)
        await conn.execute("UPDATE contents SET report_count = 0 WHERE content_id = $1", decision.content_id)
    if outcome.status in moderated.WAITING:
        reason = "reported" if outcome.status == HIDDEN else "review"
        await conn.execute(
            "INSERT INTO waiting_notices (content_id, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            decision.content_id,
            reason,
        )
    else:
        await conn.execute("DELETE FROM waiting_notices WHERE content_id = $1", decision.content_id)
    newly = outcome.status == PUBLISHED and not was_published
    category = ""
    if kind == "proposal":
        first = await proposals.apply_moderation(conn, entity, revision, outcome)
        newly = newly and first
        category = "proposal"
    elif kind == "comment":
        category = await _comment(conn, entity, outcome, was_published)
        if newly and not await _counted_before(conn, decision.content_id):
            await announcements.participation(conn, "comments", entity, row["district_code"], category, 1)
    elif kind in ("debate", "group"):
        await _titled(conn, kind, entity, outcome)
    else:
        await _shown(conn, kind, entity, outcome)
    text = outcome.shown_text if newly else ""
    return Applied(kind, newly, text, row["district_code"], category)


async def _comment(conn: database.Connection, comment_id: str, outcome: Outcome, was_published: bool) -> str:
    row = await conn.fetchrow(
        "UPDATE comments SET status = $2, shown_text = $3, masked = $4 WHERE comment_id = $1::text::uuid"
        " RETURNING parent_id, category",
        comment_id,
        outcome.status,
        outcome.shown_text,
        outcome.masked,
    )
    if row is None:
        return ""
    now_published = outcome.status == PUBLISHED
    if now_published != was_published:
        await conn.execute(
            "UPDATE comments SET reply_count = reply_count + $2 WHERE comment_id = $1",
            row["parent_id"],
            1 if now_published else -1,
        )
    return str(row["category"])


async def _counted_before(conn: database.Connection, content_id: str) -> bool:
    """Whether this comment was already counted (published, hidden by reports, then published again)."""
    first = await conn.fetchval(
        "UPDATE contents SET counted = true WHERE content_id = $1 AND NOT counted RETURNING 1", content_id
    )
    return first is None


async def _titled(conn: database.Connection, kind: str, entity: str, outcome: Outcome) -> None:
    """Debates and communities: a title line and a description, shown once published."""
    from sotong_community.proposals import split_content

    if kind == "debate":
        table, key, title_col, text_col, live = "debates", "debate_id", "shown_title", "shown_description", "open"
    else:
        table, key, title_col, text_col, live = "groups", "community_id", "shown_name", "shown_description", "active"
    if outcome.status == PUBLISHED:
        title, text = split_content(outcome.shown_text, "")
        await conn.execute(
            f"UPDATE {table} SET status = $2, {title_col} = $3, {text_col} = $4, clauses = '{{}}'"
            f" WHERE {key} = $1::text::uuid",
            entity,
            live,
            title,
            text,
        )
    elif outcome.status == REMOVED:
        await conn.execute(
            f"UPDATE {table} SET status = 'rejected', clauses = $2 WHERE {key} = $1::text::uuid",
            entity,
            list(outcome.clauses),
        )


async def _shown(conn: database.Connection, kind: str, entity: str, outcome: Outcome) -> None:
    table, key, cast = _ENTITY[kind]
    await conn.execute(
        f"UPDATE {table} SET status = $2, shown_text = $3 WHERE {key} = $1::text::{cast} AND status <> 'replaced'",
        entity if kind != "poll_answer" else moderated.content_id(kind, entity),
        outcome.status,
        outcome.shown_text,
    )


@dataclass(frozen=True)
class Reported:
    count: int
    hidden: bool
    changed: bool


async def report(pool: asyncpg.Pool, content_id: str, reporter: str, reason: str, threshold: int) -> Reported:
    """One citizen's report; at `threshold` distinct reporters the content is hidden and sent to a person."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT * FROM contents WHERE content_id = $1 FOR UPDATE", content_id)
        if row is None or row["kind"] not in moderated.REPORTABLE:
            raise NotFound(f"no comment, post or statement {content_id}")
        if row["status"] not in (PUBLISHED, HIDDEN, IN_REVIEW):
            raise FailedPrecondition(f"only shown content can be reported (this one is {row['status']})")
        if auth.same_subject(row["author"], reporter):
            raise FailedPrecondition("you cannot report what you wrote yourself")
        added = await conn.fetchval(
            "INSERT INTO reports (content_id, reporter, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
            content_id,
            reporter,
            reason,
        )
        if not added:
            return Reported(row["report_count"], row["status"] == HIDDEN, False)
        count = row["report_count"] + 1
        await conn.execute("UPDATE contents SET report_count = $2 WHERE content_id = $1", content_id, count)
        if count >= threshold and row["status"] == PUBLISHED:
            await conn.execute("UPDATE contents SET status = 'hidden' WHERE content_id = $1", content_id)
            hidden = Outcome(HIDDEN, "", (), False)
            if row["kind"] == "comment":
                await _comment(conn, row["entity"], hidden, was_published=True)
            else:
                await _shown(conn, row["kind"], row["entity"], hidden)
            await conn.execute(
                "INSERT INTO waiting_notices (content_id, reason) VALUES ($1, 'reported') ON CONFLICT DO NOTHING",
                content_id,
            )
            await announcements.content_posted(
                conn,
                content_id,
                moderated.content_type(row["kind"]),
                row["text"],
                row["author"],
                epb.POST_REASON_REPORTED,
                count,
            )
            return Reported(count, True, True)
        return Reported(count, row["status"] == HIDDEN, True)


async def waiting_to_notify(conn: database.Connection, limit: int = 500) -> list[asyncpg.Record]:
    """Waiting content moderators have not been told about yet (locked: one worker tells them)."""
    return list(
        await conn.fetch(
            "SELECT w.content_id, w.reason, w.since, c.kind FROM waiting_notices w JOIN contents c USING (content_id)"
            " WHERE w.notified_at IS NULL ORDER BY w.since LIMIT $1 FOR UPDATE OF w SKIP LOCKED",
            limit,
        )
    )
