"""Supports, likes and forum participation: counted exactly once, the count moving in the same commit.

Decidim counted supports in a cache updated after the fact (its #6262: counters that lag and drift); here the
count is a column of the proposal updated in the transaction that inserts the support, so the count a citizen
reads is the count of rows, at once, whatever is retried or clicked twice (the primary key (proposal, citizen)
turns a repeat into nothing).

Every call for a hot proposal would wait on that row's lock, one commit after another. So concurrent calls share
one transaction (group commit, like intake's `group_commit`): callers queue their operation and wait; one
flusher takes what is queued and, in one transaction, locks the proposals involved, inserts and deletes the
ledger rows with one statement each, updates the counts with one statement, applies the thresholds the new
counts cross (forum opened, answer required: audited transitions with their events) and adds the batch's net
change of supports to the proposal's not-yet-announced sum. An idle server flushes a lone call at once; under
load, batches grow with what arrived during the previous flush. Each caller gets its answer only after the
commit.

The opinion statistics hear of supports through anonymous participation facts. One fact per batch cost more
than the support itself (measured: every fact is an outbox row, a produce, a fetch and a Kafka transaction in
the worker, about 0.7 ms of CPU per support at ~10 supports a batch), so the sum waits in the proposal's row
(`supports_unannounced`, `supports_unannounced_since`) and is announced by a batch that finds it older than
`announce_every` or from an earlier hour, or by the flusher's sweep when no batch comes: the sum moves to the
outbox and the row's sum to zero in one transaction, so each support is announced exactly once, and every
support of a fact falls in the hour of its `at` (the oldest one's time), so in the same statistics buckets.

Within one batch, a second operation by the same citizen on the same ledger and proposal waits for the next
batch, so each call sees the effect of the ones before it (support then withdraw, twice support).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from sotong_common import database, logs
from sotong_common.errors import DomainError, FailedPrecondition, NotFound
from sotong_community import announcements, proposals, verification
from sotong_community.proposal_store import apply_step, space_from_row

SUPPORTS, LIKES, FORUM = "supports", "likes", "forum_participants"
ANNOUNCE_EVERY = timedelta(seconds=1)
"""Longest a support waits to be announced to the opinion statistics while supports keep coming (default)."""
_COUNT_COLUMN = {SUPPORTS: "support_count", LIKES: "like_count", FORUM: "participant_count"}


@dataclass
class Operation:
    ledger: str
    proposal_id: uuid.UUID
    citizen: str
    add: bool
    verification: str = "none"
    stance: str = ""
    future: asyncio.Future[Result] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(frozen=True)
class Result:
    count: int
    state: str
    changed: bool


class Ledger:
    """The group-committed ledger of one API process (`start`/`stop` in the process lifecycle)."""

    def __init__(self, pool: asyncpg.Pool, max_batch: int = 500, announce_every: timedelta = ANNOUNCE_EVERY) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._announce_every = announce_every
        self._pending: list[Operation] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._log = logs.get("community.ledger")
        self.batches = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="community-ledger")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(self, op: Operation) -> Result:
        self._pending.append(op)
        self._wake.set()
        return await op.future

    async def _flush_forever(self) -> None:
        conn: PoolConnectionProxy[asyncpg.Record] | None = None
        every = self._announce_every.total_seconds()
        sweep_at = time.monotonic() + every
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, sweep_at - time.monotonic())):
                        await self._wake.wait()
                batch: list[Operation] = []
                deferred: list[Operation] = []
                seen: set[tuple[str, uuid.UUID, str]] = set()
                for op in self._pending:
                    key = (op.ledger, op.proposal_id, op.citizen)
                    if key in seen or len(batch) >= self._max_batch:
                        deferred.append(op)
                    else:
                        seen.add(key)
                        batch.append(op)
                self._pending = deferred
                if not self._pending:
                    self._wake.clear()
                sweep = time.monotonic() >= sweep_at
                if sweep:
                    sweep_at = time.monotonic() + every
                if not batch and not sweep:
                    continue
                if conn is None:
                    if not batch:  # a sweep alone waits for the database rather than end the flusher
                        try:
                            conn = await self._pool.acquire()
                        except Exception as exc:
                            self._log.warning("announcing waiting supports failed", error=repr(exc))
                            continue
                    else:
                        conn = await self._pool.acquire()
                if batch:
                    await self._flush(conn, batch)
                if sweep and not conn.is_closed():
                    await self._sweep(conn)
                if conn.is_closed():
                    await self._pool.release(conn)
                    conn = None
        finally:
            if conn is not None:
                await self._pool.release(conn)

    async def _sweep(self, conn: database.Connection) -> None:
        """Announce the sums that waited long enough (a proposal whose supports stopped coming)."""
        try:
            async with conn.transaction():
                await announce_due(conn, self._announce_every)
        except Exception as exc:  # the database went away: the sums stay in their rows for the next sweep
            self._log.warning("announcing waiting supports failed", error=repr(exc))

    async def _flush(self, conn: database.Connection, batch: list[Operation]) -> None:
        try:
            async with conn.transaction():
                results = await apply(conn, batch, self._announce_every)
        except Exception as exc:  # the database went away mid-batch: every caller hears it (UNAVAILABLE-ish)
            self._log.warning("ledger batch failed", size=len(batch), error=repr(exc))
            for op in batch:
                if not op.future.done():
                    op.future.set_exception(exc)
            return
        self.batches += 1
        for op, result in zip(batch, results, strict=True):
            if op.future.done():  # a caller that went away (cancelled RPC) no longer listens
                continue
            if isinstance(result, Exception):
                op.future.set_exception(result)
            else:
                op.future.set_result(result)


async def apply(
    conn: database.Connection, batch: list[Operation], announce_every: timedelta = ANNOUNCE_EVERY
) -> list[Result | DomainError]:
    """Apply `batch` (at most one operation per citizen, ledger and proposal) inside the caller's transaction."""
    ids = sorted({op.proposal_id for op in batch})
    rows = await conn.fetch(
        "SELECT p.*, s.title AS space_title, s.support_threshold, s.answer_threshold, s.answer_period_s,"
        " s.archive_after_s, s.support_verification, s.answer_states, s.department AS space_department"
        " FROM proposals p JOIN spaces s USING (space_id)"
        " WHERE p.proposal_id = ANY($1::uuid[]) ORDER BY p.proposal_id FOR UPDATE OF p",
        ids,
    )
    found = {r["proposal_id"]: r for r in rows}
    outcome: list[Result | DomainError | None] = [None] * len(batch)
    live: list[int] = []
    for i, op in enumerate(batch):
        row = found.get(op.proposal_id)
        try:
            if row is None:
                raise NotFound(f"no proposal {op.proposal_id}")
            _check(op, row)
        except DomainError as error:
            outcome[i] = error
            continue
        live.append(i)
    changed: dict[int, bool] = {}
    for ledger in (SUPPORTS, LIKES, FORUM):
        changed.update(await _write(conn, ledger, [(i, batch[i]) for i in live if batch[i].ledger == ledger]))
    deltas: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: {SUPPORTS: 0, LIKES: 0, FORUM: 0})
    for i, counts_change in changed.items():
        if counts_change:
            op = batch[i]
            deltas[op.proposal_id][op.ledger] += 1 if op.add else -1
    counts = {
        pid: (r["support_count"], r["like_count"], r["participant_count"], r["state"]) for pid, r in found.items()
    }
    if deltas:
        keys = sorted(deltas)
        now = datetime.now(UTC)
        waiting = {k: unannounced_after(found[k], deltas[k][SUPPORTS], now, announce_every) for k in keys}
        updated = await conn.fetch(
            "UPDATE proposals p SET support_count = p.support_count + d.s, like_count = p.like_count + d.l,"
            " participant_count = p.participant_count + d.f, supports_unannounced = d.u,"
            " supports_unannounced_since = d.since"
            " FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[])"
            " AS d(id, s, l, f, u, since)"
            " WHERE p.proposal_id = d.id RETURNING p.*",
            keys,
            [deltas[k][SUPPORTS] for k in keys],
            [deltas[k][LIKES] for k in keys],
            [deltas[k][FORUM] for k in keys],
            [waiting[k].sum for k in keys],
            [waiting[k].since for k in keys],
        )
        for row in updated:
            row = await _thresholds(conn, row, found[row["proposal_id"]])
            counts[row["proposal_id"]] = (
                row["support_count"],
                row["like_count"],
                row["participant_count"],
                row["state"],
            )
        for key in keys:
            due = waiting[key].due
            if due is not None and due[0]:
                base = found[key]
                await announcements.participation(
                    conn, "supports", str(key), base["district_code"], base["category"], due[0], at=due[1]
                )
    for i in live:
        op = batch[i]
        supports, likes, participants, state = counts[op.proposal_id]
        count = {SUPPORTS: supports, LIKES: likes, FORUM: participants}[op.ledger]
        outcome[i] = Result(count, state, i in changed)
    return [o for o in outcome if o is not None]


