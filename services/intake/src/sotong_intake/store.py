"""Intake's PostgreSQL store: submissions, their history and sealed contacts, written with their events.

Every write that others must hear about adds its event to the outbox in the same transaction
(sotong_common.outbox), so a stored submission is always announced and an announced one is always stored.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong_common import dedup, events, outbox, topics
from sotong_common.geo import Place
from sotong_intake import status
from sotong_intake.contact import KeyRing, seal_contact
from sotong_intake.submission import Submission

SOURCE = "sotong.intake"
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone to the 120 call centre


def new_tracking_id(now: datetime) -> str:
    """A public tracking id a citizen can read out: date plus 8 unambiguous characters (40 bits)."""
    return f"{now:%y%m%d}-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@dataclass(frozen=True)
class Accepted:
    submission_id: str
    tracking_id: str
    created: bool


@dataclass(frozen=True)
class StoredSubmission:
    row: asyncpg.Record
    history: list[asyncpg.Record]


class SubmissionStore:
    def __init__(self, pool: asyncpg.Pool, keys: KeyRing | None = None) -> None:
        self._pool = pool
        self._keys = keys

    async def accept(self, submission: Submission, place: Place | None) -> Accepted:
        """Store a validated submission and queue `intake.submission-received.v1`, once per channel message."""
        if submission.channel_message_id:
            found = await self._by_channel_message(submission.channel, submission.channel_message_id)
            if found is not None:
                return found
        submission_id = uuid.uuid4()
        now = datetime.now(UTC)
        tracking_id = new_tracking_id(now)
        location = submission.location
        point = location.point if location else None
        district = place.district_code if place else (location.district_code if location else None)
        neighbourhood = place.neighbourhood_code if place else None
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO submissions (id, tracking_id, kind, text, category, lat, lng, address_text,"
                    " district_code, neighbourhood_code, media_urls, channel, channel_message_id, status, received_at)"
                    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
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
                    submission.channel_message_id or None,
                    status.RECEIVED,
                    now,
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
                    channel_message_id=submission.channel_message_id or "",
                    contact_ref=contact_ref,
                    received_at=_ts(now),
                )
                await outbox.add(
                    conn,
                    topics.SUBMISSION_RECEIVED,
                    str(submission_id),
                    event,
                    events.EventMetadata.new(topics.SUBMISSION_RECEIVED, SOURCE),
                )
        except asyncpg.UniqueViolationError:
            # Another request with the same channel message won the race: answer with its tracking id.
            assert submission.channel_message_id
            found = await self._by_channel_message(submission.channel, submission.channel_message_id)
            if found is None:
                raise
            return found
        return Accepted(str(submission_id), tracking_id, created=True)

    async def _by_channel_message(self, channel: str, message_id: str) -> Accepted | None:
        row = await self._pool.fetchrow(
            "SELECT id, tracking_id FROM submissions WHERE channel = $1 AND channel_message_id = $2",
            channel,
            message_id,
        )
        return Accepted(str(row["id"]), row["tracking_id"], created=False) if row else None

    async def get(self, tracking_id: str) -> StoredSubmission | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM submissions WHERE tracking_id = $1", tracking_id)
            if row is None:
                return None
            history = await conn.fetch(
                "SELECT status, note, changed_by, changed_at FROM submission_status_history"
                " WHERE submission_id = $1 ORDER BY id",
                row["id"],
            )
        return StoredSubmission(row, list(history))

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
            row = await conn.fetchrow(
                "UPDATE submissions SET status = $2, moderation_categories = $3, moderation_decision_id = $4,"
                " updated_at = now()"
                " WHERE id = $1 AND status IN ('received', 'in_review')"
                " AND moderation_decision_id IS DISTINCT FROM $4"
                " RETURNING tracking_id, channel, channel_message_id",
                uuid.UUID(submission_id),
                new_status,
                categories,
                decision_id,
            )
            if row is None:
                exists = await conn.fetchval("SELECT 1 FROM submissions WHERE id = $1", uuid.UUID(submission_id))
                if not exists:
                    raise UnknownSubmission(submission_id)
                return False
            now = datetime.now(UTC)
            note = ", ".join(categories)
            await conn.execute(
                "INSERT INTO submission_status_history (submission_id, status, note, changed_by, changed_at)"
                " VALUES ($1, $2, $3, 'moderation', $4)",
                uuid.UUID(submission_id),
                new_status,
                note,
                now,
            )
            has_contact = await conn.fetchval(
                "SELECT 1 FROM reporter_contacts WHERE submission_id = $1", uuid.UUID(submission_id)
            )
            await outbox.add(
                conn,
                topics.SUBMISSION_STATUS_CHANGED,
                submission_id,
                ev.SubmissionStatusChanged(
                    submission_id=submission_id,
                    tracking_id=row["tracking_id"],
                    status=status.TO_PROTO[new_status],
                    note=note,
                    changed_by="moderation",
                    changed_at=_ts(now),
                    channel=row["channel"],
                    channel_message_id=row["channel_message_id"] or "",
                    contact_ref=f"intake:contact:{submission_id}" if has_contact else "",
                ),
                events.EventMetadata.new(
                    topics.SUBMISSION_STATUS_CHANGED,
                    SOURCE,
                    event_id=events.derived_event_id(event_id, "intake.status-from-decision"),
                ),
            )
            return True


class UnknownSubmission(LookupError):
    """A decision names a submission intake never stored."""
