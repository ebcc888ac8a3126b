"""Debates, their statements and the votes on them, and the opinion groups computed from those votes.

A debate opened by a citizen (or a community) is moderated before it opens; one opened by staff opens at once.
Statements are moderated like comments; a vote is one per citizen per statement, changeable, and the statement's
agree / disagree / pass counts move in the transaction of the vote. The worker recomputes a debate's opinion
groups when it has new votes, from the stored votes and a fixed seed, and stores the result with the seed and a
digest of its input.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sotong_common.errors import FailedPrecondition, NotFound
from sotong_community import content_store, opinion_groups, proposals

VOTE_COLUMN = {1: "agree", -1: "disagree", 0: "pass"}


class DebateStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def open(
        self,
        author: str,
        space_id: str,
        title: str,
        description: str,
        community_id: uuid.UUID | None,
        request_id: str,
        staff: bool,
    ) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM debates WHERE author = $1 AND request_id = $2", author, request_id
            )
            if existing is not None:
                return existing, False
            if await conn.fetchval("SELECT 1 FROM spaces WHERE space_id = $1", space_id) is None:
                raise NotFound(f"no participation space {space_id!r}")
            debate_id = uuid.uuid4()
            content_id = ""
            if not staff:
                text = proposals.content_text(title, description)
                content_id = await content_store.post(conn, "debate", str(debate_id), author, text)
            row = await conn.fetchrow(
                "INSERT INTO debates (debate_id, space_id, community_id, author, title, description, shown_title,"
                " shown_description, status, content_id, request_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
                debate_id,
                space_id,
                community_id,
                author,
                title,
                description,
                title if staff else "",
                description if staff else "",
                "open" if staff else "in_moderation",
                content_id,
                request_id,
            )
            assert row is not None
            return row, True

    async def get(self, debate_id: uuid.UUID, caller: str) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
        row = await self.pool.fetchrow("SELECT * FROM debates WHERE debate_id = $1", debate_id)
        if row is None:
            raise NotFound(f"no debate {debate_id}")
        statements = await self.pool.fetch(
            "SELECT s.*, v.vote AS my_vote FROM statements s"
            " LEFT JOIN statement_votes v ON v.statement_id = s.statement_id AND v.citizen = $2"
            " WHERE s.debate_id = $1 AND (s.status = 'published' OR s.author = $2)"
            " ORDER BY s.statement_id LIMIT 500",
            debate_id,
            caller,
        )
        return row, list(statements)

    async def add_statement(
        self, author: str, debate_id: uuid.UUID, text: str, request_id: str
    ) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM statements WHERE author = $1 AND request_id = $2", author, request_id
            )
            if existing is not None:
                return existing, False
            status = await conn.fetchval("SELECT status FROM debates WHERE debate_id = $1", debate_id)
            if status is None:
                raise NotFound(f"no debate {debate_id}")
            if status != "open":
                raise FailedPrecondition(f"a debate that is {status.replace('_', ' ')} takes no statements")
            statement_id = await conn.fetchval("SELECT nextval('statements_statement_id_seq')")
            content_id = await content_store.post(conn, "statement", str(statement_id), author, text)
            row = await conn.fetchrow(
                "INSERT INTO statements (statement_id, debate_id, author, content_id, status, request_id)"
                " VALUES ($1, $2, $3, $4, 'in_moderation', $5) RETURNING *",
                statement_id,
                debate_id,
                author,
                content_id,
                request_id,
            )
            assert row is not None
            return row, True

    async def vote(self, citizen: str, statement_id: int, vote: int) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT s.*, d.status AS debate_status FROM statements s JOIN debates d USING (debate_id)"
                " WHERE s.statement_id = $1 FOR UPDATE OF s",
                statement_id,
            )
            if row is None:
                raise NotFound(f"no statement {statement_id}")
            if row["status"] != "published" or row["debate_status"] != "open":
                raise FailedPrecondition("only published statements of open debates take votes")
            before = await conn.fetchval(
                "SELECT vote FROM statement_votes WHERE statement_id = $1 AND citizen = $2", statement_id, citizen
            )
            if before != vote:
                await conn.execute(
                    "INSERT INTO statement_votes (statement_id, debate_id, citizen, vote) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (statement_id, citizen) DO UPDATE SET vote = EXCLUDED.vote, at = now()",
                    statement_id,
                    row["debate_id"],
                    citizen,
                    vote,
                )
                sets = [f"{VOTE_COLUMN[vote]} = {VOTE_COLUMN[vote]} + 1"]
                if before is not None:
                    sets.append(f"{VOTE_COLUMN[before]} = {VOTE_COLUMN[before]} - 1")
                row = await conn.fetchrow(
                    f"UPDATE statements SET {', '.join(sets)} WHERE statement_id = $1 RETURNING *", statement_id
                )
            out = await conn.fetchrow(
                "SELECT s.*, $2::smallint AS my_vote FROM statements s WHERE s.statement_id = $1", statement_id, vote
            )
            assert out is not None
            return out

    async def groups(self, debate_id: uuid.UUID) -> asyncpg.Record | None:
        if await self.pool.fetchval("SELECT 1 FROM debates WHERE debate_id = $1", debate_id) is None:
            raise NotFound(f"no debate {debate_id}")
        row: asyncpg.Record | None = await self.pool.fetchrow(
            "SELECT * FROM opinion_groups WHERE debate_id = $1", debate_id
        )
        return row

    async def votes(self, debate_id: uuid.UUID) -> list[opinion_groups.Vote]:
        """The votes opinion groups are computed from: published statements only."""
        rows = await self.pool.fetch(
            "SELECT v.citizen, v.statement_id, v.vote FROM statement_votes v JOIN statements s USING (statement_id)"
            " WHERE v.debate_id = $1 AND s.status = 'published'",
            debate_id,
        )
        return [opinion_groups.Vote(r["citizen"], r["statement_id"], r["vote"]) for r in rows]

    async def recompute_due(self, seed: int, limit: int = 20) -> int:
        """Recompute the groups of debates with votes newer than their last computation; returns how many."""
        due = await self.pool.fetch(
            "SELECT d.debate_id FROM debates d LEFT JOIN opinion_groups g USING (debate_id)"
            " WHERE d.status = 'open' AND EXISTS (SELECT 1 FROM statement_votes v WHERE v.debate_id = d.debate_id"
            " AND (g.computed_at IS NULL OR v.at > g.computed_at)) LIMIT $1",
            limit,
        )
        for row in due:
            started = datetime.now(UTC)
            votes = await self.votes(row["debate_id"])
            result = await _in_thread(opinion_groups.compute, votes, seed)
            await self.pool.execute(
                "INSERT INTO opinion_groups (debate_id, computed_at, seed, input_digest, votes, result)"
                " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (debate_id) DO UPDATE SET"
                " computed_at = EXCLUDED.computed_at, seed = EXCLUDED.seed, input_digest = EXCLUDED.input_digest,"
                " votes = EXCLUDED.votes, result = EXCLUDED.result",
                row["debate_id"],
                started,
                seed,
                opinion_groups.digest(votes),
                len(votes),
                json.dumps(result),
            )
        return len(due)


async def _in_thread(fn: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(fn, *args)
