"""Comments on proposals, debates, polls and community posts: threaded, and paged so that a thread of 10,000
comments reads as fast as one of 10.

A page is one level of one thread, `(target, parent)`, in posting order, continued after the last comment's
sequence number: `WHERE target = … AND parent = … AND status = 'published' AND seq > $last ORDER BY seq LIMIT n`
reads one range of the partial index `comments_thread`, whatever the thread's length or the page's depth (no
OFFSET, no count). Each comment carries its reply count, so a client opens replies level by level.
The caller's own comments that are not (or no longer) shown appear to them only, on the first page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from sotong_common import auth
from sotong_common.errors import FailedPrecondition, NotFound
from sotong_community import announcements, complaints, content_store, proposals

NIL = uuid.UUID(int=0)
TARGETS = ("proposal", "debate", "poll", "post")


@dataclass(frozen=True)
class Posted:
    row: asyncpg.Record
    created: bool
    routed: bool


class CommentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def post(
        self,
        author: str,
        target_kind: str,
        target_id: uuid.UUID,
        parent_id: uuid.UUID | None,
        text: str,
        request_id: str,
        from_citizen: bool = True,
    ) -> Posted:
        """Store a comment for moderation; a citizen's comment that is really a complaint also goes to intake (staff
        replying in a thread are not filing complaints)."""
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM comments WHERE author = $1 AND request_id = $2", author, request_id
            )
            if existing is not None:
                return Posted(existing, False, existing["routed"])
            district, category = await self._target(conn, target_kind, target_id)
            if parent_id is not None:
                parent = await conn.fetchrow(
                    "SELECT target_kind, target_id, status FROM comments WHERE comment_id = $1", parent_id
                )
                if parent is None or (parent["target_kind"], parent["target_id"]) != (target_kind, target_id):
                    raise NotFound(f"no comment {parent_id} on this {target_kind}")
                if parent["status"] != "published":
                    raise FailedPrecondition("replies go to published comments only")
            comment_id = uuid.uuid4()
            content_id = await content_store.post(conn, "comment", str(comment_id), author, text, district)
            routed = from_citizen and complaints.is_complaint(text)
            row = await conn.fetchrow(
                "INSERT INTO comments (comment_id, target_kind, target_id, parent_id, author, content_id, status,"
                " routed, district_code, category, request_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, 'in_moderation', $7, $8, $9, $10) RETURNING *",
                comment_id,
                target_kind,
                target_id,
                parent_id or NIL,
                author,
                content_id,
                routed,
                district,
                category,
                request_id,
            )
            assert row is not None
            if routed:
                await announcements.complaint(
                    conn, str(comment_id), complaints.submission(str(comment_id), text, district)
                )
            return Posted(row, True, routed)

    async def _target(self, conn: Any, kind: str, target_id: uuid.UUID) -> tuple[str, str]:
        """The district and category comments on this target count under; refuses a target not open to them."""
        if kind == "proposal":
            row = await conn.fetchrow(
                "SELECT state, district_code, category FROM proposals WHERE proposal_id = $1", target_id
            )
            if row is None:
                raise NotFound(f"no proposal {target_id}")
            if row["state"] not in proposals.COMMENTABLE:
                raise FailedPrecondition(f"a proposal in state {row['state']} takes no comments")
            return row["district_code"], row["category"]
        if kind == "debate":
            row = await conn.fetchrow("SELECT status FROM debates WHERE debate_id = $1", target_id)
            if row is None:
                raise NotFound(f"no debate {target_id}")
            if row["status"] != "open":
                raise FailedPrecondition(f"a debate that is {row['status'].replace('_', ' ')} takes no comments")
            return "", "debate"
        if kind == "poll":
            row = await conn.fetchrow("SELECT 1 FROM polls WHERE poll_id = $1", target_id)
            if row is None:
                raise NotFound(f"no poll {target_id}")
            return "", "poll"
        row = await conn.fetchrow(
            "SELECT p.status, g.district_code FROM posts p JOIN groups g USING (community_id) WHERE p.post_id = $1",
            target_id,
        )
        if row is None:
            raise NotFound(f"no community post {target_id}")
        if row["status"] != "published":
            raise FailedPrecondition("comments go to published posts only")
        return row["district_code"], "community"

    async def page(
        self, caller: str, target_kind: str, target_id: uuid.UUID, parent_id: uuid.UUID | None, size: int, after: int
    ) -> tuple[list[asyncpg.Record], int | None]:
        """One page of one level of a thread, and the sequence number to continue after (None at the end)."""
        parent = parent_id or NIL
        rows = list(
            await self.pool.fetch(
                "SELECT * FROM comments WHERE target_kind = $1 AND target_id = $2 AND parent_id = $3"
                " AND status = 'published' AND seq > $4 ORDER BY seq LIMIT $5",
                target_kind,
                target_id,
                parent,
                after,
                size + 1,
            )
        )
        more = len(rows) > size
        rows = rows[:size]
        if after == 0:
            own = await self.pool.fetch(
                "SELECT c.*, t.text AS original, t.clauses AS content_clauses FROM comments c"
                " JOIN contents t USING (content_id) WHERE c.author = $1 AND c.target_id = $2 AND c.parent_id = $3"
                " AND c.target_kind = $4 AND c.status <> 'published' ORDER BY c.seq LIMIT 50",
                caller,
                target_id,
                parent,
                target_kind,
            )
            rows.extend(own)
        return rows, (rows[size - 1]["seq"] if more else None)

    async def get(self, comment_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow(
            "SELECT c.*, t.text AS original, t.clauses AS content_clauses FROM comments c"
            " JOIN contents t USING (content_id) WHERE c.comment_id = $1",
            comment_id,
        )
        if row is None:
            raise NotFound(f"no comment {comment_id}")
        return row

    @staticmethod
    def visible_to(row: asyncpg.Record, caller: auth.Principal) -> bool:
        return (
            row["status"] == "published"
            or auth.same_subject(row["author"], caller.subject)
            or bool(caller.roles & {"moderator", "operator"})
        )


async def record_complaint(conn: Any, comment_id: str, tracking_id: str) -> bool:
    """Intake's tracking id of the complaint filed from a comment; True when it was new."""
    try:
        key = uuid.UUID(comment_id)
    except ValueError:
        return False
    done = await conn.fetchval(
        "UPDATE comments SET complaint_tracking_id = $2 WHERE comment_id = $1 AND complaint_tracking_id = ''"
        " RETURNING 1",
        key,
        tracking_id,
    )
    return bool(done)
