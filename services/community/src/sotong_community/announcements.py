"""What community tells the rest of the platform, written through its outbox in the transaction of the change.

- community.proposal-changed.v1: each transition of a proposal (the audit trail);
- community.content-posted.v1: each text a citizen wrote, for moderation;
- community.participation-recorded.v1: anonymous counts for the opinion statistics;
- community.opinion-stats.v1 (compacted): a bucket's current counts;
- community.dispatch-requested.v1: messages to staff through the publishing service (routine lane);
- intake.raw-submission.v1: a comment that is really a complaint, filed with intake as an upstream system.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from sotong.community.v1 import community_events_pb2 as epb
from sotong.intake.v1 import intake_service_pb2 as ipb
from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import database, events, outbox, topics
from sotong_community.opinion import BucketKey

SOURCE = "sotong.community"
WINDOWS = {"hour": epb.WINDOW_HOUR, "day": epb.WINDOW_DAY, "week": epb.WINDOW_WEEK}
KIND = {
    "proposals": epb.PARTICIPATION_KIND_PROPOSAL,
    "supports": epb.PARTICIPATION_KIND_SUPPORT,
    "poll_responses": epb.PARTICIPATION_KIND_POLL_RESPONSE,
    "comments": epb.PARTICIPATION_KIND_COMMENT,
}
KIND_COUNT = {v: k for k, v in KIND.items()}


def ts(at: datetime) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(at.astimezone(UTC))
    return stamp


async def _add(conn: database.Connection, topic: str, key: str, message: Message, event_id: str | None = None) -> None:
    await outbox.add(conn, topic, key, message, events.EventMetadata.new(topic, SOURCE, event_id=event_id))


async def proposal_changed(conn: database.Connection, event: epb.ProposalChanged) -> None:
    await _add(conn, topics.COMMUNITY_PROPOSAL_CHANGED, event.proposal_id, event)


async def content_posted(
    conn: database.Connection,
    content_id: str,
    content_type: str,
    text: str,
    author: str,
    reason: epb.PostReason.ValueType = epb.POST_REASON_NEW,
    report_count: int = 0,
) -> None:
    message = epb.ContentPosted(
        content_id=content_id,
        content_type=content_type,
        text=text,
        author=author,
        posted_at=ts(datetime.now(UTC)),
        reason=reason,
        report_count=report_count,
    )
    await _add(conn, topics.COMMUNITY_CONTENT_POSTED, content_id, message)


async def participation(
    conn: database.Connection,
    count: str,
    subject_id: str,
    district_code: str,
    category: str,
    delta: int,
    at: datetime | None = None,
) -> None:
    """`delta` of `count` for the statistics, at `at` (now unless given: the time the buckets are chosen by)."""
    message = epb.ParticipationRecorded(
        kind=KIND[count],
        subject_id=subject_id,
        district_code=district_code,
        category=category,
        delta=delta,
        at=ts(at or datetime.now(UTC)),
    )
    await _add(conn, topics.COMMUNITY_PARTICIPATION_RECORDED, subject_id, message)


def opinion_stat(key: BucketKey, counts: dict[str, int], at: datetime) -> epb.OpinionStat:
    return epb.OpinionStat(
        district_code=key.district_code,
        category=key.category,
        window=WINDOWS[key.window],
        window_start=ts(key.start),
        counts=epb.OpinionCounts(**counts),
        updated_at=ts(at),
    )


async def opinion_stats(conn: database.Connection, buckets: list[tuple[BucketKey, dict[str, int]]]) -> None:
    now = datetime.now(UTC)
    for key, counts in buckets:
        await _add(conn, topics.COMMUNITY_OPINION_STATS, key.kafka_key(), opinion_stat(key, counts, now))


async def complaint(conn: database.Connection, comment_id: str, request: ipb.SubmitReportRequest) -> None:
    """File a comment with intake as a complaint (intake.raw-submission.v1, keyed by the comment)."""
    await _add(conn, topics.RAW_SUBMISSION, request.channel_message_id, request)


async def dispatch(
    conn: database.Connection,
    dispatch_id: str,
    purpose: str,
    thread_id: str,
    targets: list[str],
    title: str,
    body: str,
) -> None:
    """A message to staff on the group-chat channel, through the publishing service's routine lane."""
    message = ppb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id=dispatch_id,
        thread_id=thread_id,
        channel=ppb.CHANNEL_GROUP_CHAT,
        priority=ppb.PRIORITY_ROUTINE,
        purpose=purpose,
        audience=ppb.Audience(targets=targets),
        renderings=[ppb.Rendering(language="ko", title=title, body=body)],
        requested_at=ts(datetime.now(UTC)),
        requester="community",
    )
    await _add(conn, topics.COMMUNITY_DISPATCH, dispatch_id, message, event_id=dispatch_id)
