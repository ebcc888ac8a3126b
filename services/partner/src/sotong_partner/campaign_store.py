"""Campaigns in the partner schema: created once per request id, checked, dispatched through the outbox, and
counted from the publishing service's receipts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from sotong.publishing.v1 import publishing_events_pb2 as pub
from sotong_common import database, dedup, events, logs, outbox, topics
from sotong_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from sotong_partner import campaigns
from sotong_partner.moderation_check import ModerationCheck, ModerationUnavailable
from sotong_partner.streets import Streets

SOURCE = "partner"


@dataclass(frozen=True)
class CampaignView:
    row: asyncpg.Record
    results: list[asyncpg.Record]


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class CampaignStore:
    def __init__(self, pool: asyncpg.Pool, streets: Streets, public_url: str, city_accounts: Sequence[str]) -> None:
        self.pool = pool
        self._streets = streets
        self._public_url = public_url.rstrip("/")
        self._city_accounts = tuple(city_accounts)

    def link(self, street_code: str) -> str:
        return f"{self._public_url}/s/{street_code}"

    async def create(self, request: campaigns.CampaignRequest, by: str) -> tuple[CampaignView, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO campaigns (id, request_id, created_by, street_code, title, body, channels, citywide,"
                " not_before, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'checking')"
                " ON CONFLICT (created_by, request_id) DO NOTHING RETURNING *",
                uuid.uuid4(),
                request.request_id,
                by,
                request.street_code,
                request.title,
                request.body,
                list(request.channels),
                request.citywide,
                request.not_before,
            )
            created = row is not None
            if row is None:
                row = await conn.fetchrow(
                    "SELECT * FROM campaigns WHERE created_by = $1 AND request_id = $2", by, request.request_id
                )
                assert row is not None
                same = (row["street_code"], row["title"], row["body"], tuple(row["channels"]), row["citywide"]) == (
                    request.street_code,
                    request.title,
                    request.body,
                    request.channels,
                    request.citywide,
                )
                if not same:
                    raise InvalidArgument(
                        FieldViolation("request_id", "this request_id was used for another campaign; use a new one")
                    )
        view = await self.get(str(row["id"]))
        assert view is not None
        return view, created

    async def get(self, campaign_id: str) -> CampaignView | None:
        try:
            key = uuid.UUID(campaign_id)
        except ValueError:
            raise InvalidArgument(FieldViolation("campaign_id", "campaign_id must be a UUID")) from None
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM campaigns WHERE id = $1", key)
            if row is None:
                return None
            results = await conn.fetch("SELECT * FROM campaign_results WHERE campaign_id = $1 ORDER BY channel", key)
        return CampaignView(row, list(results))

    async def checking(self, older_than_s: float, limit: int = 20) -> list[asyncpg.Record]:
        """Campaigns still waiting for moderation (moderation was away when they were created)."""
        return list(
            await self.pool.fetch(
                "SELECT * FROM campaigns WHERE status = 'checking' AND updated_at < now() - make_interval(secs => $1)"
                " ORDER BY created_at LIMIT $2",
                older_than_s,
                limit,
            )
        )

    async def check_failed(self, campaign_id: uuid.UUID) -> None:
        await self.pool.execute(
            "UPDATE campaigns SET check_attempts = check_attempts + 1, updated_at = now() WHERE id = $1", campaign_id
        )

    async def apply(self, campaign_id: uuid.UUID, verdict: campaigns.Verdict) -> bool:
        """Store moderation's verdict on a campaign still checking (and dispatch it); False if already decided."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM campaigns WHERE id = $1 AND status = 'checking' FOR UPDATE", campaign_id
            )
            if row is None:
                return False
            await conn.execute(
                "UPDATE campaigns SET status = $2, categories = $3, published_title = $4, published_body = $5,"
                " updated_at = now() WHERE id = $1",
                campaign_id,
                verdict.status,
                list(verdict.categories),
                verdict.published_title,
                verdict.published_body,
            )
            if verdict.status == campaigns.DISPATCHED:
                await self._dispatch(conn, row, verdict.published_title, verdict.published_body)
        return True

    async def review(self, campaign_id: str, approve: bool, note: str, by: str) -> CampaignView:
        key = uuid.UUID(campaign_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM campaigns WHERE id = $1 FOR UPDATE", key)
            if row is None:
                raise NotFound(f"no campaign {campaign_id}")
            if row["status"] != campaigns.IN_REVIEW:
                raise FailedPrecondition(f"the campaign is {row['status']}, not waiting for review")
            if row["created_by"] == by:
                raise FailedPrecondition("the author of a campaign cannot review it")
            status = campaigns.DISPATCHED if approve else campaigns.REFUSED
            title, body = (row["title"], row["body"]) if approve else ("", "")
            await conn.execute(
                "UPDATE campaigns SET status = $2, published_title = $3, published_body = $4, reviewed_by = $5,"
                " review_note = $6, updated_at = now() WHERE id = $1",
                key,
                status,
                title,
                body,
                by,
                note,
            )
            if approve:
                await self._dispatch(conn, row, title, body)
        view = await self.get(campaign_id)
        assert view is not None
        return view

    async def _dispatch(self, conn: database.Connection, row: asyncpg.Record, title: str, body: str) -> None:
        street = self._streets.get(row["street_code"])
        if street is None:  # the street left the configuration after the campaign was made
            raise FailedPrecondition(f"market street {row['street_code']} is no longer configured")
        not_before = _stamp(row["not_before"]) if row["not_before"] else None
        requests = campaigns.dispatches(
            str(row["id"]),
            street,
            title,
            body,
            list(row["channels"]),
            row["citywide"],
            self.link(street.code),
            self._city_accounts,
            _stamp(datetime.now(UTC)),
            not_before,
        )
        for channel, request in requests:
            await conn.execute(
                "INSERT INTO campaign_results (campaign_id, channel, dispatch_id) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                row["id"],
                channel,
                request.dispatch_id,
            )
            topic = topics.PARTNER_DISPATCH
            metadata = events.EventMetadata.new(topic, SOURCE)
            await outbox.add(conn, topic, request.dispatch_id, request, metadata)

    async def record_receipt(
        self, consumer: str, event_id: str, report: pub.DeliveryReported, counts: tuple[int, int, int]
    ) -> bool:
        """Count one receipt once (processed-event dedup in the same transaction)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await dedup.first_time(conn, consumer, event_id):
                return False
            await conn.execute(
                "UPDATE campaign_results SET delivered = delivered + $2, failed = failed + $3,"
                " dead_lettered = dead_lettered + $4, last_error = CASE WHEN $5 <> '' THEN $5 ELSE last_error END,"
                " last_reported_at = now() WHERE dispatch_id = $1",
                report.dispatch_id,
                *counts,
                report.error[:500],
            )
        return True


def receipt_counts(report: pub.DeliveryReported) -> tuple[int, int, int]:
    """(delivered, failed, dead-lettered) of one receipt: a batch carries counts, a per-target one its outcome."""
    if not report.target and (report.delivered_count or report.failed_count):
        dead = report.failed_count if report.outcome == pub.DELIVERY_OUTCOME_DEAD_LETTERED else 0
        return report.delivered_count, report.failed_count - dead, dead
    return (
        int(report.outcome == pub.DELIVERY_OUTCOME_DELIVERED),
        int(report.outcome == pub.DELIVERY_OUTCOME_FAILED),
        int(report.outcome == pub.DELIVERY_OUTCOME_DEAD_LETTERED),
    )


async def check(store: CampaignStore, moderation: ModerationCheck, row: asyncpg.Record) -> bool:
    """Ask moderation about a campaign's text and apply its verdict; False when moderation did not answer."""
    try:
        answer = await moderation.check(
            campaigns.checked_text(row["title"], row["body"]), f"partner:{row['created_by']}"
        )
    except ModerationUnavailable as exc:
        logs.get("partner.campaigns").warning("moderation unavailable; the campaign waits", error=str(exc))
        await store.check_failed(row["id"])
        return False
    verdict = campaigns.verdict(answer.action, answer.categories, answer.masked_text, row["title"], row["body"])
    await store.apply(row["id"], verdict)
    return True
