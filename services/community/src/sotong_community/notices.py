"""Telling staff that something waits for them, through the publishing service (routine lane, group chat).

Moderators of Decidim-style platforms are never told that reported content waits; here the worker, every timer
tick, gathers what moderation sent to review and what citizens' reports hid since the last notice, and sends
the moderators' room one message saying how much waits and since when (one message per tick at most, not one per
item). Each waiting item is told once: the notice and the mark are written in one transaction, so a crash sends
nothing twice. An answer that passes its deadline is escalated to the answers desk the moment it becomes overdue.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from sotong_community import announcements, content_store

MODERATION_THREAD = "community:moderation-queue"


async def tell_moderators(pool: asyncpg.Pool, targets: tuple[str, ...]) -> int:
    """One message for everything newly waiting; returns how many items it told about."""
    async with pool.acquire() as conn, conn.transaction():
        waiting = await content_store.waiting_to_notify(conn)
        if not waiting:
            return 0
        reported = sum(1 for w in waiting if w["reason"] == "reported")
        oldest = min(w["since"] for w in waiting)
        kinds = sorted({w["kind"] for w in waiting})
        body = (
            f"검토를 기다리는 시민 게시물 {len(waiting)}건 (신고로 숨겨진 것 {reported}건), "
            f"가장 오래된 것 {oldest.astimezone(UTC):%Y-%m-%d %H:%M} UTC부터: {', '.join(kinds)}. "
            "moderation 검토 대기열(ListQueue)에서 확인해 주세요."
        )
        ids = sorted(w["content_id"] for w in waiting)
        dispatch_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "community:moderators:" + "|".join(ids)))
        await announcements.dispatch(
            conn, dispatch_id, "moderation_waiting", MODERATION_THREAD, list(targets), "커뮤니티 검토 대기", body
        )
        await conn.execute(
            "UPDATE waiting_notices SET notified_at = $2 WHERE content_id = ANY($1::text[])", ids, datetime.now(UTC)
        )
        return len(waiting)


async def escalate(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, row: asyncpg.Record,
                   targets: tuple[str, ...]) -> None:  # fmt: skip
    """Tell the answers desk that a proposal's answer is overdue (in the transition's transaction)."""
    deadline = row["answer_deadline"]
    body = (
        f"시민제안 '{row['shown_title'] or row['title']}'의 답변 기한({deadline:%Y-%m-%d %H:%M} UTC)이 지났습니다. "
        f"담당: {row['department'] or '미지정'}. 참여 {row['participant_count']}명, 공감 {row['support_count']}명."
    )
    dispatch_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"community:overdue:{row['proposal_id']}"))
    await announcements.dispatch(
        conn, dispatch_id, "answer_overdue", f"community:proposal:{row['proposal_id']}", list(targets),
        "시민제안 답변 기한 경과", body,
    )  # fmt: skip