@dataclass(frozen=True)
class Unannounced:
    """A proposal's supports not yet announced after a batch (`sum` since `since`), and what the batch announces
    (`due`: the earlier sum and the time of its oldest support), if anything."""

    sum: int
    since: datetime | None
    due: tuple[int, datetime] | None


def unannounced_after(row: asyncpg.Record, delta: int, now: datetime, every: timedelta) -> Unannounced:
    """What waits (and what is announced) after a batch that changes the proposal `row`'s supports by `delta`."""
    waiting, since = row["supports_unannounced"], row["supports_unannounced_since"]
    due = None
    if since is not None and announce_due_at(since, now, every):
        due, waiting, since = (waiting, since), 0, None
    if delta:
        waiting += delta
        since = since or now
    return Unannounced(waiting, since, due)


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def announce_due_at(since: datetime, now: datetime, every: timedelta) -> bool:
    """Whether a sum whose oldest support is from `since` is announced now rather than added to: it waited
    `every`, or `now` is in a later hour (Seoul's hours are UTC's), whose supports belong to other buckets."""
    return now - since >= every or _hour(now) != _hour(since)


async def announce_due(conn: database.Connection, every: timedelta) -> int:
    """Announce every proposal's waiting sum that is due (in the caller's transaction): how many facts."""
    now = datetime.now(UTC)
    cutoff = max(now - every, _hour(now) - timedelta(microseconds=1))
    rows = await conn.fetch(
        "SELECT proposal_id, district_code, category, supports_unannounced, supports_unannounced_since"
        " FROM proposals WHERE supports_unannounced_since <= $1 ORDER BY proposal_id FOR UPDATE",
        cutoff,
    )
    if not rows:
        return 0
    await conn.execute(
        "UPDATE proposals SET supports_unannounced = 0, supports_unannounced_since = NULL"
        " WHERE proposal_id = ANY($1::uuid[])",
        [r["proposal_id"] for r in rows],
    )
    told = 0
    for r in rows:
        if r["supports_unannounced"]:
            await announcements.participation(
                conn,
                "supports",
                str(r["proposal_id"]),
                r["district_code"],
                r["category"],
                r["supports_unannounced"],
                at=r["supports_unannounced_since"],
            )
            told += 1
    return told


