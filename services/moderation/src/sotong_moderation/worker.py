"""Moderation's stream worker: every piece of content through the comment policy pipeline, one decision each.

Run as `sotong-moderation-worker` (a Faust app). It consumes every topic of `content.CONTENT_TOPICS` in
micro-batches (`sotong_common.batching.BatchConsumer`, on librdkafka): the events of one fetch, up to
`SOTONG_MODERATION_BATCH_MAX`, waiting at most `SOTONG_MODERATION_BATCH_WITHIN_MS`, are judged one by one (each
in its own trace span) and stored in one PostgreSQL transaction; then their `moderation.decision-made.v1` events
and the batch's offsets are committed in one Kafka transaction. A crash before the PostgreSQL commit stores
nothing and the events come again; a crash between the two commits leaves the decisions stored, and the
redelivered events find their source event id, add nothing, and announce the stored decision: exactly one
decision per source event, announced with one event id. An event that is not content (no id, undecodable) goes
to the topic's dead-letter topic, in the same transaction.

The process also runs the outbox relay of the moderation schema, which publishes what the API writes through the
outbox (moderators' decisions, appeals).

Repetition history (`RepetitionState`) lives in this process, shared by the partitions it owns. Kafka keys
content by its id, so one author's posts spread over partitions and workers: the per-process window sees the
repeats that reach this process, and a restart or rebalance starts an empty window (a repeat across that
boundary is not caught, which errs towards publishing; removals for repetition stay explainable by the window).
"""

from __future__ import annotations

import asyncio
import gc
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message

from sotong_common import batching, config, database, logs, metrics, outbox, streams, topics, tracing
from sotong_moderation import settings
from sotong_moderation.content import CONTENT_TOPICS, ContentTopic, NotContent
from sotong_moderation.decisions import DecisionStore, Judged
from sotong_moderation.pipeline import Pipeline, RepetitionState

RECENT = 5_000  # judgements kept for retries: more than the batches that can be in flight


def build(values: dict[str, Any], pipeline: Pipeline | None = None) -> streams.Worker:
    app = streams.make_app("moderation", values["KAFKA_BOOTSTRAP"], values["TOPIC_REPLICATION"])
    worker = streams.Worker("moderation", app)
    judge = pipeline or Pipeline.default()
    repetition = RepetitionState()
    recent: OrderedDict[str, Judged] = OrderedDict()  # by source event id, for retried batches
    state: dict[str, Any] = {}
    ready = asyncio.Lock()
    log = logs.get("moderation.worker")

    async def store() -> DecisionStore:
        async with ready:
            if "store" not in state:
                pool = await database.connect(values["DATABASE_URL"], settings.SCHEMA, settings.MIGRATIONS)
                state["relay"] = await outbox.start_relay(
                    pool, values["KAFKA_BOOTSTRAP"], "sotong-moderation-worker", settings.SCHEMA
                )
                state["store"] = DecisionStore(pool)
            found: DecisionStore = state["store"]
            return found

    batches = batching.BatchConsumer(
        worker,
        values["KAFKA_BOOTSTRAP"],
        max_batch=values["MODERATION_BATCH_MAX"],
        within=values["MODERATION_BATCH_WITHIN_MS"] / 1000,
        trace_events=values["OTEL_EXPORTER"] != "none",
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
                        decision = judge.decide(content.content_id, content.text, content.author, history)
                        earlier = recent[content.source_event_id] = Judged.of(content, decision)
                        if len(recent) > RECENT:
                            recent.popitem(last=False)
                    judged.append(earlier)
            recorded = await (await store()).record_batch(judged)
            log.debug("batch decided", topic=source.topic, size=len(items), new=recorded.new)
            out = [batching.Output(decided, a.key.encode(), a.payload, a.headers) for a in recorded.announcements]
            return batching.Handled(rejected, out)

        batches.handler(source.topic, source.message_type)(moderate)

    for source in CONTENT_TOPICS:
        consume(source)
    batches.attach()

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await store()
        # Everything loaded so far (Faust, the model, the policy) lives as long as the process: keep it out of
        # the collector's full passes, which otherwise pause the worker ~60 ms now and then (measured).
        gc.freeze()

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def reload_policy() -> None:
        judge.policy_store.reload_if_changed()

    return worker


def main() -> None:
    values = config.load_or_exit(settings.WORKER)
    logs.configure("moderation-worker", values["LOG_LEVEL"])
    tracing.configure("moderation", values["OTEL_EXPORTER"], values["OTEL_FILE"], values["OTEL_ENDPOINT"])
    metrics.serve(values["METRICS_PORT"], values["LISTEN_HOST"])
    streams.run(build(values))


if __name__ == "__main__":
    main()
