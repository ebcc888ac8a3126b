"""Polls in PostgreSQL: one response per citizen, and results that move in the transaction of each response.

A response (or a change to it) updates `poll_counts`: one cell per (question, option, district, age band), the
old response's cells taken away and the new one's added with one `INSERT … ON CONFLICT DO UPDATE` whose rows are
sorted by key, so concurrent responses lock cells in the same order and never deadlock. Reading the results is
one indexed range of the poll's cells: live, and as fast at 100,000 responses as at 10.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sotong_common.errors import FailedPrecondition, InvalidArgument, NotFound
from sotong_community import announcements, content_store, polls, verification
from sotong_community.polls import Answer, Question


@dataclass(frozen=True)
class NewPoll:
    title: str
    description: str
    questions: list[Question]
    opens_at: datetime
    closes_at: datetime
    changeable: bool
    verification: str
    community_id: uuid.UUID | None
    request_id: str


class PollStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, creator: str, poll: NewPoll) -> tuple[asyncpg.Record, bool]:
        row = await self.pool.fetchrow(
            "INSERT INTO polls (poll_id, title, description, questions, opens_at, closes_at, changeable, verification,"
            " community_id, created_by, request_id) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (created_by, request_id) DO NOTHING RETURNING *",
            uuid.uuid4(),
            poll.title,
            poll.description,
            json.dumps([q.as_json() for q in poll.questions], ensure_ascii=False),
            poll.opens_at,
            poll.closes_at,
            poll.changeable,
            poll.verification,
            poll.community_id,
            creator,
            poll.request_id,
        )
        if row is not None:
            return row, True
        existing = await self.pool.fetchrow(
            "SELECT * FROM polls WHERE created_by = $1 AND request_id = $2", creator, poll.request_id
        )
        assert existing is not None
        return existing, False

    async def get(self, poll_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM polls WHERE poll_id = $1", poll_id)
        if row is None:
            raise NotFound(f"no poll {poll_id}")
        return row

    async def close(self, poll_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow(
            "UPDATE polls SET closed_at = coalesce(closed_at, now()) WHERE poll_id = $1 RETURNING *", poll_id
        )
        if row is None:
            raise NotFound(f"no poll {poll_id}")
        return row

    async def respond(
        self,
        citizen: str,
        level: str,
        poll_id: uuid.UUID,
        answers: list[Answer],
        district_code: str,
        age_band: str,
    ) -> tuple[bool, int]:
        """Store a citizen's response (or its change); (changed, revision)."""
        async with self.pool.acquire() as conn, conn.transaction():
            poll = await conn.fetchrow("SELECT * FROM polls WHERE poll_id = $1", poll_id)
            if poll is None:
                raise NotFound(f"no poll {poll_id}")
            verification.require(level, poll["verification"], "answering this poll")
            state = polls.state(poll["opens_at"], poll["closes_at"], poll["closed_at"], datetime.now(UTC))
            if state != "open":
                raise FailedPrecondition(f"the poll is {state}: it takes no responses")
            questions = [Question.from_json(q) for q in _json(poll["questions"])]
            problems = polls.answer_problems(questions, answers)
            if problems:
                raise InvalidArgument(problems)
            stored = [a.as_json() for a in answers]
            before = await conn.fetchrow(
                "SELECT * FROM poll_responses WHERE poll_id = $1 AND citizen = $2 FOR UPDATE", poll_id, citizen
            )
            if before is None:
                inserted = await conn.fetchrow(
                    "INSERT INTO poll_responses (poll_id, citizen, district_code, age_band, answers)"
                    " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING RETURNING revision",
                    poll_id,
                    citizen,
                    district_code,
                    age_band,
                    json.dumps(stored, ensure_ascii=False),
                )
                if inserted is None:  # the same citizen's other call got there first: this one is a change
                    before = await conn.fetchrow(
                        "SELECT * FROM poll_responses WHERE poll_id = $1 AND citizen = $2 FOR UPDATE", poll_id, citizen
                    )
                else:
                    await self._count(conn, poll_id, questions, [], "", "", answers, district_code, age_band)
                    await conn.execute(
                        "UPDATE polls SET response_count = response_count + 1 WHERE poll_id = $1", poll_id
                    )
                    await self._texts(conn, poll_id, citizen, questions, answers, district_code)
                    await announcements.participation(conn, "poll_responses", str(poll_id), district_code, "poll", 1)
                    return True, 1
            assert before is not None
            old = [Answer.from_json(a) for a in _json(before["answers"])]
            if old == answers and (before["district_code"], before["age_band"]) == (district_code, age_band):
                return False, before["revision"]
            if not poll["changeable"]:
                raise FailedPrecondition(
                    "you have answered this poll already, and it does not allow changing a response"
                )
            await self._count(
                conn,
                poll_id,
                questions,
                old,
                before["district_code"],
                before["age_band"],
                answers,
                district_code,
                age_band,
            )
            revision = before["revision"] + 1
            await conn.execute(
                "UPDATE poll_responses SET answers = $3::jsonb, district_code = $4, age_band = $5, revision = $6,"
                " at = now() WHERE poll_id = $1 AND citizen = $2",
                poll_id,
                citizen,
                json.dumps(stored, ensure_ascii=False),
                district_code,
                age_band,
                revision,
            )
            await conn.execute(
                "UPDATE poll_texts SET status = 'replaced' WHERE poll_id = $1 AND content_id IN"
                " (SELECT content_id FROM contents WHERE kind = 'poll_answer' AND author = $2)",
                poll_id,
                citizen,
            )
            await self._texts(conn, poll_id, citizen, questions, answers, district_code)
            return True, revision

    async def _count(
        self,
        conn: Any,
        poll_id: uuid.UUID,
        questions: list[Question],
        old: list[Answer],
        old_district: str,
        old_band: str,
        new: list[Answer],
        district: str,
        band: str,
    ) -> None:
        deltas: dict[tuple[int, int, str, str], list[int]] = {}
        for answers, where, sign in ((old, (old_district, old_band), -1), (new, (district, band), 1)):
            for cell in polls.cells(questions, answers):
                key = (cell.question, cell.option, *where)
                found = deltas.setdefault(key, [0, 0])
                found[0] += sign * cell.count
                found[1] += sign * cell.points
        keys = sorted(k for k, v in deltas.items() if v != [0, 0])
        if not keys:
            return
        await conn.execute(
            "INSERT INTO poll_counts AS c (poll_id, question, option, district_code, age_band, count, points)"
            " SELECT $1, * FROM unnest($2::int[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])"
            " ON CONFLICT (poll_id, question, option, district_code, age_band) DO UPDATE SET"
            " count = c.count + EXCLUDED.count, points = c.points + EXCLUDED.points",
            poll_id,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [k[3] for k in keys],
            [deltas[k][0] for k in keys],
            [deltas[k][1] for k in keys],
        )

    async def _texts(
        self,
        conn: Any,
        poll_id: uuid.UUID,
        citizen: str,
        questions: list[Question],
        answers: list[Answer],
        district: str,
    ) -> None:
        for answer in answers:
            if questions[answer.question].kind == polls.FREE_TEXT:
                entity = str(uuid.uuid4())
                content_id = await content_store.post(conn, "poll_answer", entity, citizen, answer.text, district)
                await conn.execute(
                    "INSERT INTO poll_texts (content_id, poll_id, question, status)"
                    " VALUES ($1, $2, $3, 'in_moderation')",
                    content_id,
                    poll_id,
                    answer.question,
                )

    async def results(self, poll_id: uuid.UUID) -> tuple[asyncpg.Record, list[asyncpg.Record], list[asyncpg.Record]]:
        poll = await self.get(poll_id)
        cells = await self.pool.fetch(
            "SELECT * FROM poll_counts WHERE poll_id = $1 AND (count <> 0 OR points <> 0)"
            " ORDER BY question, option, district_code, age_band",
            poll_id,
        )
        texts = await self.pool.fetch(
            "SELECT question, shown_text FROM (SELECT question, shown_text, at, row_number() OVER"
            " (PARTITION BY question ORDER BY at DESC) AS n FROM poll_texts WHERE poll_id = $1"
            " AND status = 'published') t WHERE n <= 50 ORDER BY question, at DESC",
            poll_id,
        )
        return poll, list(cells), list(texts)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
