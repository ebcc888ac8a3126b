"""Moderation's stream worker: every submission through the comment policy pipeline, one decision each.

Run as `sotong-moderation-worker`. A decision is stored and announced in one transaction (outbox), keyed by the
submission event it answers, so a crash and redelivery never produce a second decision.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sotong.intake.v1 import intake_events_pb2 as intake
from sotong_common import config, database, logs, metrics, outbox, producer, streams, topics, tracing
from sotong_moderation import settings
from sotong_moderation.decisions import DecisionStore
from sotong_moderation.pipeline import Pipeline


def build(values: dict[str, Any]) -> streams.Worker:
    app = streams.make_app("moderation", values["KAFKA_BOOTSTRAP"], values["TOPIC_REPLICATION"])
    worker = streams.Worker("moderation", app)
    pipeline = Pipeline.default()
    state: dict[str, Any] = {}
    ready = asyncio.Lock()
    log = logs.get("moderation.worker")

    async def store() -> DecisionStore:
        async with ready:
            if "store" not in state:
                pool = await database.connect(values["DATABASE_URL"], settings.SCHEMA, settings.MIGRATIONS)
                kafka = producer.durable(values["KAFKA_BOOTSTRAP"], "sotong-moderation-worker")
                await kafka.start()
                relay = outbox.OutboxRelay(pool, kafka, settings.SCHEMA)
                state["relay"] = asyncio.ensure_future(relay.run())
                state["store"] = DecisionStore(pool)
            found: DecisionStore = state["store"]
            return found

    @worker.handler(topics.SUBMISSION_RECEIVED, intake.SubmissionReceived)
    async def moderate_submission(event: streams.Received[intake.SubmissionReceived]) -> None:
        submission = event.message
        if not submission.submission_id:
            raise streams.PoisonMessage("submission_id is empty")
        decision = pipeline.decide(submission.submission_id, submission.text, author=submission.channel)
        recorded = await (await store()).record(decision, "submission", event.metadata.event_id)
        log.info(
            "decision made" if recorded else "decision already made",
            submission_id=submission.submission_id,
            action=decision.action,
            categories=decision.categories,
        )

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await store()

    return worker


def main() -> None:
    values = config.load_or_exit(settings.WORKER)
    logs.configure("moderation-worker", values["LOG_LEVEL"])
    tracing.configure("moderation", values["OTEL_EXPORTER"], values["OTEL_FILE"], values["OTEL_ENDPOINT"])
    metrics.serve(values["METRICS_PORT"], values["LISTEN_HOST"])
    streams.run(build(values))


if __name__ == "__main__":
    main()
