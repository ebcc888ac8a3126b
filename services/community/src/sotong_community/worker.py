"""Community's stream worker: moderation's decisions, the opinion statistics, timers and notices.

Run as `sotong-community-worker`, in the platform's process lifecycle. It consumes, in micro-batches
(`sotong_common.batching.BatchConsumer`, one PostgreSQL transaction per batch, event ids recorded in it so a
redelivered batch changes nothing twice):

- moderation.decision-made.v1: a decision about a community text shows it (masked), keeps it waiting, or removes
  it (its author sees the clauses); a published text's nouns count for its district's top terms; a published
  intake submission's text too;
- community.participation-recorded.v1 and intake.submission-received.v1 (opinions and complaints): the opinion
  statistics by district, category and hour / day / week, each bucket's new counts on the compacted topic
  community.opinion-stats.v1 (through the outbox); a submission filed from a comment gives the comment its
  tracking id.

Every `COMMUNITY_TIMER_SECONDS` it archives proposals that reached no threshold in time, escalates overdue
answers, tells moderators what waits (through the publishing service), and recomputes opinion groups of debates
with new votes. It also runs the outbox relay of the community schema (the API runs one too; a lock lets one
publish at a time).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import asyncpg

from sotong.community.v1 import community_events_pb2 as epb
from sotong.intake.v1 import intake_events_pb2 as ipb
from sotong.intake.v1 import intake_types_pb2 as itypes
from sotong.moderation.v1 import moderation_events_pb2 as mpb
from sotong_common import batching, database, logs, process, streams, topics
from sotong_community import announcements, comment_store, complaints, content_store, notices, opinion_store, settings
from sotong_community import terms as terms_
from sotong_community.debate_store import DebateStore
from sotong_community.opinion import Fact
from sotong_community.proposal_store import ProposalStore

DECISIONS = "community.apply-decision"
PARTICIPATION = "community.opinion-participation"
SUBMISSIONS = "community.opinion-submissions"
INTAKE_COUNTS = {itypes.SUBMISSION_KIND_OPINION: "opinions", itypes.SUBMISSION_KIND_COMPLAINT: "complaints"}


async def serve(proc: process.Process, chosen: settings.Worker) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-community-worker")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    proc.purge_processed_events(pool)
    batches = build(chosen, pool)
    proc.every("timers", chosen.community_timer_seconds, timers(chosen, pool))
    proc.task("batch consumer", batches.run, stop=batches.stop)


def build(chosen: settings.Worker, pool: asyncpg.Pool) -> batching.BatchConsumer:
    batches = batching.BatchConsumer(
        "community",
        chosen.kafka_bootstrap,
        max_batch=chosen.community_batch_max,
        within=chosen.community_batch_within_ms / 1000,
        trace_events=chosen.otel_exporter != "none",
    )
    proposals = ProposalStore(pool)
    log = logs.get("community.worker")

    @batches.handler(topics.DECISION_MADE, mpb.DecisionMade)
    async def decisions(items: Sequence[batching.Item[mpb.DecisionMade]]) -> batching.Handled:
        ours = [i for i in items if i.received.message.content_type.startswith("community.") or (
            i.received.message.content_type == "submission" and i.received.message.action == mpb.ACTION_PUBLISH
        )]  # fmt: skip
        if not ours:
            return batching.Handled()
        async with pool.acquire() as conn, conn.transaction():
            fresh = await opinion_store.first_times(conn, DECISIONS, [i.received.metadata.event_id for i in ours])
            texts: list[tuple[str, datetime, str]] = []
            for item in ours:
                if item.received.metadata.event_id not in fresh:
                    continue
                decision = item.received.message
                with item.span():
                    if decision.content_type == "submission":
                        pending = await opinion_store.take_text(conn, decision.content_id)
                        if pending is not None:
                            texts.append((pending["district_code"], pending["at"], decision.masked_text))
                        continue
                    applied = await content_store.apply_decision(conn, proposals, decision)
                    if applied is not None and applied.text_for_terms:
                        texts.append((applied.district_code, datetime.now(UTC), applied.text_for_terms))
            if texts:
                counted = await asyncio.to_thread(_count_terms, texts)
                await opinion_store.add_terms(conn, counted)
        log.debug("decisions applied", size=len(ours), new=len(fresh))
        return batching.Handled()

    @batches.handler(topics.COMMUNITY_PARTICIPATION_RECORDED, epb.ParticipationRecorded)
    async def participation(items: Sequence[batching.Item[epb.ParticipationRecorded]]) -> batching.Handled:
        rejected = []
        facts_by_id: dict[str, Fact] = {}
        for index, item in enumerate(items):
            m = item.received.message
            count = announcements.KIND_COUNT.get(m.kind)
            if count is None:
                rejected.append(batching.Rejected(index, streams.PoisonMessage(f"unknown participation kind {m.kind}")))
                continue
            at = m.at.ToDatetime(tzinfo=UTC) if m.HasField("at") else item.received.metadata.produced_at
            facts_by_id[item.received.metadata.event_id] = Fact(count, m.district_code, m.category, at, m.delta)
        async with pool.acquire() as conn, conn.transaction():
            fresh = await opinion_store.first_times(conn, PARTICIPATION, list(facts_by_id))
            await opinion_store.apply(conn, [f for e, f in facts_by_id.items() if e in fresh])
        return batching.Handled(rejected)

    @batches.handler(topics.SUBMISSION_RECEIVED, ipb.SubmissionReceived)
    async def submissions(items: Sequence[batching.Item[ipb.SubmissionReceived]]) -> batching.Handled:
        async with pool.acquire() as conn, conn.transaction():
            fresh = await opinion_store.first_times(conn, SUBMISSIONS, [i.received.metadata.event_id for i in items])
            facts: list[Fact] = []
            pending: list[tuple[str, str, datetime]] = []
            for item in items:
                if item.received.metadata.event_id not in fresh:
                    continue
                m = item.received.message
                comment = complaints.comment_of(m.channel_message_id)
                if comment is not None and m.channel == "app":
                    await comment_store.record_complaint(conn, comment, m.tracking_id)
                count = INTAKE_COUNTS.get(m.kind)
                if count is None:
                    continue
                at = m.received_at.ToDatetime(tzinfo=UTC) if m.HasField("received_at") else datetime.now(UTC)
                facts.append(Fact(count, m.district_code, m.category, at))
                pending.append((m.submission_id, m.district_code, at))
            await opinion_store.apply(conn, facts)
            await opinion_store.remember_text(conn, pending)
        return batching.Handled()

    return batches


def _count_terms(texts: list[tuple[str, datetime, str]]) -> list[tuple[str, datetime, Counter[str]]]:
    """Nouns per text, on a thread (the analyser is C++ and ~1 ms per text)."""
    return [(district, at, terms_.count([text])) for district, at, text in texts]


def timers(chosen: settings.Worker, pool: asyncpg.Pool) -> Callable[[], Awaitable[None]]:
    proposals = ProposalStore(pool)
    debates = DebateStore(pool)
    log = logs.get("community.timers")

    async def escalate(conn: database.Connection, row: asyncpg.Record) -> None:
        await notices.escalate(conn, row, chosen.community_escalation_targets)

    async def tick() -> None:
        archived = await proposals.archive_due()
        overdue = await proposals.overdue_due(escalate)
        told = await notices.tell_moderators(pool, chosen.community_moderator_targets)
        regrouped = await debates.recompute_due(chosen.community_opinion_groups_seed)
        if archived or overdue or told or regrouped:
            log.info("timers", archived=archived, overdue=len(overdue), moderators_told=told, regrouped=regrouped)

    return tick


def main() -> None:
    process.run("community-worker", "community", settings.Worker.load_or_exit(), serve)


if __name__ == "__main__":
    main()
