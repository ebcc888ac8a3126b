"""Intake's PostgreSQL store: submissions, their history and sealed contacts, written with their events.

Every write that others must hear about adds its event to the outbox in the same transaction
(sotong_common.outbox), so a stored submission is always announced and an announced one is always stored.
Status changes also NOTIFY `intake_status` so WatchSubmission streams wake at once instead of polling.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong_common import database, dedup, events, outbox, topics
from sotong_common.geo import Place
from sotong_intake import status
from sotong_intake.contact import KeyRing, RetentionPolicy, purge_cutoffs, seal_contact
from sotong_intake.duplicates import DuplicateRule, ReportSignature, find_duplicates
from sotong_intake.submission import Submission

SOURCE = "sotong.intake"
STATUS_CHANNEL = "intake_status"
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone to the 120 call centre
_CANDIDATE_LIMIT = 200  # most recent same-category reports scored per submission; bounds the cost of a burst
_SELECT = (
    "SELECT s.*, d.tracking_id AS duplicate_of_tracking_id, c.tracking_id AS duplicate_candidate_tracking_id"
    " FROM submissions s"
    " LEFT JOIN submissions d ON d.id = s.duplicate_of"
    " LEFT JOIN submissions c ON c.id = s.duplicate_candidate_of"
)


def new_tracking_id(now: datetime) -> str:
    """A public tracking id a citizen can read out: date plus 8 unambiguous characters (40 bits)."""
    return f"{now:%y%m%d}-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def idempotency_key(submission: Submission) -> str | None:
    """The stored channel message id: a message id is unique only within its source (partner, SNS platform)."""
    if not submission.channel_message_id:
        return None
    if submission.source and submission.channel == "webhook":
        return f"{submission.source}:{submission.channel_message_id}"
    return submission.channel_message_id


@dataclass(frozen=True)
class Accepted:
    submission_id: str
    tracking_id: str
    created: bool
    duplicate_candidate_of: str | None = None


@dataclass(frozen=True)
class StoredSubmission:
    row: asyncpg.Record
    history: list[asyncpg.Record]


@dataclass(frozen=True)
class Page:
    rows: list[asyncpg.Record]
    next_after: tuple[datetime, uuid.UUID] | None


@dataclass(frozen=True)
class Filters:
    district_code: str | None = None
    category: str | None = None
    kind: str | None = None
    status: str | None = None
    channel: str | None = None
    received_after: datetime | None = None
    received_before: datetime | None = None


class StatusConflict(Exception):
    """A status change the workflow does not allow (unknown duplicate target, a report as its own duplicate)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SubmissionStore:
    def __init__(
        self, pool: asyncpg.Pool, keys: KeyRing | None = None, duplicate_rule: DuplicateRule | None = None
    ) -> None:
        self._pool = pool
        self._keys = keys
        self._rule = duplicate_rule or DuplicateRule()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def accept(
        self, submission: Submission, place: Place | None, webhook: tuple[str, str] | None = None
    ) -> Accepted:
        """Store a validated submission and queue `intake.submission-received.v1`, once per channel message.

        `webhook` = (source, webhook-id) records the delivery in the same transaction, so a replay is refused.
        """
        key = idempotency_key(submission)
        if key:
            found = await self._by_channel_message(submission.channel, key)
            if found is not None:
                return found
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                accepted = await self._insert(conn, submission, place, key)
                if webhook is not None:
                    await conn.execute(
                        "INSERT INTO webhook_deliveries (source, webhook_id, submission_id) VALUES ($1, $2, $3)",
                        webhook[0],
                        webhook[1],
                        uuid.UUID(accepted.submission_id),
                    )
        except asyncpg.UniqueViolationError:
            # Another request with the same channel message won the race: answer with its tracking id.
            if not key:
                raise
            found = await self._by_channel_message(submission.channel, key)
            if found is None:
                raise
            return found
        return accepted

    async def accept_many(self, items: Sequence[tuple[Submission, Place | None]]) -> list[Accepted]:
        """Store several validated submissions in one transaction (one commit, one round trip per statement).

        Falls back to one transaction per item when any of them collides with a concurrent duplicate.
        """
        results: list[Accepted | None] = [None] * len(items)
        todo: list[int] = []
        for i, (submission, _) in enumerate(items):
            key = idempotency_key(submission)
            found = await self._by_channel_message(submission.channel, key) if key else None
            if found is not None:
                results[i] = found
            else:
                todo.append(i)
        seen_keys: dict[tuple[str, str], int] = {}
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                for i in todo:
                    submission, place = items[i]
                    key = idempotency_key(submission)
                    if key and (submission.channel, key) in seen_keys:
                        continue  # the same message twice in one batch: answered below from the first
                    accepted = await self._insert(conn, submission, place, key)
                    if key:
                        seen_keys[(submission.channel, key)] = i
                    results[i] = accepted
        except asyncpg.UniqueViolationError:
            return [await self.accept(s, p) for s, p in items]
        for i, (submission, _) in enumerate(items):
            if results[i] is None:
                key = idempotency_key(submission)
                assert key
                first = results[seen_keys[(submission.channel, key)]]
                assert first is not None
                results[i] = Accepted(first.submission_id, first.tracking_id, False, first.duplicate_candidate_of)
        return [r for r in results if r is not None]

    async def _insert(
        self, conn: database.Connection, submission: Submission, place: Place | None, key: str | None
    ) -> Accepted:
        submission_id = uuid.uuid4()
        now = datetime.now(UTC)
        tracking_id = new_tracking_id(now)
        location = submission.location
        point = location.point if location else None
        district = place.district_code if place else (location.district_code if location else None)
        neighbourhood = place.neighbourhood_code if place else None
        candidate = await self._duplicate_candidate(conn, submission, str(submission_id), now, district, neighbourhood)
        await conn.execute(
            "INSERT INTO submissions (id, tracking_id, kind, text, category, lat, lng, address_text,"
            " district_code, neighbourhood_code, media_urls, channel, channel_message_id, status, received_at,"
            " source, duplicate_candidate_of, duplicate_score)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
            submission_id,
            tracking_id,
            submission.kind,
            submission.text,
            submission.category,
            point.lat if point else None,
            point.lng if point else None,
            location.address if location else None,
            district,
            neighbourhood,
            list(submission.media),
            submission.channel,
            key,
            status.RECEIVED,
            now,
            submission.source,
            uuid.UUID(candidate[0]) if candidate else None,
            candidate[1] if candidate else None,
        )
        await conn.execute(
            "INSERT INTO submission_status_history (submission_id, status, changed_by, changed_at)"
            " VALUES ($1, $2, $3, $4)",
            submission_id,
            status.RECEIVED,
            submission.channel,
            now,
        )
        contact_ref = ""
        if submission.contact is not None and not submission.contact.is_empty and self._keys is not None:
            sealed = seal_contact(submission.contact, self._keys, str(submission_id))
            await conn.execute(
                "INSERT INTO reporter_contacts (submission_id, sealed) VALUES ($1, $2)",
                submission_id,
                sealed.to_bytes(),
            )
            contact_ref = f"intake:contact:{submission_id}"
        event = ev.SubmissionReceived(
            submission_id=str(submission_id),
            tracking_id=tracking_id,
            kind=status.KIND_TO_PROTO[submission.kind],
            text=submission.text,
            category=submission.category or "",
            point=geo_pb2.GeoPoint(lat=point.lat, lng=point.lng) if point else None,
            address_text=(location.address or "") if location else "",
            district_code=district or "",
            neighbourhood_code=neighbourhood or "",
            media_urls=list(submission.media),
            channel=submission.channel,
            channel_message_id=key or "",
            contact_ref=contact_ref,
            received_at=_ts(now),
            duplicate_candidate_of=candidate[0] if candidate else "",
            duplicate_score=candidate[1] if candidate else 0.0,
        )
        await outbox.add(
            conn,
            topics.SUBMISSION_RECEIVED,
            str(submission_id),
            event,
            events.EventMetadata.new(topics.SUBMISSION_RECEIVED, SOURCE),
        )
        return Accepted(str(submission_id), tracking_id, True, candidate[0] if candidate else None)

    async def _duplicate_candidate(
        self,
        conn: database.Connection,
        submission: Submission,
        submission_id: str,
        now: datetime,
        district: str | None,
        neighbourhood: str | None,
    ) -> tuple[str, float] | None:
        """The first report this one probably repeats: SQL narrows by category, place and time, then scoring.

        Only first reports are candidates (not reports already linked to another), so every link points at the
        report staff will work on.
        """
        if not submission.category:
            return None
        point = submission.location.point if submission.location else None
        since = now - self._rule.window
        base = (
            "SELECT id, category, received_at, text, lat, lng, coalesce(neighbourhood_code, district_code) AS place"
            " FROM submissions WHERE category = $1 AND received_at >= $2 AND duplicate_candidate_of IS NULL"
            " AND duplicate_of IS NULL AND status <> 'removed'"
        )
        if point is not None:
            dlat = self._rule.radius_m / 111_000
            dlng = dlat / 0.79  # cos(37.5°): metres per degree of longitude in Seoul
            rows = await conn.fetch(
                base + " AND lat BETWEEN $3 AND $4 AND lng BETWEEN $5 AND $6 ORDER BY received_at DESC LIMIT $7",
                submission.category,
                since,
                point.lat - dlat,
                point.lat + dlat,
                point.lng - dlng,
                point.lng + dlng,
                _CANDIDATE_LIMIT,
            )
        elif district:
            rows = await conn.fetch(
                base + " AND lat IS NULL AND district_code = $3 ORDER BY received_at DESC LIMIT $4",
                submission.category,
                since,
                district,
                _CANDIDATE_LIMIT,
            )
        else:
            return None
        if not rows:
            return None
        me = ReportSignature.of(
            submission_id,
            submission.category,
            now,
            submission.text,
            point.lat if point else None,
            point.lng if point else None,
            neighbourhood or district,
        )
        recent = [
            ReportSignature.of(str(r["id"]), r["category"], r["received_at"], r["text"], r["lat"], r["lng"], r["place"])
            for r in rows
        ]
        found = find_duplicates(me, recent, self._rule)
        return (found[0].other_id, found[0].score) if found else None

    async def _by_channel_message(self, channel: str, message_id: str) -> Accepted | None:
        row = await self._pool.fetchrow(
            "SELECT id, tracking_id, duplicate_candidate_of FROM submissions"
            " WHERE channel = $1 AND channel_message_id = $2",
            channel,
            message_id,
        )
        if row is None:
            return None
        candidate = row["duplicate_candidate_of"]
        return Accepted(str(row["id"]), row["tracking_id"], False, str(candidate) if candidate else None)

    async def get(self, tracking_id: str) -> StoredSubmission | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_SELECT + " WHERE s.tracking_id = $1", tracking_id)
            if row is None:
                return None
            history = await conn.fetch(
                "SELECT id, status, note, changed_by, changed_at FROM submission_status_history"
                " WHERE submission_id = $1 ORDER BY id",
                row["id"],
            )
        return StoredSubmission(row, list(history))

    async def list_submissions(self, filters: Filters, limit: int, after: tuple[datetime, uuid.UUID] | None) -> Page:
        """Newest first, keyset-paged on (received_at, id) so pages stay stable while new reports arrive."""
        clauses: list[str] = []
        args: list[Any] = []

        def where(sql: str, value: Any) -> None:
            args.append(value)
            clauses.append(sql.replace("?", f"${len(args)}"))

        for column in ("district_code", "category", "kind", "status", "channel"):
            value = getattr(filters, column)
            if value:
                where(f"s.{column} = ?", value)
        if filters.received_after:
            where("s.received_at >= ?", filters.received_after)
        if filters.received_before:
            where("s.received_at < ?", filters.received_before)
        if after is not None:
            args.extend(after)
            clauses.append(f"(s.received_at, s.id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit + 1)
        sql = _SELECT + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += f" ORDER BY s.received_at DESC, s.id DESC LIMIT ${len(args)}"
        rows = list(await self._pool.fetch(sql, *args))
        if len(rows) <= limit:
            return Page(rows, None)
        last = rows[limit - 1]
        return Page(rows[:limit], (last["received_at"], last["id"]))

    async def update_status(
        self, tracking_id: str, new_status: str, note: str, changed_by: str, duplicate_of: str | None
    ) -> StoredSubmission | None:
        """Apply an operator's status change with its history row, event and notification; None if unknown."""
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT id, tracking_id, channel, channel_message_id FROM submissions"
                " WHERE tracking_id = $1 FOR UPDATE",
                tracking_id,
            )
            if row is None:
                return None
            target: uuid.UUID | None = None
            if new_status == status.DUPLICATE:
                if not duplicate_of:
                    raise StatusConflict("duplicate_of", "duplicate_of is required with status duplicate")
                target = await conn.fetchval("SELECT id FROM submissions WHERE tracking_id = $1", duplicate_of)
                if target is None:
                    raise StatusConflict("duplicate_of", f"no submission with tracking id {duplicate_of}")
                if target == row["id"]:
                    raise StatusConflict("duplicate_of", "a submission cannot be a duplicate of itself")
            closed = new_status in status.CLOSED
            await conn.execute(
                "UPDATE submissions SET status = $2, duplicate_of = $3, updated_at = $4,"
                " closed_at = CASE WHEN $5 THEN coalesce(closed_at, $4) ELSE NULL END WHERE id = $1",
                row["id"],
                new_status,
                target,
                now,
                closed,
            )
            await self._announce(conn, row, new_status, note, changed_by, now, event_id=None)
        return await self.get(tracking_id)

    async def _announce(
        self,
        conn: database.Connection,
        row: asyncpg.Record,
        new_status: str,
        note: str,
        changed_by: str,
        now: datetime,
        event_id: str | None,
    ) -> None:
        """History row, `intake.submission-status-changed.v1` (the status back to the citizen) and a NOTIFY."""
        submission_id = row["id"]
        await conn.execute(
            "INSERT INTO submission_status_history (submission_id, status, note, changed_by, changed_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            submission_id,
            new_status,
            note,
            changed_by,
            now,
        )
        has_contact = await conn.fetchval("SELECT 1 FROM reporter_contacts WHERE submission_id = $1", submission_id)
        await outbox.add(
            conn,
            topics.SUBMISSION_STATUS_CHANGED,
            str(submission_id),
            ev.SubmissionStatusChanged(
                submission_id=str(submission_id),
                tracking_id=row["tracking_id"],
                status=status.TO_PROTO[new_status],
                note=note,
                changed_by=changed_by,
                changed_at=_ts(now),
                channel=row["channel"],
                channel_message_id=row["channel_message_id"] or "",
                contact_ref=f"intake:contact:{submission_id}" if has_contact else "",
            ),
            events.EventMetadata.new(topics.SUBMISSION_STATUS_CHANGED, SOURCE, event_id=event_id),
        )
        await conn.execute("SELECT pg_notify($1, $2)", STATUS_CHANNEL, str(submission_id))

    async def history_since(self, submission_id: uuid.UUID, after_id: int) -> list[asyncpg.Record]:
        return list(
            await self._pool.fetch(
                "SELECT id, status, note, changed_by, changed_at FROM submission_status_history"
                " WHERE submission_id = $1 AND id > $2 ORDER BY id",
                submission_id,
                after_id,
            )
        )

    async def follow(self, tracking_id: str, follower: str) -> tuple[int, bool] | None:
        """Count a citizen's +1 once; (follower_count, created), or None for an unknown tracking id."""
        async with self._pool.acquire() as conn, conn.transaction():
            submission_id = await conn.fetchval("SELECT id FROM submissions WHERE tracking_id = $1", tracking_id)
            if submission_id is None:
                return None
            inserted = await conn.fetchval(
                "INSERT INTO submission_followers (submission_id, follower) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                submission_id,
                follower,
            )
            if inserted:
                count = await conn.fetchval(
                    "UPDATE submissions SET follower_count = follower_count + 1 WHERE id = $1 RETURNING follower_count",
                    submission_id,
                )
            else:
                count = await conn.fetchval("SELECT follower_count FROM submissions WHERE id = $1", submission_id)
            return int(count), bool(inserted)

    async def webhook_seen(self, source: str, webhook_id: str) -> bool:
        found = await self._pool.fetchval(
            "SELECT 1 FROM webhook_deliveries WHERE source = $1 AND webhook_id = $2", source, webhook_id
        )
        return bool(found)

    async def record_webhook(self, source: str, webhook_id: str) -> bool:
        """Remember a verified delivery that stored nothing (its body was refused); False if already known."""
        inserted = await self._pool.fetchval(
            "INSERT INTO webhook_deliveries (source, webhook_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
            source,
            webhook_id,
        )
        return bool(inserted)

    async def purge_contacts(self, now: datetime, policy: RetentionPolicy) -> list[str]:
        """Delete contacts past retention (the SQL twin of `contact.past_retention`); returns submission ids."""
        closed_before, stored_before = purge_cutoffs(now, policy)
        rows = await self._pool.fetch(
            "DELETE FROM reporter_contacts c USING submissions s WHERE s.id = c.submission_id AND NOT s.legal_hold"
            " AND ((s.closed_at IS NOT NULL AND s.closed_at <= $1) OR (s.closed_at IS NULL AND c.created_at <= $2))"
            " RETURNING c.submission_id",
            closed_before,
            stored_before,
        )
        return [str(r["submission_id"]) for r in rows]

    async def apply_decision(
        self,
        consumer: str,
        event_id: str,
        submission_id: str,
        decision_id: str,
        new_status: str,
        categories: list[str],
    ) -> bool:
        """Record a moderation decision once (dedup by event id); False when it was seen before.

        Only a submission still waiting for moderation (received, or in review for a moderator's later decision)
        takes the status; an operator's later workflow status is not overwritten by a late redelivery.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            if not await dedup.first_time(conn, consumer, event_id):
                return False
            now = datetime.now(UTC)
            row = await conn.fetchrow(
                "UPDATE submissions SET status = $2, moderation_categories = $3, moderation_decision_id = $4,"
                " updated_at = $5::timestamptz, closed_at = CASE WHEN $2 = 'removed' THEN $5::timestamptz END"
                " WHERE id = $1 AND status IN ('received', 'in_review')"
                " AND moderation_decision_id IS DISTINCT FROM $4"
                " RETURNING id, tracking_id, channel, channel_message_id",
                uuid.UUID(submission_id),
                new_status,
                categories,
                decision_id,
                now,
            )
            if row is None:
                exists = await conn.fetchval("SELECT 1 FROM submissions WHERE id = $1", uuid.UUID(submission_id))
                if not exists:
                    raise UnknownSubmission(submission_id)
                return False
            await self._announce(
                conn,
                row,
                new_status,
                ", ".join(categories),
                "moderation",
                now,
                event_id=events.derived_event_id(event_id, "intake.status-from-decision"),
            )
            return True


class UnknownSubmission(LookupError):
    """A decision names a submission intake never stored."""