def _check(op: Operation, row: asyncpg.Record) -> None:
    state = row["state"]
    if op.ledger == SUPPORTS:
        if op.add:
            proposals.require_supportable(state)
            verification.require(op.verification, row["support_verification"], "supporting a proposal")
        elif state not in proposals.SUPPORTABLE:
            raise FailedPrecondition(f"a proposal in state {state} is closed: its supports no longer change")
    elif op.ledger == FORUM:
        proposals.require_forum(state)
        verification.require(op.verification, row["support_verification"], "taking part in a proposal's forum")
    elif op.ledger == LIKES and row["published_at"] is None:
        raise FailedPrecondition("only a published proposal can be liked")


async def _write(conn: database.Connection, ledger: str, ops: list[tuple[int, Operation]]) -> dict[int, bool]:
    """Insert the additions and delete the removals of one ledger: the indexes whose row changed, each with
    whether the change moves the count (a forum participant changing their stance does not)."""
    changed: dict[int, bool] = {}
    adds = [(i, op) for i, op in ops if op.add]
    removes = [(i, op) for i, op in ops if not op.add]
    if adds:
        if ledger == FORUM:
            rows = await conn.fetch(
                "INSERT INTO forum_participants (proposal_id, citizen, stance)"
                " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])"
                " ON CONFLICT (proposal_id, citizen) DO UPDATE SET stance = EXCLUDED.stance"
                " WHERE forum_participants.stance <> EXCLUDED.stance"
                " RETURNING proposal_id, citizen, (xmax = 0) AS inserted",
                [op.proposal_id for _, op in adds],
                [op.citizen for _, op in adds],
                [op.stance for _, op in adds],
            )
        else:
            rows = await conn.fetch(
                f"INSERT INTO {ledger} (proposal_id, citizen) SELECT * FROM unnest($1::uuid[], $2::text[])"
                " ON CONFLICT DO NOTHING RETURNING proposal_id, citizen, true AS inserted",
                [op.proposal_id for _, op in adds],
                [op.citizen for _, op in adds],
            )
        hit = {(r["proposal_id"], r["citizen"]): r["inserted"] for r in rows}
        for i, op in adds:
            inserted = hit.get((op.proposal_id, op.citizen))
            if inserted is not None:
                changed[i] = bool(inserted)  # not inserted: a forum participant who changed their stance
    if removes:
        rows = await conn.fetch(
            f"DELETE FROM {ledger} t USING unnest($1::uuid[], $2::text[]) AS d(p, c)"
            " WHERE t.proposal_id = d.p AND t.citizen = d.c RETURNING t.proposal_id, t.citizen",
            [op.proposal_id for _, op in removes],
            [op.citizen for _, op in removes],
        )
        gone = {(r["proposal_id"], r["citizen"]) for r in rows}
        changed.update({i: True for i, op in removes if (op.proposal_id, op.citizen) in gone})
    return changed


async def _thresholds(conn: database.Connection, row: asyncpg.Record, base: asyncpg.Record) -> asyncpg.Record:
    """Cross the thresholds the new counts reach: forum opened, then answer required (with its deadline)."""
    space = space_from_row(_space_columns(base))
    step = proposals.after_supports(row["state"], row["support_count"], space)
    if step is not None:
        row = await apply_step(conn, row, step, forum_opened_at=datetime.now(UTC))
    step = proposals.after_participants(row["state"], row["participant_count"], space)
    if step is not None:
        deadline = datetime.now(UTC) + space.answer_period
        row = await apply_step(conn, row, step, answer_deadline=deadline)
    return row


def _space_columns(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "space_id": row["space_id"],
        "title": row["space_title"],
        "support_threshold": row["support_threshold"],
        "answer_threshold": row["answer_threshold"],
        "answer_period_s": row["answer_period_s"],
        "archive_after_s": row["archive_after_s"],
        "support_verification": row["support_verification"],
        "answer_states": row["answer_states"],
        "department": row["space_department"],
    }
