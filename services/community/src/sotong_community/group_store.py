"""Citizen communities in PostgreSQL: the group, its members and roles, join requests, and its posts.

A community's name and description are moderated before it is listed (it is `in_moderation`, then `active`);
its founder is its owner from the start. Member counts move in the transaction of the join or leave.
"""

from __future__ import annotations

import uuid

import asyncpg

from sotong_common.errors import FailedPrecondition, NotFound
from sotong_community import communities, content_store, proposals


class GroupStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self, owner: str, name: str, description: str, district_code: str, topic: str, request_id: str
    ) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM groups WHERE owner = $1 AND request_id = $2", owner, request_id
            )
            if existing is not None:
                return existing, False
            community_id = uuid.uuid4()
            text = proposals.content_text(name, description)
            content_id = await content_store.post(conn, "group", str(community_id), owner, text, district_code)
            row = await conn.fetchrow(
                "INSERT INTO groups (community_id, owner, name, description, district_code, topic, status,"
                " content_id, request_id) VALUES ($1, $2, $3, $4, $5, $6, 'in_moderation', $7, $8) RETURNING *",
                community_id,
                owner,
                name,
                description,
                district_code,
                topic,
                content_id,
                request_id,
            )
            await conn.execute(
                "INSERT INTO members (community_id, citizen, role) VALUES ($1, $2, 'owner')", community_id, owner
            )
            assert row is not None
            return row, True

    async def get(self, community_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM groups WHERE community_id = $1", community_id)
        if row is None:
            raise NotFound(f"no community {community_id}")
        return row

    async def role(self, community_id: uuid.UUID, citizen: str) -> str | None:
        found: str | None = await self.pool.fetchval(
            "SELECT role FROM members WHERE community_id = $1 AND citizen = $2", community_id, citizen
        )
        return found

    async def request_to_join(self, community_id: uuid.UUID, citizen: str, message: str) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            group = await conn.fetchrow("SELECT status FROM groups WHERE community_id = $1", community_id)
            if group is None:
                raise NotFound(f"no community {community_id}")
            communities.require_active(group["status"])
            if await conn.fetchval(
                "SELECT 1 FROM members WHERE community_id = $1 AND citizen = $2", community_id, citizen
            ):
                return "member"
            await conn.execute(
                "INSERT INTO join_requests (community_id, citizen, message, status) VALUES ($1, $2, $3, 'pending')"
                " ON CONFLICT (community_id, citizen) DO UPDATE SET message = EXCLUDED.message, status = 'pending',"
                " requested_at = now(), decided_by = NULL",
                community_id,
                citizen,
                message,
            )
            return "pending"

    async def requests(self, community_id: uuid.UUID) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM join_requests WHERE community_id = $1 AND status = 'pending'"
                " ORDER BY requested_at LIMIT 500",
                community_id,
            )
        )

    async def decide(self, community_id: uuid.UUID, citizen: str, approve: bool, by: str) -> tuple[str, int]:
        async with self.pool.acquire() as conn, conn.transaction():
            request = await conn.fetchrow(
                "SELECT status FROM join_requests WHERE community_id = $1 AND citizen = $2 FOR UPDATE",
                community_id,
                citizen,
            )
            if request is None:
                raise NotFound(f"no join request from {citizen[:60]!r}")
            if request["status"] != "pending":
                raise FailedPrecondition(f"the request was already {request['status']}")
            status = "approved" if approve else "rejected"
            await conn.execute(
                "UPDATE join_requests SET status = $3, decided_by = $4 WHERE community_id = $1 AND citizen = $2",
                community_id,
                citizen,
                status,
                by,
            )
            count = await conn.fetchval("SELECT member_count FROM groups WHERE community_id = $1", community_id)
            if approve:
                added = await conn.fetchval(
                    "INSERT INTO members (community_id, citizen, role) VALUES ($1, $2, 'member')"
                    " ON CONFLICT DO NOTHING RETURNING 1",
                    community_id,
                    citizen,
                )
                if added:
                    count = await conn.fetchval(
                        "UPDATE groups SET member_count = member_count + 1 WHERE community_id = $1"
                        " RETURNING member_count",
                        community_id,
                    )
            return status, int(count)

    async def set_role(self, community_id: uuid.UUID, citizen: str, role: str) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval(
                "SELECT role FROM members WHERE community_id = $1 AND citizen = $2 FOR UPDATE", community_id, citizen
            )
            if current is None:
                raise NotFound(f"{citizen[:60]!r} is not a member")
            if current == communities.OWNER:
                raise FailedPrecondition("the owner's role does not change")
            await conn.execute(
                "UPDATE members SET role = $3 WHERE community_id = $1 AND citizen = $2", community_id, citizen, role
            )
            return role

    async def leave(self, community_id: uuid.UUID, citizen: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            role = await conn.fetchval(
                "DELETE FROM members WHERE community_id = $1 AND citizen = $2 AND role <> 'owner' RETURNING role",
                community_id,
                citizen,
            )
            if role is None:
                current = await conn.fetchval(
                    "SELECT role FROM members WHERE community_id = $1 AND citizen = $2", community_id, citizen
                )
                if current == communities.OWNER:
                    raise FailedPrecondition("the owner cannot leave the community")
                raise FailedPrecondition("you are not a member")
            count: int = await conn.fetchval(
                "UPDATE groups SET member_count = member_count - 1 WHERE community_id = $1 RETURNING member_count",
                community_id,
            )
            return count

    async def post(
        self, community_id: uuid.UUID, author: str, text: str, request_id: str
    ) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM posts WHERE author = $1 AND request_id = $2", author, request_id
            )
            if existing is not None:
                return existing, False
            group = await conn.fetchrow("SELECT district_code FROM groups WHERE community_id = $1", community_id)
            assert group is not None
            post_id = uuid.uuid4()
            content_id = await content_store.post(conn, "post", str(post_id), author, text, group["district_code"])
            row = await conn.fetchrow(
                "INSERT INTO posts (post_id, community_id, author, content_id, status, request_id)"
                " VALUES ($1, $2, $3, $4, 'in_moderation', $5) RETURNING *",
                post_id,
                community_id,
                author,
                content_id,
                request_id,
            )
            assert row is not None
            return row, True

    async def posts(self, community_id: uuid.UUID, size: int, before: int | None) -> list[asyncpg.Record]:
        """Newest first; `before` is the last page's smallest sequence number."""
        return list(
            await self.pool.fetch(
                "SELECT * FROM posts WHERE community_id = $1 AND status = 'published' AND seq < $2"
                " ORDER BY seq DESC LIMIT $3",
                community_id,
                before if before is not None else 2**62,
                size + 1,
            )
        )
