"""Intake's stream worker: stores accepted submissions, applies moderation decisions, takes upstream raw
submissions, relays the events.

Run as `sotong-intake-worker`. Every door accepts a report by writing it to `intake.submission-accepted.v1`
(reception.py); this process stores them in batches, exactly once each (a batch read again after a crash adds
nothing: ids come from the message), with their near-duplicate links and their `intake.submission-received.v1`
events in the same transaction. While PostgreSQL is away the batch is retried with backoff and the partitions are
held, so reports wait in Kafka and are stored when it is back.

Each decision is applied once (processed-event dedup in the same transaction), so redelivery after a crash
changes nothing twice. Raw submissions (`intake.raw-submission.v1`, a `SubmitReportRequest` per message) go
through the same validation and acceptance as SubmitReport; an invalid one is dead-lettered with its field
violations in the error header. A raw message without a channel message id is keyed by its event id, so a
redelivery stores nothing twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sotong.intake.v1 import intake_events_pb2 as ev
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.moderation.v1 import moderation_events_pb2 as moderation
from sotong_common import batching, events, logs, process, streams, topics
from sotong_common.geo import Seoul
from sotong_common.producer import Acknowledged
from sotong_intake import contract, settings, status
from sotong_intake.contract import contract_violations, submission_from_request
from sotong_intake.reception import Reception, Refused
from sotong_intake.store import SubmissionStore, UnknownSubmission

CONSUMER = "intake.apply-decision"


async def serve(proc: process.Process, chosen: settings.Worker) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-intake-worker")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    proc.purge_processed_events(pool)
    store = SubmissionStore(pool, chosen.intake_contact_keys, chosen.duplicate_rule, chosen.publishing_seal_public_keys)
    accepting = Acknowledged(chosen.kafka_bootstrap, "sotong-intake-worker-acceptance")
    await proc.start("acceptance producer", accepting)
    storing = storage(chosen, store)
    proc.task("accepted submissions", storing.run, stop=storing.stop)
    worker = build(chosen, store, Reception(Seoul.load(), accepting, chosen.intake_contact_keys))
    proc.task("faust worker", worker.run, stop=worker.stop)


def storage(chosen: settings.Worker, store: SubmissionStore) -> batching.BatchConsumer:
    """The batch consumer that stores what the doors accepted. Its output (`intake.submission-received.v1`, status
    replies) goes through the outbox in the storing transaction, so it returns none to the batch's transaction."""
    log = logs.get("intake.worker")
    traced = chosen.otel_exporter != "none"
    batches = batching.BatchConsumer("intake", chosen.kafka_bootstrap, max_batch=500, within=0.02, trace_events=traced)

    @batches.handler(topics.SUBMISSION_ACCEPTED, ev.SubmissionAccepted)
    async def store_accepted(items: Sequence[batching.Item[ev.SubmissionAccepted]]) -> batching.Handled:
        rejected: list[batching.Rejected] = []
        good: list[ev.SubmissionAccepted] = []
        traces: list[events.Headers] = []
        for index, item in enumerate(items):
            problem = contract.accepted_problem(item.received.message)
            if problem is not None:
                rejected.append(batching.Rejected(index, streams.PoisonMessage(problem)))
                continue
            good.append(item.received.message)
            # The request's trace goes on (SubmitReport → moderated → applied) with the request's own context; the
            # storing is one span per batch, linked to each request (`batching.batch_span`).
            traces.append(list(item.trace_headers()) if traced else [])
        with batching.batch_span(topics.SUBMISSION_ACCEPTED, items, traced):
            stored = await store.store_accepted(good, traces)
        log.debug("accepted submissions stored", size=len(items), new=stored.new, repeats=stored.repeats)
        return batching.Handled(rejected)

    return batches


def build(chosen: settings.Worker, store: SubmissionStore, reception: Reception) -> streams.Worker:
    worker = streams.Worker("intake", chosen.kafka_bootstrap, chosen.topic_replication)
    log = logs.get("intake.worker")

    @worker.handler(topics.DECISION_MADE, moderation.DecisionMade)
    async def apply_decision(event: streams.Received[moderation.DecisionMade]) -> None:
        decision = event.message
        if decision.content_type != "submission":
            return
        new_status = status.FROM_DECISION.get(decision.action)
        if new_status is None:
            raise streams.PoisonMessage(f"decision {decision.decision_id} has no action")
        try:
            applied = await store.apply_decision(
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

    return worker


def main() -> None:
    process.run("intake-worker", "intake", settings.Worker.load_or_exit(), serve)


if __name__ == "__main__":
    main()
