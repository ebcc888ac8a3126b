"""SIGKILL the alerting worker while 1,000 delivery receipts and 200 citizens' disaster reports flow: after a
restart every receipt is counted exactly once and every report is grouped exactly once (dedup in the same
transaction as the effect; offsets re-read after the kill)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from kafka import KafkaProducer

from sotong.intake.v1 import intake_events_pb2 as intake
from sotong.intake.v1 import intake_types_pb2 as intake_types
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_common import events, topics
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, sql, topic_name

pytestmark = pytest.mark.reliability

RECEIPTS = 1000
REPORTS = 200
DISTRICTS = ("11110", "11140", "11170", "11200")


def _send(producer: KafkaProducer, stack: Stack, topic: str, key: str, value: bytes) -> None:
    headers = events.EventMetadata.new(topic, "test").headers(with_trace=False)
    producer.send(topic_name(stack, topic), value=value, key=key.encode(), headers=headers)


async def _one(stack: Stack, query: str) -> int:
    return int((await sql(stack, query, schema="alerting"))[0][0] or 0)


async def test_killed_alerting_worker_counts_every_receipt_and_groups_every_report_once(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("alerting-worker",), say=False)
    assert fresh_stack.state is not None
    producer = KafkaProducer(bootstrap_servers=fresh_stack.state.kafka_bootstrap, acks="all", linger_ms=5)
    for n in range(RECEIPTS):
        receipt = dispatch.DeliveryReported(
            dispatch_id=f"d-{n % 7}",
            thread_id="INC-RELIABILITY",
            requester="alerting",
            channel=dispatch.CHANNEL_SMS,
            outcome=dispatch.DELIVERY_OUTCOME_DELIVERED,
            target=f"0100000{n:04d}",
        )
        _send(producer, fresh_stack, topics.DELIVERY_REPORTED, receipt.dispatch_id, receipt.SerializeToString())
    for n in range(REPORTS):
        report = intake.SubmissionReceived(
            submission_id=str(uuid.uuid4()),
            tracking_id=f"R-{n:04d}",
            kind=intake_types.SUBMISSION_KIND_DISASTER_REPORT,
            text="도로가 침수됐어요",
            category="flooding",
            district_code=DISTRICTS[n % len(DISTRICTS)],
        )
        report.received_at.GetCurrentTime()
        _send(producer, fresh_stack, topics.SUBMISSION_RECEIVED, report.submission_id, report.SerializeToString())
    producer.flush()
    producer.close()

    # Kill it once it is part-way through, then start a new one.
    await eventually(lambda: _started(fresh_stack), timeout=60, every=0.05)
    fresh_stack.kill_process("alerting-worker")
    counted_at_kill = await _one(fresh_stack, "SELECT sum(delivered) FROM deliveries")
    fresh_stack.start_process("alerting-worker")

    async def settled() -> bool:
        delivered = await _one(fresh_stack, "SELECT sum(delivered) FROM deliveries")
        grouped = await _one(fresh_stack, "SELECT count(*) FROM citizen_reports")
        return delivered >= RECEIPTS and grouped >= REPORTS

    await eventually(settled, timeout=120)
    await asyncio.sleep(2.0)  # anything redelivered after the restart has been handled by now
    assert counted_at_kill < RECEIPTS  # the kill really happened mid-stream
    assert await _one(fresh_stack, "SELECT sum(delivered) FROM deliveries") == RECEIPTS
    assert await _one(fresh_stack, "SELECT count(*) FROM citizen_reports") == REPORTS
    # Same hazard and district within the window: one candidate incident per district, one note per report.
    assert await _one(fresh_stack, "SELECT count(*) FROM incidents WHERE source = 'citizens'") == len(DISTRICTS)
    notes = await _one(
        fresh_stack, "SELECT count(*) FROM incident_log WHERE event_type = 'alerting.incident-note-added.v1'"
    )
    assert notes == REPORTS


async def _started(stack: Stack) -> bool:
    try:
        return await _one(stack, "SELECT count(*) FROM processed_events") >= 50
    except asyncpg.PostgresError:  # the worker has not created its schema yet
        return False
