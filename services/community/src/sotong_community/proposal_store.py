"""Proposals in PostgreSQL: each change of state is one transaction that updates the row, appends the audited
transition and queues its community.proposal-changed.v1 event (and, where a text changed, the content for
moderation).

The state machine's rules are `proposals`'s; this module applies them under a row lock (`SELECT … FOR UPDATE`),
so two operators publishing an answer at the same moment, or a threshold crossed while the author withdraws, take
turns and the history stays one line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from sotong.community.v1 import community_events_pb2 as epb
from sotong_common import auth, database
from sotong_common.errors import FailedPrecondition, NotFound, PermissionDenied
from sotong_community import announcements, moderated, proposals
from sotong_community.proposals import Step
from sotong_community.spaces import AnswerState, Space

# Columns a step may set besides state and sequence.
_SETTABLE = frozenset(
    {"published_at", "forum_opened_at", "answer_deadline", "shown_title", "shown_body", "clauses", "revision",
     "title", "body", "category", "district_code"}
)  # fmt: skip


def space_from_row(row: Mapping[str, Any]) -> Space:
    states = json.loads(row["answer_states"]) if isinstance(row["answer_states"], str) else row["answer_states"]
    return Space(
        space_id=row["space_id"],
        title=row["title"],
        support_threshold=row["support_threshold"],
        answer_threshold=row["answer_threshold"],
        answer_period=timedelta(seconds=row["answer_period_s"]),
        archive_after=timedelta(seconds=row["archive_after_s"]),
        support_verification=row["support_verification"],
        answer_states=tuple(AnswerState(s["code"], s["kind"], s["label"]) for s in states),
        department=row["department"],
    )


async def apply_step(conn: database.Connection, row: asyncpg.Record, step: Step, **sets: Any) -> asyncpg.Record:
    """Move the (locked) proposal `row` by `step`: the row, its transition and its event, in the caller's
    transaction. Returns the updated row."""
    unknown = set(sets) - _SETTABLE
    if unknown:
        raise ValueError(f"a step cannot set {sorted(unknown)}")
    columns = ["state = $2", "sequence = $3"]
    values: list[Any] = [row["proposal_id"], step.to_state, row["sequence"] + 1]
    for name, value in sets.items():
        values.append(value)
        columns.append(f"{name} = ${len(values)}")
    updated = await conn.fetchrow(
        f"UPDATE proposals SET {', '.join(columns)} WHERE proposal_id = $1 RETURNING *", *values
    )
    assert updated is not None
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO transitions (proposal_id, sequence, from_state, to_state, transition, actor, reason, at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        row["proposal_id"],
        updated["sequence"],
        step.from_state,
        step.to_state,
        step.transition,
        step.actor,
        step.reason,
        now,
    )
    answer_state = ""
    if step.transition == "answer_published":
        answer_state = (
            await conn.fetchval("SELECT published_state FROM answers WHERE proposal_id = $1", row["proposal_id"]) or ""
        )
    event = epb.ProposalChanged(
        proposal_id=str(row["proposal_id"]),
        space_id=updated["space_id"],
        sequence=updated["sequence"],
        from_state=step.from_state,
        to_state=step.to_state,
        transition=step.transition,
        actor=step.actor,
        reason=step.reason,
        at=announcements.ts(now),
        support_count=updated["support_count"],
        participant_count=updated["participant_count"],
        answer_state=answer_state,
        district_code=updated["district_code"],
        category=updated["category"],
        department=updated["department"],
    )
    if updated["answer_deadline"] is not None:
        event.answer_deadline.CopyFrom(announcements.ts(updated["answer_deadline"]))
    await announcements.proposal_changed(conn, event)
    return updated


@dataclass(frozen=True)
class Draft:
    space_id: str
    title: str
    body: str
    category: str
    district_code: str
    community_id: uuid.UUID | None
    draft: bool
    request_id: str


class ProposalStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- spaces ---------------------------------------------------------------------------------------------------

    async def space(self, space_id: str, conn: database.Connection | None = None) -> Space:
        row = await (conn or self.pool).fetchrow("SELECT * FROM spaces WHERE space_id = $1", space_id)
        if row is None:
            raise NotFound(f"no participation space {space_id!r}")
        return space_from_row(dict(row))

    async def upsert_space(self, space: Space) -> Space:
        states = json.dumps([{"code": s.code, "kind": s.kind, "label": s.label} for s in space.answer_states])
        await self.pool.execute(
            "INSERT INTO spaces (space_id, title, support_threshold, answer_threshold, answer_period_s,"
            " archive_after_s, support_verification, answer_states, department, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, now())"
            " ON CONFLICT (space_id) DO UPDATE SET title = EXCLUDED.title,"
            " support_threshold = EXCLUDED.support_threshold, answer_threshold = EXCLUDED.answer_threshold,"
            " answer_period_s = EXCLUDED.answer_period_s, archive_after_s = EXCLUDED.archive_after_s,"
            " support_verification = EXCLUDED.support_verification, answer_states = EXCLUDED.answer_states,"
            " department = EXCLUDED.department, updated_at = now()",
            space.space_id,
            space.title,
            space.support_threshold,
            space.answer_threshold,
            int(space.answer_period.total_seconds()),
            int(space.archive_after.total_seconds()),
            space.support_verification,
            states,
            space.department,
        )
        return await self.space(space.space_id)

    # --- authoring --------------------------------------------------------------------------------------------------

    async def create(self, author: str, draft: Draft) -> tuple[asyncpg.Record, bool]:
        """A new proposal (a draft, or straight into moderation); the same request id returns the first one."""
        async with self.pool.acquire() as conn, conn.transaction():
            space = await self.space(draft.space_id, conn)
            row = await conn.fetchrow(
                "INSERT INTO proposals (proposal_id, space_id, author, community_id, title, body, category,"
                " district_code, department, state, request_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (author, request_id) DO NOTHING RETURNING *",
                uuid.uuid4(),
                draft.space_id,
                author,
                draft.community_id,
                draft.title,
                draft.body,
                draft.category,
                draft.district_code,
                space.department,
                proposals.DRAFT,
                draft.request_id,
            )
            if row is None:
                existing = await conn.fetchrow(
                    "SELECT * FROM proposals WHERE author = $1 AND request_id = $2", author, draft.request_id
                )
                assert existing is not None
                return existing, False
            row = await apply_step(conn, row, Step("", proposals.DRAFT, "created", author))
            if not draft.draft:
                row = await self._to_moderation(conn, row, "submitted", author)
            return row, True

    async def _to_moderation(
        self, conn: database.Connection, row: asyncpg.Record, transition: str, actor: str, **sets: Any
    ) -> asyncpg.Record:
        step = proposals.step(row["state"], transition, proposals.IN_MODERATION, actor)
        row = await apply_step(conn, row, step, **sets)
        content_id = moderated.content_id("proposal", str(row["proposal_id"]), row["revision"])
        text = proposals.content_text(row["title"], row["body"])
        await conn.execute(
            "INSERT INTO contents (content_id, kind, entity, author, text, status, district_code)"
            " VALUES ($1, 'proposal', $2, $3, $4, 'in_moderation', $5) ON CONFLICT DO NOTHING",
            content_id,
            str(row["proposal_id"]),
            row["author"],
            text,
            row["district_code"],
        )
        reason = epb.POST_REASON_EDITED if row["revision"] > 1 else epb.POST_REASON_NEW
        await announcements.content_posted(
            conn, content_id, moderated.content_type("proposal"), text, row["author"], reason
        )
        return row

    async def _mine(self, conn: database.Connection, proposal_id: uuid.UUID, author: str) -> asyncpg.Record:
        row = await conn.fetchrow("SELECT * FROM proposals WHERE proposal_id = $1 FOR UPDATE", proposal_id)
        if row is None:
            raise NotFound(f"no proposal {proposal_id}")
        if not auth.same_subject(row["author"], author):
            raise PermissionDenied("only the proposal's author may do this")
        return row

    async def edit(
        self, author: str, proposal_id: uuid.UUID, title: str, body: str, category: str, district_code: str
    ) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._mine(conn, proposal_id, author)
            if row["support_count"] > 0:
                raise FailedPrecondition("a proposal can be edited only before its first support")
            sets = {
                "title": title,
                "body": body,
                "category": category,
                "district_code": district_code,
                "revision": row["revision"] + 1,
            }
            if row["state"] == proposals.DRAFT:
                return await apply_step(
                    conn, row, proposals.step(row["state"], "edited", proposals.DRAFT, author), **sets
                )
            return await self._to_moderation(conn, row, "edited", author, **sets)

    async def submit(self, author: str, proposal_id: uuid.UUID) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._mine(conn, proposal_id, author)
            return await self._to_moderation(conn, row, "submitted", author)

    async def withdraw(self, author: str, proposal_id: uuid.UUID, reason: str) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._mine(conn, proposal_id, author)
            step = proposals.step(row["state"], "withdrawn", proposals.WITHDRAWN, author, reason)
            return await apply_step(conn, row, step)

    # --- moderation -------------------------------------------------------------------------------------------------

    async def apply_moderation(
        self, conn: database.Connection, proposal_id: str, revision: int | None, outcome: moderated.Outcome
    ) -> bool:
        """A decision about a revision's text: publish it, or reject/remove it (the author sees the clauses).

        A decision about an older revision changes nothing (the author has edited since). Returns whether the
        proposal was published for the first time (it then counts as a proposal in the statistics).
        """
        row = await conn.fetchrow("SELECT * FROM proposals WHERE proposal_id = $1::text::uuid FOR UPDATE", proposal_id)
        if row is None or (revision is not None and revision != row["revision"]):
            return False
        state = row["state"]
        if outcome.status == moderated.PUBLISHED and state in proposals.TRANSITIONS["published"]:
            title, body = proposals.split_content(outcome.shown_text, row["title"])
            first = row["published_at"] is None
            to = proposals.published_state(row["forum_opened_at"] is not None)
            await apply_step(
                conn,
                row,
                Step(state, to, "published", "moderation"),
                shown_title=title,
                shown_body=body,
                clauses=[],
                published_at=row["published_at"] or datetime.now(UTC),
            )
            if first:
                await announcements.participation(
                    conn, "proposals", proposal_id, row["district_code"], row["category"], 1
                )
            return first
        if outcome.status == moderated.REMOVED and state in proposals.TRANSITIONS["moderation_removed"]:
            to = proposals.REJECTED if state == proposals.IN_MODERATION else proposals.REMOVED
            reason = ", ".join(outcome.clauses)
            await apply_step(
                conn, row, Step(state, to, "moderation_removed", "moderation", reason), clauses=list(outcome.clauses)
            )
        return False

    # --- answers and accountability ---------------------------------------------------------------------------------

    async def stage_answer(self, proposal_id: uuid.UUID, state_code: str, text: str, who: str) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, proposal_id)
            space = await self.space(row["space_id"], conn)
            state = space.answer_state(state_code)
            if state is None:
                codes = ", ".join(s.code for s in space.answer_states)
                raise FailedPrecondition(f"answer state {state_code!r} is not one of this space's ({codes})")
            if row["state"] not in proposals.ANSWERABLE:
                raise FailedPrecondition(f"a proposal in state {row['state']} cannot be answered")
            await conn.execute(
                "INSERT INTO answers (proposal_id, state_code, kind, label, text, staged_by, staged_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (proposal_id) DO UPDATE SET"
                " state_code = EXCLUDED.state_code, kind = EXCLUDED.kind, label = EXCLUDED.label,"
                " text = EXCLUDED.text, staged_by = EXCLUDED.staged_by, staged_at = now()",
                proposal_id,
                state.code,
                state.kind,
                state.label,
                text,
                who,
            )
            return await apply_step(conn, row, Step(row["state"], row["state"], "answer_staged", who, state.code))

    async def publish_answer(self, proposal_id: uuid.UUID, who: str) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, proposal_id)
            answer = await conn.fetchrow("SELECT * FROM answers WHERE proposal_id = $1", proposal_id)
            if answer is None:
                raise FailedPrecondition("stage an answer before publishing it")
            if (
                answer["published_at"] is not None
                and answer["published_text"] == answer["text"]
                and (answer["published_state"] == answer["state_code"])
            ):
                raise FailedPrecondition("this answer is already published (stage a new one to change it)")
            step = proposals.step(row["state"], "answer_published", proposals.ANSWERED, who, answer["state_code"])
            await conn.execute(
                "UPDATE answers SET published_at = now(), published_by = $2, published_text = text,"
                " published_state = state_code WHERE proposal_id = $1",
                proposal_id,
                who,
            )
            return await apply_step(conn, row, step)

    async def add_progress(
        self, proposal_id: uuid.UUID, percent: int, text: str, done: bool, who: str
    ) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, proposal_id)
            kind = await conn.fetchval(
                "SELECT kind FROM answers WHERE proposal_id = $1 AND published_at IS NOT NULL", proposal_id
            )
            if kind not in ("accepted", "partially_accepted"):
                raise FailedPrecondition("progress is reported for accepted or partially accepted proposals")
            transition = "done" if done else "progress"
            to = proposals.DONE if done else proposals.IN_PROGRESS
            step = proposals.step(row["state"], transition, to, who, f"{percent}%")
            seq = await conn.fetchval(
                "SELECT coalesce(max(seq), 0) + 1 FROM progress WHERE proposal_id = $1", proposal_id
            )
            await conn.execute(
                "INSERT INTO progress (proposal_id, seq, percent, text, done, by) VALUES ($1, $2, $3, $4, $5, $6)",
                proposal_id,
                seq,
                percent,
                text,
                done,
                who,
            )
            return await apply_step(conn, row, step)

    async def _locked(self, conn: database.Connection, proposal_id: uuid.UUID) -> asyncpg.Record:
        row = await conn.fetchrow("SELECT * FROM proposals WHERE proposal_id = $1 FOR UPDATE", proposal_id)
        if row is None:
            raise NotFound(f"no proposal {proposal_id}")
        return row

    # --- timers (the worker) ----------------------------------------------------------------------------------------

    async def archive_due(self, limit: int = 200) -> int:
        """Archive proposals that reached no threshold within their space's period; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT p.* FROM proposals p JOIN spaces s USING (space_id)"
                " WHERE p.state IN ('published', 'forum_open')"
                " AND p.published_at <= now() - make_interval(secs => s.archive_after_s)"
                " ORDER BY p.published_at LIMIT $1 FOR UPDATE OF p SKIP LOCKED",
                limit,
            )
            for row in rows:
                await apply_step(
                    conn, row, Step(row["state"], proposals.ARCHIVED, "archived", "system", "no threshold")
                )
            return len(rows)

    async def overdue_due(
        self, escalate: Callable[[database.Connection, asyncpg.Record], Awaitable[None]], limit: int = 200
    ) -> list[asyncpg.Record]:
        """Mark answers past their deadline overdue and `escalate` each in the same transaction; returns them."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT * FROM proposals WHERE state = 'answer_required' AND answer_deadline <= now()"
                " ORDER BY answer_deadline LIMIT $1 FOR UPDATE SKIP LOCKED",
                limit,
            )
            out = []
            for row in rows:
                step = Step(row["state"], proposals.ANSWER_OVERDUE, "answer_overdue", "system", "deadline passed")
                updated = await apply_step(conn, row, step)
                await escalate(conn, updated)
                out.append(updated)
            return out

    # --- reading ----------------------------------------------------------------------------------------------------

    async def view(self, proposal_id: uuid.UUID, caller: str) -> tuple[asyncpg.Record, dict[str, Any]]:
        """The proposal, its answer, progress and history, and what the caller did (supported, liked, in forum)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT p.*,"
                " EXISTS (SELECT 1 FROM supports s WHERE s.proposal_id = p.proposal_id"
                " AND s.citizen = $2) AS supported,"
                " EXISTS (SELECT 1 FROM likes l WHERE l.proposal_id = p.proposal_id AND l.citizen = $2) AS liked,"
                " EXISTS (SELECT 1 FROM forum_participants f WHERE f.proposal_id = p.proposal_id"
                " AND f.citizen = $2) AS in_forum"
                " FROM proposals p WHERE p.proposal_id = $1",
                proposal_id,
                caller,
            )
            if row is None:
                raise NotFound(f"no proposal {proposal_id}")
            extra = {
                "answer": await conn.fetchrow("SELECT * FROM answers WHERE proposal_id = $1", proposal_id),
                "progress": await conn.fetch("SELECT * FROM progress WHERE proposal_id = $1 ORDER BY seq", proposal_id),
                "history": await conn.fetch(
                    "SELECT * FROM transitions WHERE proposal_id = $1 ORDER BY sequence", proposal_id
                ),
            }
            return row, extra

    async def page(
        self, space_id: str, state: str, size: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[asyncpg.Record]:
        """Public proposals of a space, newest published first (keyset: one index range per page)."""
        args: list[Any] = [space_id]
        where = ["space_id = $1", "published_at IS NOT NULL", "state NOT IN ('removed', 'rejected')"]
        if state:
            args.append(state)
            where.append(f"state = ${len(args)}")
        if after is not None:
            args.extend(after)
            where.append(f"(published_at, proposal_id) < (${len(args) - 1}, ${len(args)})")
        args.append(size + 1)
        return list(
            await self.pool.fetch(
                f"SELECT * FROM proposals WHERE {' AND '.join(where)}"
                f" ORDER BY published_at DESC, proposal_id DESC LIMIT ${len(args)}",
                *args,
            )
        )
