"""Intake's PostgreSQL store: submissions, their history and sealed contacts, written with their events.

Every write that others must hear about adds its event to the outbox in the same transaction
(sotong_common.outbox), so a stored submission is always announced and an announced one is always stored.
Status changes also NOTIFY `intake_status` so WatchSubmission streams wake at once instead of polling.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong_common import database, dedup, events, logs, outbox, topics
from sotong_common.sealing import Sealer
from sotong_intake import replies, status
from sotong_intake.contact import (
    ContactDecryptionError,
    KeyRing,
    RetentionPolicy,
    SealedContact,
    open_contact,
    purge_cutoffs,
)
from sotong_intake.contract import submission_from_accepted
from sotong_intake.duplicates import DuplicateRule, ReportSignature, find_duplicates
from sotong_intake.submission import GeoPoint, Submission
from sotong_intake.tracking import idempotency_key

SOURCE = "sotong.intake"
STATUS_CHANNEL = "intake_status"
_log = logs.get("intake.store")
_CANDIDATE_LIMIT = 200  # most recent same-category reports scored per submission; bounds the cost of a burst
_SELECT = (
    "SELECT s.*, d.tracking_id AS duplicate_of_tracking_id, c.tracking_id AS duplicate_candidate_tracking_id"
    " FROM submissions s"
    " LEFT JOIN submissions d ON d.id = s.duplicate_of"
    " LEFT JOIN submissions c ON c.id = s.duplicate_candidate_of"
)


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@dataclass(frozen=True)
class Accepted:
    """A channel message already stored: its submission and tracking id."""

    submission_id: str
    tracking_id: str
    created: bool
    duplicate_candidate_of: str | None = None


@dataclass(frozen=True)
class StoredBatch:
    """What storing a batch of accepted submissions did: new ones, repeats of stored ones, tracking-id aliases."""

    new: int
    repeats: int
    aliases: int


@dataclass
class _Prepared:
    """A submission ready to store: ids chosen, place resolved, contact sealed, candidate found."""

    id: uuid.UUID
    tracking_id: str
    submission: Submission
    key: str | None
    point: GeoPoint | None
    district: str | None
    neighbourhood: str | None
    sealed: bytes | None
    received_at: datetime
    candidate: tuple[str, float] | None = None
    reply: bytes | None = None  # the "received" status reply for the publishing service, when there is one
    webhook: tuple[str, str] | None = None
    synced: tuple[str, str] | None = None
    trace: Sequence[
        tuple[str, bytes]
    ] = ()  # the accepting request's trace context, continued by the events stored with it

    def signature(self) -> ReportSignature:
        """Without precomputed n-grams: most reports meet no candidate, and scoring computes them on demand
        (`duplicates.shingles` remembers them, so a report with many candidates computes them once)."""
        return ReportSignature(
            str(self.id),
            self.submission.category,
            self.received_at,
            self.submission.text,
            self.point.lat if self.point else None,
            self.point.lng if self.point else None,
            self.neighbourhood or self.district,
        )

    def event(self) -> ev.SubmissionReceived:
        submission, location, point = self.submission, self.submission.location, self.point
        return ev.SubmissionReceived(
            submission_id=str(self.id),
            tracking_id=self.tracking_id,
            kind=status.KIND_TO_PROTO[submission.kind],
            text=submission.text,
            category=submission.category or "",
            point=geo_pb2.GeoPoint(lat=point.lat, lng=point.lng) if point else None,
            address_text=(location.address or "") if location else "",
            district_code=self.district or "",
            neighbourhood_code=self.neighbourhood or "",
            media_urls=list(submission.media),
            channel=submission.channel,
            channel_message_id=self.key or "",
            contact_ref=f"intake:contact:{self.id}" if self.sealed else "",
            received_at=_ts(self.received_at),
            duplicate_candidate_of=self.candidate[0] if self.candidate else "",
            duplicate_score=self.candidate[1] if self.candidate else 0.0,
            author=submission.author or "",
        )


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
        self,
        pool: asyncpg.Pool,
        keys: KeyRing | None = None,
        duplicate_rule: DuplicateRule | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        """`sealer` seals reporters' contacts for the publishing service; without one, no status replies go out."""
        self._pool = pool
        self._keys = keys
        self._rule = duplicate_rule or DuplicateRule()
        self._sealer = sealer

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def store_accepted(
        self, accepted: Sequence[ev.SubmissionAccepted], traces: Sequence[Sequence[tuple[str, bytes]]] = ()
    ) -> StoredBatch:
        """Store a batch of accepted submissions exactly once each, in one transaction (redeliveries included).

        A submission already stored (the same message accepted again, or the batch read again after a crash) adds
        nothing; if the repeat carried another tracking id (a message repeated after midnight) that id becomes an
        alias. A fresh one is stored with its near-duplicate link, its sealed contact, its first history row, its
        `intake.submission-received.v1` event and its "received" status reply (outbox, the same statement). A
        repeat that carries a status the channel reports (a 응답소 record synced again once closed) applies it.
        `traces` (one per event, when given) are the trace headers the stored events continue.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._store_accepted(conn, accepted, traces)

    async def _store_accepted(
        self,
        conn: database.Connection,
        accepted: Sequence[ev.SubmissionAccepted],
        traces: Sequence[Sequence[tuple[str, bytes]]],
    ) -> StoredBatch:
        now = datetime.now(UTC)
        seen: dict[uuid.UUID, _Prepared] = {}
        again: list[_Prepared] = []  # the same message again within the batch: a repeat of its first acceptance
        for index, event in enumerate(accepted):
            item = self._prepared(event)
            item.trace = traces[index] if index < len(traces) else ()
            if item.id in seen:
                again.append(item)
            else:
                seen[item.id] = item
        items = list(seen.values())
        stored = await self._stored_ids(conn, [i.id for i in items])
        keyed = [(i.submission.channel, i.key) for i in items if i.key and i.id not in stored]
        existing = await self._existing(conn, keyed) if keyed else {}
        aliases: list[tuple[str, str]] = []
        synced: list[tuple[str, tuple[str, str]]] = []
        fresh: list[_Prepared] = []
        for item in items:
            known = stored.get(item.id)
            if known is None and item.key:
                found = existing.get((item.submission.channel, item.key))
                known = found.tracking_id if found is not None else None
            if known is None:
                fresh.append(item)
                continue
            if known != item.tracking_id:
                aliases.append((item.tracking_id, known))
            if item.synced is not None:
                synced.append((known, item.synced))
        # In the order they were accepted (a batch spans partitions): the first of near-duplicates is the one linked to.
        fresh.sort(key=lambda item: item.received_at)
        await self._link_duplicates(conn, fresh, now)
        events_out = [
            (
                topics.SUBMISSION_RECEIVED,
                str(item.id),
                events.encode(item.event()),
                [
                    *events.EventMetadata.new(
                        topics.SUBMISSION_RECEIVED, SOURCE, event_id=events.derived_event_id(str(item.id), "received")
                    ).headers(with_trace=not item.trace),
                    *item.trace,
                ],
            )
            for item in fresh
        ]
        inserted = await self._insert(conn, fresh, events_out)
        for item in fresh:  # lost a race with a concurrent batch (another worker): the other one stored it
            if item.id not in inserted and item.key:
                found = (await self._existing(conn, [(item.submission.channel, item.key)])).get(
                    (item.submission.channel, item.key)
                )
                if found is not None and found.tracking_id != item.tracking_id:
                    aliases.append((item.tracking_id, found.tracking_id))
        if again:  # stored by now (just above, or before): alias and channel status as for any repeat
            now_stored = await self._stored_ids(conn, [i.id for i in again])
            for item in again:
                known = now_stored.get(item.id)
                if known is None:
                    continue  # its first acceptance lost a race to a message with the same key: stored under that
                if known != item.tracking_id:
                    aliases.append((item.tracking_id, known))
                if item.synced is not None:
                    synced.append((known, item.synced))
        if aliases:
            await conn.executemany(
                "INSERT INTO tracking_aliases (alias, tracking_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", aliases
            )
        for tracking_id, (new_status, note) in synced:
            await self._sync(conn, tracking_id, new_status, note, now)
        return StoredBatch(new=len(inserted), repeats=len(items) - len(fresh) + len(again), aliases=len(aliases))

    def _prepared(self, event: ev.SubmissionAccepted) -> _Prepared:
        submission = submission_from_accepted(event)
        submission_id = uuid.UUID(event.submission_id)
        received_at = event.received_at.ToDatetime(tzinfo=UTC)
        sealed = bytes(event.sealed_contact) or None
        reply = None
        if sealed is not None and self._sealer is not None and self._keys is not None:
            try:
                contact = open_contact(SealedContact.from_bytes(sealed), self._keys, event.submission_id)
            except ContactDecryptionError:
                contact = None
            target = replies.reply_target(submission.channel, contact)
            if target is not None:
                request = replies.reply(
                    self._sealer, target, event.submission_id, event.tracking_id, status.RECEIVED, "", "created",
                    _ts(received_at),
                )  # fmt: skip
                reply = events.encode(request) if request is not None else None
        return _Prepared(
            id=submission_id,
            tracking_id=event.tracking_id,
            submission=submission,
            key=idempotency_key(submission),
            point=submission.location.point if submission.location else None,
            district=event.district_code or None,
            neighbourhood=event.neighbourhood_code or None,
            sealed=sealed,
            received_at=received_at,
            reply=reply,
            webhook=(event.webhook_source, event.webhook_id) if event.webhook_source else None,
            synced=(event.synced_status, event.synced_note) if event.synced_status else None,
        )

    async def _stored_ids(self, conn: database.Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await conn.fetch("SELECT id, tracking_id FROM submissions WHERE id = ANY($1::uuid[])", list(ids))
        return {r["id"]: r["tracking_id"] for r in rows}

    async def _sync(
        self, conn: database.Connection, tracking_id: str, new_status: str, note: str, now: datetime
    ) -> None:
        """A channel's own status for a stored submission (once: a status it already has is left alone)."""
        row = await conn.fetchrow(
            "SELECT id, tracking_id, channel, channel_message_id, status FROM submissions WHERE tracking_id = $1"
            " FOR UPDATE",
            tracking_id,
        )
        if row is None or row["status"] == new_status or new_status not in status.OPERATOR:
            return
        closed = new_status in status.CLOSED
        await conn.execute(
            "UPDATE submissions SET status = $2, updated_at = $3,"
            " closed_at = CASE WHEN $4 THEN coalesce(closed_at, $3) ELSE NULL END WHERE id = $1",
            row["id"],
            new_status,
            now,
            closed,
        )
        await self._announce(conn, row, new_status, note, row["channel"], now, event_id=None)

    async def _existing(
        self, conn: database.Connection, keys: Sequence[tuple[str, str | None]]
    ) -> dict[tuple[str, str], Accepted]:
        rows = await conn.fetch(
            "SELECT id, tracking_id, channel, channel_message_id, duplicate_candidate_of FROM submissions"
            " WHERE (channel, channel_message_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [c for c, _ in keys],
            [k for _, k in keys],
        )
        found: dict[tuple[str, str], Accepted] = {}
        for row in rows:
            candidate = row["duplicate_candidate_of"]
            found[(row["channel"], row["channel_message_id"])] = Accepted(
                str(row["id"]), row["tracking_id"], False, str(candidate) if candidate else None
            )
        return found

    async def _insert(
        self,
        conn: database.Connection,
        items: Sequence[_Prepared],
        events_out: Sequence[tuple[str, str, bytes, events.Headers]],
    ) -> set[uuid.UUID]:
        """Submissions, their first history rows, sealed contacts, outbox events and webhook deliveries in one
        statement; returns the ids stored. Only stored submissions get an event."""
        if not items:
            return set()
        rows = await conn.fetch(
            "WITH q AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::float8[], $7::float8[], $8::text[], $9::text[], $10::text[], $11::jsonb[], $12::text[],"
            " $13::text[], $14::timestamptz[], $15::text[], $16::uuid[], $17::float8[], $18::bytea[],"
            " $19::text[], $20::bytea[], $21::bytea[], $22::jsonb[], $26::bytea[], $27::jsonb[], $29::text[],"
            " $23::text[], $24::text[])"
            " WITH ORDINALITY AS q(id, tracking_id, kind, text, category, lat, lng, address_text, district_code,"
            " neighbourhood_code, media, channel, channel_message_id, received_at, source, candidate, score, sealed,"
            " ev_topic, ev_key, ev_value, ev_headers, rp_value, rp_headers, author, wh_source, wh_id, n)),"
            " s AS (INSERT INTO submissions (id, tracking_id, kind, text, category, lat, lng, address_text,"
            " district_code, neighbourhood_code, media_urls, channel, channel_message_id, status, received_at,"
            " updated_at, source, duplicate_candidate_of, duplicate_score, author)"
            " SELECT id, tracking_id, kind, text, category, lat, lng, address_text, district_code, neighbourhood_code,"
            " ARRAY(SELECT jsonb_array_elements_text(media)), channel, channel_message_id, 'received', received_at,"
            " received_at, source, candidate, score, author FROM q"
            " ON CONFLICT (channel, channel_message_id) WHERE channel_message_id IS NOT NULL DO NOTHING"
            " RETURNING id),"
            " h AS (INSERT INTO submission_status_history (submission_id, status, changed_by, changed_at)"
            " SELECT q.id, 'received', q.channel, q.received_at FROM s JOIN q ON q.id = s.id),"
            " c AS (INSERT INTO reporter_contacts (submission_id, sealed)"
            " SELECT q.id, q.sealed FROM s JOIN q ON q.id = s.id WHERE q.sealed IS NOT NULL),"
            " o AS (INSERT INTO outbox (topic, key, value, headers)"
            " SELECT q.ev_topic, q.ev_key, q.ev_value, q.ev_headers FROM s JOIN q ON q.id = s.id ORDER BY q.n),"
            " r AS (INSERT INTO outbox (topic, key, value, headers)"
            " SELECT $28::text, convert_to(q.id::text, 'UTF8'), q.rp_value, q.rp_headers FROM s JOIN q ON q.id = s.id"
            " WHERE q.rp_value IS NOT NULL ORDER BY q.n),"
            " w AS (INSERT INTO webhook_deliveries (source, webhook_id, submission_id)"
            " SELECT q.wh_source, q.wh_id, s.id FROM s JOIN q ON q.id = s.id WHERE q.wh_source IS NOT NULL"
            " ON CONFLICT DO NOTHING)"
            " SELECT s.id, (SELECT pg_notify($25, '')) AS notified FROM s",
            [p.id for p in items],
            [p.tracking_id for p in items],
            [p.submission.kind for p in items],
            [p.submission.text for p in items],
            [p.submission.category for p in items],
            [p.point.lat if p.point else None for p in items],
            [p.point.lng if p.point else None for p in items],
            [p.submission.location.address if p.submission.location else None for p in items],
            [p.district for p in items],
            [p.neighbourhood for p in items],
            [json.dumps(list(p.submission.media)) if p.submission.media else "[]" for p in items],
            [p.submission.channel for p in items],
            [p.key for p in items],
            [p.received_at for p in items],
            [p.submission.source for p in items],
            [uuid.UUID(p.candidate[0]) if p.candidate else None for p in items],
            [p.candidate[1] if p.candidate else None for p in items],
            [p.sealed for p in items],
            *outbox.columns(events_out),
            [p.webhook[0] if p.webhook else None for p in items],
            [p.webhook[1] if p.webhook else None for p in items],
            outbox.NOTIFY_CHANNEL,
            [p.reply for p in items],
            [_reply_headers(trace=p.trace) if p.reply is not None else None for p in items],
            topics.INTAKE_DISPATCH,
            [p.submission.author for p in items],
        )
        return {row["id"] for row in rows}

    async def _link_duplicates(self, conn: database.Connection, items: Sequence[_Prepared], now: datetime) -> None:
        """Set each item's near-duplicate candidate: the first report it probably repeats, if any.

        SQL narrows by category, place and time for all items in one query; scoring is `find_duplicates`. Only
        first reports are candidates (not reports already linked to another), so every link points at the report
        staff will work on; earlier items of the same batch count too.
        """
        wanted = [p for p in items if p.submission.category and (p.point is not None or p.district)]
        if not wanted:
            return
        dlat = self._rule.radius_m / 111_000
        dlng = dlat / 0.79  # cos(37.5°): metres per degree of longitude in Seoul
        rows = await conn.fetch(
            "SELECT q.i, s.id, s.category, s.received_at, s.text, s.lat, s.lng,"
            " coalesce(s.neighbourhood_code, s.district_code) AS place"
            " FROM unnest($1::int[], $2::text[], $3::float8[], $4::float8[], $5::text[])"
            " AS q(i, category, lat, lng, district)"
            # Two branches rather than one CASE, so each can use its index (near a point / in a district).
            " CROSS JOIN LATERAL ((SELECT * FROM submissions s WHERE q.lat IS NOT NULL AND s.category = q.category"
            " AND s.lat BETWEEN q.lat - $7 AND q.lat + $7 AND s.lng BETWEEN q.lng - $8 AND q.lng + $8"
            " AND s.received_at >= $6 AND s.duplicate_candidate_of IS NULL AND s.duplicate_of IS NULL"
            " AND s.status <> 'removed' ORDER BY s.received_at DESC LIMIT $9)"
            " UNION ALL (SELECT * FROM submissions s WHERE q.lat IS NULL AND s.category = q.category"
            " AND s.lat IS NULL AND s.district_code = q.district"
            " AND s.received_at >= $6 AND s.duplicate_candidate_of IS NULL AND s.duplicate_of IS NULL"
            " AND s.status <> 'removed' ORDER BY s.received_at DESC LIMIT $9)) AS s",
            list(range(len(wanted))),
            [p.submission.category for p in wanted],
            [p.point.lat if p.point else None for p in wanted],
            [p.point.lng if p.point else None for p in wanted],
            [p.district for p in wanted],
            now - self._rule.window,
            dlat,
            dlng,
            _CANDIDATE_LIMIT,
        )
        stored: dict[int, list[ReportSignature]] = {}
        for r in rows:
            stored.setdefault(r["i"], []).append(
                ReportSignature(
                    str(r["id"]), r["category"], r["received_at"], r["text"], r["lat"], r["lng"], r["place"]
                )
            )
        earlier: dict[str | None, list[ReportSignature]] = {}  # this batch's first reports, by category
        for i, item in enumerate(wanted):
            me = item.signature()
            same = earlier.get(item.submission.category, [])
            if me.lat is not None and me.lng is not None:
                # The box SQL applied to stored reports, applied to this batch's own: a batch spread over the city
                # otherwise costs a haversine per same-category pair (a quarter of SubmitBatch's CPU).
                lat, lng = me.lat, me.lng
                same = [
                    o
                    for o in same
                    if o.lat is None or o.lng is None or (abs(o.lat - lat) <= dlat and abs(o.lng - lng) <= dlng)
                ]
            recent = [*stored.get(i, []), *same]
            found = find_duplicates(me, recent, self._rule) if recent else []
            if found:
                item.candidate = (found[0].other_id, found[0].score)
            else:
                earlier.setdefault(item.submission.category, []).append(me)

    async def get(self, tracking_id: str) -> StoredSubmission | None:
        """The submission with this tracking id, or with the tracking id it is an alias of."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_SELECT + " WHERE s.tracking_id = $1", tracking_id)
            if row is None:
                row = await conn.fetchrow(
                    _SELECT + " WHERE s.tracking_id = (SELECT tracking_id FROM tracking_aliases WHERE alias = $1)",
                    tracking_id,
                )
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
                " WHERE tracking_id IN ($1, (SELECT tracking_id FROM tracking_aliases WHERE alias = $1)) FOR UPDATE",
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
        sealed = await conn.fetchval("SELECT sealed FROM reporter_contacts WHERE submission_id = $1", submission_id)
        has_contact = sealed is not None
        event_id = event_id or str(uuid.uuid4())
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
        if sealed is not None:
            await self._reply(conn, row, bytes(sealed), new_status, note, event_id, now)
        await conn.execute("SELECT pg_notify($1, $2)", STATUS_CHANNEL, str(submission_id))

    async def _reply(
        self,
        conn: database.Connection,
        row: asyncpg.Record,
        sealed: bytes,
        new_status: str,
        note: str,
        event_id: str,
        now: datetime,
    ) -> None:
        """Queue the status reply to the reporter, in the transaction of the status change it announces."""
        if self._sealer is None or self._keys is None or new_status not in replies.TEXTS:
            return
        submission_id = str(row["id"])
        try:
            contact = open_contact(SealedContact.from_bytes(sealed), self._keys, submission_id)
        except ContactDecryptionError:
            _log.warning("no status reply: the reporter's contact does not open with the key ring",
                         submission_id=submission_id)  # fmt: skip
            return
        target = replies.reply_target(row["channel"], contact)
        if target is None:
            return
        request = replies.reply(
            self._sealer, target, submission_id, row["tracking_id"], new_status, note, event_id, _ts(now)
        )
        if request is None:
            return
        derived = events.derived_event_id(event_id, "intake.status-reply")
        await outbox.add(
            conn,
            topics.INTAKE_DISPATCH,
            submission_id,
            request,
            events.EventMetadata.new(topics.INTAKE_DISPATCH, SOURCE, event_id=derived),
        )

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
            submission_id = await conn.fetchval(
                "SELECT id FROM submissions"
                " WHERE tracking_id IN ($1, (SELECT tracking_id FROM tracking_aliases WHERE alias = $1))",
                tracking_id,
            )
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
        masked_text: str = "",
    ) -> bool:
        """Record a moderation decision once (dedup by event id); False when it was seen before or changed nothing.

        The text the public may read follows every decision: moderation's masked text when it publishes, nothing
        when it sends the submission to review or removes it (Open311 and other citizens' GetSubmission show
        `public_text` only). Only a submission whose status moderation owns (received, in review, published or
        removed: a moderator may reinstate a removed submission after an appeal) takes the status and announces
        it; an operator's workflow status (acknowledged, in progress, resolved, ...) is never overwritten by a
        moderation decision. Decisions about one submission arrive in order (the topic is keyed by content id),
        so a later one always wins.
        """
        public_text = masked_text if new_status == status.PUBLISHED else None
        async with self._pool.acquire() as conn, conn.transaction():
            if not await dedup.first_time(conn, consumer, event_id):
                return False
            now = datetime.now(UTC)
            row = await conn.fetchrow(
                "WITH cur AS (SELECT id, status IN ('received', 'in_review', 'published', 'removed') AS owned"
                " FROM submissions WHERE id = $1 FOR UPDATE)"
                " UPDATE submissions s SET public_text = $6, moderation_categories = $3, moderation_decision_id = $4,"
                " updated_at = $5::timestamptz,"
                " status = CASE WHEN cur.owned THEN $2 ELSE s.status END,"
                " closed_at = CASE WHEN NOT cur.owned THEN s.closed_at"
                " WHEN $2 = 'removed' THEN $5::timestamptz END"
                " FROM cur WHERE s.id = cur.id AND s.moderation_decision_id IS DISTINCT FROM $4"
                " RETURNING s.id, s.tracking_id, s.channel, s.channel_message_id, cur.owned",
                uuid.UUID(submission_id),
                new_status,
                categories,
                decision_id,
                now,
                public_text,
            )
            if row is None:
                exists = await conn.fetchval("SELECT 1 FROM submissions WHERE id = $1", uuid.UUID(submission_id))
                if not exists:
                    raise UnknownSubmission(submission_id)
                return False
            if not row["owned"]:
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


def _reply_headers(event_id: str | None = None, trace: Sequence[tuple[str, bytes]] = ()) -> str:
    """Headers of a status reply's dispatch request, as an outbox column: with `trace` when given (the report's
    acceptance), else the current trace."""
    metadata = events.EventMetadata.new(topics.INTAKE_DISPATCH, SOURCE, event_id=event_id)
    return outbox.headers_json([*metadata.headers(with_trace=not trace), *trace])


class UnknownSubmission(LookupError):
    """A decision names a submission intake never stored."""
