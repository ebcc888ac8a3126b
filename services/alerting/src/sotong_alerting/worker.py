"""Alerting's stream worker: citizens' reports into candidate incidents, feedback, delivery receipts, escalation.

Run as `sotong-alerting-worker`. Consumes
- intake.submission-received.v1: disaster reports grouped by hazard and district (a candidate incident), and
  any submission in the districts of an incident past its second message (tagged as feedback);
- moderation.decision-made.v1: tagged feedback joins the incident's timeline once published;
- alerting.delivery-reported.v1: per-channel delivery counts of the incident;
and scans the stage-0 page timers every second (due times are in PostgreSQL, so a restart loses none).
Every consumer dedups on the event id in the same transaction as its effect.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from typing import Any

import asyncpg

from sotong.alerting.v1 import alerting_dispatch_pb2 as dispatch
from sotong.intake.v1 import intake_events_pb2 as intake
from sotong.intake.v1 import intake_types_pb2 as intake_types
from sotong.moderation.v1 import moderation_events_pb2 as moderation
from sotong_alerting import settings
from sotong_alerting.api import build_plan, check_plan
from sotong_alerting.citizens import CitizenInput
from sotong_alerting.store import IncidentStore
from sotong_common import config, database, logs, metrics, outbox, streams, topics, tracing

GROUPING = "alerting.group-reports"
FEEDBACK = "alerting.tag-feedback"
MODERATED = "alerting.feedback-moderated"
DELIVERIES = "alerting.delivery-counts"
ESCALATION_INTERVAL_S = 1.0


def receipt_counts(report: dispatch.DeliveryReported) -> tuple[int, int, int]:
    """(delivered, failed, dead-lettered) of one receipt: a batch carries counts, a per-target one its outcome."""
    if not report.target and (report.delivered_count or report.failed_count):
        dead = report.failed_count if report.outcome == dispatch.DELIVERY_OUTCOME_DEAD_LETTERED else 0
        return report.delivered_count, report.failed_count - dead, dead
    return (
        int(report.outcome == dispatch.DELIVERY_OUTCOME_DELIVERED),
        int(report.outcome == dispatch.DELIVERY_OUTCOME_FAILED),
        int(report.outcome == dispatch.DELIVERY_OUTCOME_DEAD_LETTERED),
    )


def build(values: dict[str, Any]) -> streams.Worker:
    app = streams.make_app("alerting", values["KAFKA_BOOTSTRAP"], values["TOPIC_REPLICATION"])
    worker = streams.Worker("alerting", app)
    state: dict[str, Any] = {}
    ready = asyncio.Lock()
    log = logs.get("alerting.worker")
    plan = build_plan(values)
    window = timedelta(seconds=values["ALERTING_GROUPING_WINDOW_SECONDS"])

    async def store() -> IncidentStore:
        async with ready:
            if "store" not in state:
                pool: asyncpg.Pool = await database.connect(
                    values["DATABASE_URL"], settings.SCHEMA, settings.MIGRATIONS
                )
                state["relay"] = await outbox.start_relay(
                    pool, values["KAFKA_BOOTSTRAP"], "sotong-alerting-worker", settings.SCHEMA
                )
                state["store"] = IncidentStore(pool, plan)
                state["citizens"] = CitizenInput(state["store"])
            found: IncidentStore = state["store"]
            return found

    async def citizens() -> CitizenInput:
        await store()
        found: CitizenInput = state["citizens"]
        return found

    @worker.handler(topics.SUBMISSION_RECEIVED, intake.SubmissionReceived)
    async def submission(event: streams.Received[intake.SubmissionReceived]) -> None:
        message = event.message
        if not message.district_code:
            return
        received_at = message.received_at.ToDatetime(tzinfo=UTC)
        incidents = await citizens()
        if message.kind == intake_types.SUBMISSION_KIND_DISASTER_REPORT and message.category:
            grouped = await incidents.group_report(
                GROUPING,
                event.metadata.event_id,
                submission_id=message.submission_id,
                tracking_id=message.tracking_id,
                hazard=plan.hazard_of(message.category),
                district_code=message.district_code,
                received_at=received_at,
                window=window,
            )
            if grouped is not None:
                log.info("citizens' report grouped", incident_id=grouped[0], created=grouped[1])
        tagged = await incidents.take_feedback(
            FEEDBACK,
            event.metadata.event_id,
            submission_id=message.submission_id,
            tracking_id=message.tracking_id,
            text=message.text,
            district_code=message.district_code,
            received_at=received_at,
        )
        if tagged is not None:
            log.info("feedback tagged", incident_id=tagged, tracking_id=message.tracking_id)

    @worker.handler(topics.DECISION_MADE, moderation.DecisionMade)
    async def decision(event: streams.Received[moderation.DecisionMade]) -> None:
        made = event.message
        if made.content_type != "submission" or made.action == moderation.ACTION_REVIEW:
            return  # a review is not a verdict; the moderator's decision will follow
        await (await citizens()).moderated(
            MODERATED,
            event.metadata.event_id,
            made.content_id,
            made.action == moderation.ACTION_PUBLISH,
            made.masked_text,
        )

    @worker.handler(topics.DELIVERY_REPORTED, dispatch.DeliveryReported)
    async def delivery(event: streams.Received[dispatch.DeliveryReported]) -> None:
        report = event.message
        if not report.incident_id:
            return  # status replies and briefings have no incident
        if report.channel == dispatch.CHANNEL_UNSPECIFIED:
            raise streams.PoisonMessage(f"receipt {report.dispatch_id} names no channel")
        delivered, failed, dead = receipt_counts(report)
        await (await store()).record_delivery(
            DELIVERIES, event.metadata.event_id, report.incident_id, int(report.channel), delivered, failed, dead
        )

    @app.timer(interval=ESCALATION_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def escalate() -> None:
        try:
            escalated = await (await store()).escalate_due()
        except (OSError, asyncpg.PostgresError) as error:  # the next tick retries; timers are in the database
            log.warning("escalation scan failed", error=str(error))
            return
        if escalated:
            log.info("pages escalated", count=escalated)

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await store()

    return worker


def main() -> None:
    values = config.load_or_exit(settings.WORKER)
    check_plan(values)
    logs.configure("alerting-worker", values["LOG_LEVEL"])
    tracing.configure("alerting", values["OTEL_EXPORTER"], values["OTEL_FILE"], values["OTEL_ENDPOINT"])
    metrics.serve(values["METRICS_PORT"], values["LISTEN_HOST"])
    streams.run(build(values))


if __name__ == "__main__":
    main()
