"""Moderation's stream worker: every piece of content through the comment policy pipeline, one decision each.

Run as `sotong-moderation-worker`, in the platform's process lifecycle (`sotong_common.process`). It consumes every
topic of `content.CONTENT_TOPICS` in micro-batches (`sotong_common.batching.BatchConsumer`, on librdkafka): the
events of one fetch, up to `SOTONG_MODERATION_BATCH_MAX`, waiting at most `SOTONG_MODERATION_BATCH_WITHIN_MS`, are
judged one by one (each in its own trace span) and stored in one PostgreSQL transaction; then their
`moderation.decision-made.v1` events and the batch's offsets are committed in one Kafka transaction. A crash before
the PostgreSQL commit stores nothing and the events come again; a crash between the two commits leaves the decisions
stored, and the redelivered events find their source event id, add nothing, and announce the stored decision:
exactly one decision per source event, announced with one event id. An event that is not content (no id,
undecodable) goes to the topic's dead-letter topic, in the same transaction.

The process also runs the outbox relay of the moderation schema, which publishes what the API writes through the
outbox (moderators' decisions, appeals).

Repetition history (`RepetitionState`) lives in this process, shared by the partitions it owns. Kafka keys
content by its id, so one author's posts spread over partitions and workers: the per-process window sees the
repeats that reach this process, and a restart or rebalance starts an empty window (a repeat across that
boundary is not caught, which errs towards publishing; removals for repetition stay explainable by the window).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from google.protobuf.message import Message

from sotong_common import batching, logs, process, streams, topics
from sotong_moderation import settings
from sotong_moderation.content import CONTENT_TOPICS, ContentTopic, NotContent
from sotong_moderation.decisions import DecisionStore, Judged
from sotong_moderation.pipeline import Pipeline, RepetitionState

RECENT = 5_000  # judgements kept for retries: more than the batches that can be in flight
POLICY_RELOAD_S = 5.0


async def serve(proc: process.Process, chosen: settings.Worker) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS)
    # The API writes moderators' decisions through the outbox; this process relays them.
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-moderation-worker")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    pipeline = Pipeline.default()
    batches = build(chosen, DecisionStore(pool), pipeline)
    proc.every("policy reload", POLICY_RELOAD_S, _reload(pipeline))
    proc.task("batch consumer", batches.run, stop=batches.stop)


def _reload(pipeline: Pipeline) -> Callable[[], Awaitable[None]]:
    async def reload() -> None:
        pipeline.policy_store.reload_if_changed()

    return reload


def build(chosen: settings.Worker, store: DecisionStore, judge: Pipeline) -> batching.BatchConsumer:
    """The batch consumer of every content topic, judging with `judge` and storing in `store`."""
    repetition = RepetitionState()
    recent: OrderedDict[str, Judged] = OrderedDict()  # by source event id, for retried batches
    log = logs.get("moderation.worker")
    batches = batching.BatchConsumer(
        "moderation",
        chosen.kafka_bootstrap,
        max_batch=chosen.moderation_batch_max,
        within=chosen.moderation_batch_within_ms / 1000,
        trace_events=chosen.otel_exporter != "none",
    )

    decided = topics.DECISION_MADE

    def consume(source: ContentTopic) -> None:
        history = repetition if source.repetition else None

        async def moderate(items: Sequence[batching.Item[Message]]) -> batching.Handled:
            judged: list[Judged] = []
            rejected: list[batching.Rejected] = []
            for index, item in enumerate(items):
                with item.span():
                    try:
                        content = source.content(item.received.message, item.received.metadata.event_id)
                    except NotContent as exc:
                        rejected.append(batching.Rejected(index, streams.PoisonMessage(str(exc))))
                        continue
                    # A batch retried after a failure is not judged again: the repetition history has already
                    # seen its texts and would take each one for a repeat of itself.
                    earlier = recent.get(content.source_event_id)
                    if earlier is None:
                        seen = None if content.repost else history  # an edit or a report is not a repeat
                        decision = judge.decide(content.content_id, content.text, content.author, seen)
                        earlier = recent[content.source_event_id] = Judged.of(content, decision)
                        if len(recent) > RECENT:
                            recent.popitem(last=False)
                    judged.append(earlier)
            recorded = await store.record_batch(judged)
            log.debug("batch decided", topic=source.topic, size=len(items), new=recorded.new)
            out = [batching.Output(decided, a.key.encode(), a.payload, a.headers) for a in recorded.announcements]
            return batching.Handled(rejected, out)

        batches.handler(source.topic, source.message_type)(moderate)

    for source in CONTENT_TOPICS:
        consume(source)
    return batches


def main() -> None:
    process.run("moderation-worker", "moderation", settings.Worker.load_or_exit(), serve)


if __name__ == "__main__":
    main()
