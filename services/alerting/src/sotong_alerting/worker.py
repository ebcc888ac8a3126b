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

from datetime import UTC, timedelta

from sotong.intake.v1 import intake_events_pb2 as intake
from sotong.intake.v1 import intake_types_pb2 as intake_types
from sotong.moderation.v1 import moderation_events_pb2 as moderation
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_alerting import publishing, settings
from sotong_alerting.citizens import CitizenInput
from sotong_alerting.store import IncidentStore
from sotong_common import logs, process, streams, topics

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


async def serve(proc: process.Process, chosen: settings.Worker) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-alerting-worker")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    proc.purge_processed_events(pool)
    store = IncidentStore(pool, chosen.plan)
    log = logs.get("alerting.worker")

    async def escalate() -> None:
        # The next tick retries a failed scan: the due times are in PostgreSQL, so nothing is lost meanwhile.
        escalated = await store.escalate_due()
        if escalated:
            log.info("pages escalated", count=escalated)

    proc.every("escalation timers", ESCALATION_INTERVAL_S, escalate)
    worker = build(chosen, store, CitizenInput(store))
    proc.task("faust worker", worker.run, stop=worker.stop)


def build(chosen: settings.Worker, store: IncidentStore, incidents: CitizenInput) -> streams.Worker:
    worker = streams.Worker("alerting", chosen.kafka_bootstrap, chosen.topic_replication)
    log = logs.get("alerting.worker")
    plan = chosen.plan
    window = timedelta(seconds=chosen.alerting_grouping_window_seconds)

    @worker.handler(topics.SUBMISSION_RECEIVED, intake.SubmissionReceived)
    async def submission(event: streams.Received[intake.SubmissionReceived]) -> None:
        message = event.message
        if not message.district_code:
            return
        received_at = message.received_at.ToDatetime(tzinfo=UTC)
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
        await incidents.moderated(
            MODERATED,
            event.metadata.event_id,
            made.content_id,
            made.action == moderation.ACTION_PUBLISH,
            made.masked_text,
        )

    @worker.handler(topics.DELIVERY_REPORTED, dispatch.DeliveryReported)
    async def delivery(event: streams.Received[dispatch.DeliveryReported]) -> None:
        report = event.message
        if report.channel == dispatch.CHANNEL_UNSPECIFIED:
            raise streams.PoisonMessage(f"receipt {report.dispatch_id} names no channel")
        if report.requester != publishing.REQUESTER or not report.thread_id:
            return  # other services' receipts (status replies, briefings) are not about incidents
        delivered, failed, dead = receipt_counts(report)
        await store.record_delivery(
            DELIVERIES, event.metadata.event_id, report.thread_id, int(report.channel), delivered, failed, dead
        )

    return worker


def main() -> None:
    process.run("alerting-worker", "alerting", settings.Worker.load_or_exit(), serve)


if __name__ == "__main__":
    main()
