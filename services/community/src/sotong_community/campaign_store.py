"""Civic campaigns in PostgreSQL (task 10): a calendar of posts across chosen official accounts.

A scheduled post is first a text for moderation (kind `campaign_post` on community.content-posted.v1). When
moderation publishes it, the decision's transaction writes one SNS dispatch to the publishing service (routine
lane, `not_before` = the post's time, the accounts' publishing targets, the masked text if it was masked); a
removal keeps it off every account and shows the clauses. The engine's receipts (message id
`campaign-post:<id>`) become the per-account results.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import database, events, outbox, topics
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound
from sotong_community import content_store, moderated
from sotong_community.announcements import SOURCE, ts
from sotong_community.moderated import Outcome

Conn = database.Connection
MESSAGE_PREFIX = "campaign-post:"
_NAMESPACE = uuid.UUID("9a3e1b7c-4f2d-4c8a-b6e5-0d1c2b3a4f5e")


def post_of(message_id: str) -> str | None:
    return message_id[len(MESSAGE_PREFIX) :] if message_id.startswith(MESSAGE_PREFIX) else None


class CampaignStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, caller: str, title: str, request_id: str) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM campaigns WHERE created_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            row = await conn.fetchrow(
                "INSERT INTO campaigns (campaign_id, title, created_by, request_id) VALUES ($1, $2, $3, $4)"
                " RETURNING *",
                uuid.uuid4(),
                title,
                caller,
                request_id,
            )
            assert row is not None
            return row, True

    async def schedule(
        self,
        caller: str,
        campaign_id: uuid.UUID,
        text: str,
        url: str,
        at: datetime,
        accounts: list[uuid.UUID],
        request_id: str,
    ) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM campaign_posts WHERE created_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            if await conn.fetchval("SELECT 1 FROM campaigns WHERE campaign_id = $1", campaign_id) is None:
                raise NotFound(f"no campaign {campaign_id}")
            live = {
                r["account_id"]
                for r in await conn.fetch(
                    "SELECT account_id FROM sns_accounts WHERE account_id = ANY($1::uuid[])"
                    " AND status IN ('active', 'dormant')",
                    accounts,
                )
            }
            missing = [i for i, a in enumerate(accounts) if a not in live]
            if missing:
                raise InvalidArgument(
                    [FieldViolation(f"account_ids[{i}]", "no live official account with this id") for i in missing]
                )
            post_id = uuid.uuid4()
            row = await conn.fetchrow(
                "INSERT INTO campaign_posts (post_id, campaign_id, text, url, scheduled_at, account_ids, status,"
                " created_by, request_id) VALUES ($1, $2, $3, $4, $5, $6, 'in_moderation', $7, $8) RETURNING *",
                post_id,
                campaign_id,
                text,
                url,
                at,
                sorted(set(accounts)),
                caller,
                request_id,
            )
            await content_store.post(conn, "campaign_post", str(post_id), caller, text)
            assert row is not None
            return row, True

    async def campaign(self, campaign_id: uuid.UUID) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
        row = await self.pool.fetchrow("SELECT * FROM campaigns WHERE campaign_id = $1", campaign_id)
        if row is None:
            raise NotFound(f"no campaign {campaign_id}")
        posts = await self.pool.fetch(
            "SELECT * FROM campaign_posts WHERE campaign_id = $1 ORDER BY scheduled_at, post_id", campaign_id
        )
        return row, list(posts)

    async def calendar(self, since: datetime, until: datetime) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM campaign_posts WHERE scheduled_at >= $1 AND scheduled_at < $2"
                " ORDER BY scheduled_at, post_id LIMIT 1000",
                since,
                until,
            )
        )

    async def results(self, post_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, asyncpg.Record]]:
        """Per post: the account id -> its result row (matched through the accounts' publishing targets)."""
        rows = await self.pool.fetch(
            "SELECT r.*, a.account_id FROM campaign_results r JOIN campaign_posts p USING (post_id)"
            " JOIN sns_accounts a ON a.publishing_target = r.target AND a.account_id = ANY(p.account_ids)"
            " WHERE r.post_id = ANY($1::uuid[])",
            post_ids,
        )
        found: dict[uuid.UUID, dict[str, asyncpg.Record]] = {}
        for r in rows:
            found.setdefault(r["post_id"], {})[str(r["account_id"])] = r
        return found


async def apply_moderation(conn: Conn, post_id: str, outcome: Outcome) -> None:
    """A decision about a post's text (inside the decision's transaction): scheduled with its dispatch, waiting,
    or removed. Once scheduled, a later decision changes nothing (the dispatch is with the engine)."""
    row = await conn.fetchrow("SELECT * FROM campaign_posts WHERE post_id = $1::text::uuid FOR UPDATE", post_id)
    if row is None or row["status"] in ("scheduled", "removed"):
        return
    if outcome.status == moderated.PUBLISHED:
        targets = [
            r["publishing_target"]
            for r in await conn.fetch(
                "SELECT publishing_target FROM sns_accounts WHERE account_id = ANY($1::uuid[])"
                " AND status IN ('active', 'dormant') ORDER BY publishing_target",
                row["account_ids"],
            )
        ]
        if not targets:  # every chosen account was closed or merged meanwhile
            await conn.execute(
                "UPDATE campaign_posts SET status = 'removed', clauses = '{no live official account left}'"
                " WHERE post_id = $1",
                row["post_id"],
            )
            return
        dispatch_id = str(uuid.uuid5(_NAMESPACE, post_id))
        message = ppb.DispatchRequested(
            dispatch_id=dispatch_id,
            message_id=MESSAGE_PREFIX + post_id,
            thread_id=f"community:campaign:{row['campaign_id']}",
            channel=ppb.CHANNEL_SNS,
            priority=ppb.PRIORITY_ROUTINE,
            purpose="campaign",
            audience=ppb.Audience(targets=targets),
            renderings=[ppb.Rendering(language="ko", body=outcome.shown_text, url=row["url"])],
            requested_at=ts(datetime.now(UTC)),
            requester="community",
        )
        message.not_before.CopyFrom(ts(row["scheduled_at"]))
        topic = topics.COMMUNITY_DISPATCH
        await outbox.add(
            conn, topic, dispatch_id, message, events.EventMetadata.new(topic, SOURCE, event_id=dispatch_id)
        )
        status = "scheduled"
    elif outcome.status == moderated.REMOVED:
        status = "removed"
    else:
        status = "in_review"
    await conn.execute(
        "UPDATE campaign_posts SET status = $2, shown_text = $3, clauses = $4 WHERE post_id = $1",
        row["post_id"],
        status,
        outcome.shown_text,
        list(outcome.clauses),
    )


async def record_results(conn: Conn, results: list[tuple[str, str, str, str, datetime]]) -> None:
    """(post id, target, outcome, error, at) from receipts; a delivered result is never replaced by a failure."""
    for post_id, target, outcome, error, at in results:
        try:
            post = uuid.UUID(post_id)
        except ValueError:
            continue
        await conn.execute(
            "INSERT INTO campaign_results (post_id, target, outcome, error, at) SELECT $1, $2, $3, $4, $5"
            " WHERE EXISTS (SELECT 1 FROM campaign_posts WHERE post_id = $1)"
            " ON CONFLICT (post_id, target) DO UPDATE SET outcome = EXCLUDED.outcome, error = EXCLUDED.error,"
            " at = EXCLUDED.at WHERE campaign_results.outcome <> 'delivered'",
            post,
            target,
            outcome,
            error,
            at,
        )
