"""Guideline versions, the staff roster (subject ids and departments only), acknowledgements, training sessions
and attendance in PostgreSQL. Versions are numbered in publication order under a lock, so two operators
publishing at once get 2 and 3, never 2 twice."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from sotong_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from sotong_community import guidelines
from sotong_community.guidelines import StaffState


class GuidelineStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def publish(self, caller: str, title: str, body: str, request_id: str) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM guidelines WHERE published_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            await conn.execute("LOCK TABLE guidelines IN SHARE ROW EXCLUSIVE MODE")
            row = await conn.fetchrow(
                "INSERT INTO guidelines (version, title, body, published_by, request_id)"
                " SELECT coalesce(max(version), 0) + 1, $1, $2, $3, $4 FROM guidelines RETURNING *",
                title,
                body,
                caller,
                request_id,
            )
            assert row is not None
            return row, True

    async def current_version(self) -> int:
        return int(await self.pool.fetchval("SELECT coalesce(max(version), 0) FROM guidelines"))

    async def get(self, version: int) -> asyncpg.Record:
        if version == 0:
            row = await self.pool.fetchrow("SELECT * FROM guidelines ORDER BY version DESC LIMIT 1")
        else:
            row = await self.pool.fetchrow("SELECT * FROM guidelines WHERE version = $1", version)
        if row is None:
            raise NotFound(f"no guidelines version {version}" if version else "no guidelines are published yet")
        return row

    async def acknowledged_at(self, staff: str, version: int) -> datetime | None:
        found: datetime | None = await self.pool.fetchval(
            "SELECT acknowledged_at FROM guideline_acks WHERE staff = $1 AND version = $2", staff, version
        )
        return found

    async def register_staff(self, staff: str, department: str) -> bool:
        row = await self.pool.fetchval(
            "INSERT INTO staff (staff, department) VALUES ($1, $2) ON CONFLICT (staff) DO UPDATE"
            " SET department = EXCLUDED.department WHERE staff.department <> EXCLUDED.department RETURNING 1",
            staff,
            department,
        )
        return bool(row == 1)

    async def acknowledge(self, staff: str, version: int) -> tuple[bool, datetime]:
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM staff WHERE staff = $1", staff) is None:
                raise FailedPrecondition("staff: you are not on a department's roster (RegisterStaff)")
            current = int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM guidelines"))
            problem = guidelines.acknowledgement_problem(version, current)
            if problem is not None:
                raise FailedPrecondition(problem)
            inserted = await conn.fetchval(
                "INSERT INTO guideline_acks (staff, version) VALUES ($1, $2) ON CONFLICT DO NOTHING"
                " RETURNING acknowledged_at",
                staff,
                version,
            )
            if inserted is not None:
                return True, inserted
            at = await conn.fetchval(
                "SELECT acknowledged_at FROM guideline_acks WHERE staff = $1 AND version = $2", staff, version
            )
            return False, at

    async def create_session(
        self, caller: str, title: str, starts_at: datetime, venue: str, version: int, request_id: str
    ) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM training_sessions WHERE created_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            if version and await conn.fetchval("SELECT 1 FROM guidelines WHERE version = $1", version) is None:
                raise InvalidArgument(FieldViolation("session.guidelines_version", f"no guidelines version {version}"))
            row = await conn.fetchrow(
                "INSERT INTO training_sessions (session_id, title, starts_at, venue, guidelines_version, created_by,"
                " request_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
                uuid.uuid4(),
                title,
                starts_at,
                venue,
                version,
                caller,
                request_id,
            )
            assert row is not None
            return row, True

    async def session(self, session_id: uuid.UUID) -> tuple[asyncpg.Record, int]:
        row = await self.pool.fetchrow("SELECT * FROM training_sessions WHERE session_id = $1", session_id)
        if row is None:
            raise NotFound(f"no training session {session_id}")
        count = await self.pool.fetchval("SELECT count(*) FROM training_attendance WHERE session_id = $1", session_id)
        return row, int(count)

    async def record_attendance(self, session_id: uuid.UUID, staff: list[str]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM training_sessions WHERE session_id = $1", session_id) is None:
                raise NotFound(f"no training session {session_id}")
            known = await conn.fetch("SELECT staff FROM staff WHERE staff = ANY($1::text[])", staff)
            unknown = guidelines.unknown_staff(staff, (r["staff"] for r in known))
            if unknown:
                raise InvalidArgument(
                    [FieldViolation(f"staff[{staff.index(s)}]", f"{s!r} is not on a roster") for s in unknown]
                )
            rows = await conn.fetch(
                "INSERT INTO training_attendance (session_id, staff) SELECT $1, unnest($2::text[])"
                " ON CONFLICT DO NOTHING RETURNING staff",
                session_id,
                sorted(set(staff)),
            )
            return len(rows)

    async def states(self, department: str) -> list[StaffState]:
        rows = await self.pool.fetch(
            "SELECT s.staff, s.department,"
            " coalesce((SELECT max(version) FROM guideline_acks a WHERE a.staff = s.staff), 0) AS acknowledged,"
            " (SELECT max(t.starts_at) FROM training_attendance x JOIN training_sessions t USING (session_id)"
            "  WHERE x.staff = s.staff) AS trained"
            " FROM staff s WHERE ($1 = '' OR s.department = $1) ORDER BY s.department, s.staff",
            department,
        )
        return [StaffState(r["staff"], r["department"], int(r["acknowledged"]), r["trained"]) for r in rows]
