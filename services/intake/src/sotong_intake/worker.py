"""Intake's stream worker: applies moderation decisions, takes upstream raw submissions, relays the events.

Run as `sotong-intake-worker`. Each decision is applied once (processed-event dedup in the same transaction),
so redelivery after a crash changes nothing twice. Raw submissions (`intake.raw-submission.v1`, a
`SubmitReportRequest` per message) go through the same validation as SubmitReport; an invalid one is
dead-lettered with its field violations in the error header. A raw message without a channel message id is keyed
by its event id, so a redelivery stores nothing twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import asyncpg

from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.moderation.v1 import moderation_events_pb2 as moderation
from sotong_common import config, database, logs, metrics, outbox, streams, topics, tracing
from sotong_common.geo import Seoul
from sotong_intake import settings, status
from sotong_intake.contract import contract_violations, submission_from_request
from sotong_intake.reception import Reception, Refused
from sotong_intake.store import SubmissionStore, UnknownSubmission

CONSUMER = "intake.apply-decision"


def build(values: dict[str, Any]) -> streams.Worker:
    app = streams.make_app("intake", values["KAFKA_BOOTSTRAP"], values["TOPIC_REPLICATION"])
    worker = streams.Worker("intake", app)
    state: dict[str, Any] = {}
    ready = asyncio.Lock()
    log = logs.get("intake.worker")

    async def store() -> SubmissionStore:
        async with ready:
            if "store" not in state:
                pool: asyncpg.Pool = await database.connect(
                    values["DATABASE_URL"], settings.SCHEMA, settings.MIGRATIONS
                )
                state["relay"] = await outbox.start_relay(
                    pool, values["KAFKA_BOOTSTRAP"], "sotong-intake-worker", settings.SCHEMA
                )
                state["store"] = SubmissionStore(pool, values["INTAKE_CONTACT_KEYS"], settings.duplicate_rule(values))
                state["reception"] = Reception(state["store"], Seoul.load())
            found: SubmissionStore = state["store"]
            return found

    @worker.handler(topics.DECISION_MADE, moderation.DecisionMade)
    async def apply_decision(event: streams.Received[moderation.DecisionMade]) -> None:
        decision = event.message
        if decision.content_type != "submission":
            return
        new_status = status.FROM_DECISION.get(decision.action)
        if new_status is None:
            raise streams.PoisonMessage(f"decision {decision.decision_id} has no action")
        try:
            applied = await (await store()).apply_decision(
                CONSUMER,
                event.metadata.event_id,
                decision.content_id,
                decision.decision_id,
                new_status,
                list(decision.categories),
                decision.masked_text,
            )
        except UnknownSubmission as exc:
            raise streams.PoisonMessage(f"unknown submission {exc}") from None
        except ValueError as exc:  # content_id is not a UUID
            raise streams.PoisonMessage(str(exc)) from None
        log.info("decision applied" if applied else "decision already applied", submission_id=decision.content_id)

    @worker.handler(topics.RAW_SUBMISSION, pb.SubmitReportRequest)
    async def take_raw_submission(event: streams.Received[pb.SubmitReportRequest]) -> None:
        submission = submission_from_request(event.message)
        if not submission.channel_message_id:
            submission = dataclasses.replace(submission, channel_message_id="event:" + event.metadata.event_id)
        await store()
        reception: Reception = state["reception"]
        try:
            accepted = await reception.receive(submission)
        except Refused as refused:
            detail = "; ".join(f"{v.field}: {v.description}" for v in contract_violations(refused.violations))
            raise streams.PoisonMessage(f"invalid submission: {detail}") from None
        log.info(
            "raw submission accepted" if accepted.created else "raw submission already accepted",
            tracking_id=accepted.tracking_id,
            channel=submission.channel,
        )

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await store()  # migrate and start the relay before the first decision arrives

    return worker


def main() -> None:
    values = config.load_or_exit(settings.WORKER)
    logs.configure("intake-worker", values["LOG_LEVEL"])
    tracing.configure("intake", values["OTEL_EXPORTER"], values["OTEL_FILE"], values["OTEL_ENDPOINT"])
    metrics.serve(values["METRICS_PORT"], values["LISTEN_HOST"])
    streams.run(build(values))


if __name__ == "__main__":
    main()
