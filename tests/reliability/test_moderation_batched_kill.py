"""SIGKILL the batched moderation worker in the middle of a backlog: exactly one decision per submission after it.

Submissions are pre-loaded on the topic so the worker runs full batches (hundreds of events per transaction) when
it is killed; whatever it had stored but not yet committed as offsets comes again and must add nothing.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kafka import KafkaProducer

from sotong.intake.v1 import intake_events_pb2
from sotong.moderation.v1 import moderation_events_pb2
from sotong_common import events, topics
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, read_all, sql, topic_name

pytestmark = pytest.mark.reliability

TOTAL = 6000


def preload(stack: Stack, total: int) -> list[str]:
    assert stack.state is not None
    producer = KafkaProducer(bootstrap_servers=stack.state.kafka_bootstrap, acks="all", linger_ms=5)
    ids = []
    for i in range(total):
        sid = str(uuid.uuid4())
        message = intake_events_pb2.SubmissionReceived(
            submission_id=sid, text=f"{i}번째 의견: 버스 배차 간격을 줄여 주세요", channel="app"
        )
        meta = events.EventMetadata.new(topics.SUBMISSION_RECEIVED, "test")
        producer.send(
            topic_name(stack, topics.SUBMISSION_RECEIVED),
            key=sid.encode(),
            value=events.encode(message),
            headers=meta.headers(with_trace=False),
        )
        ids.append(sid)
    producer.flush()
    producer.close()
    return ids


async def count(stack: Stack) -> int:
    ready = await sql(stack, "SELECT to_regclass('decisions') AS t", schema="moderation")
    if ready[0]["t"] is None:
        return 0
    rows = await sql(stack, "SELECT count(*) FROM decisions", schema="moderation")
    return int(rows[0][0])


async def test_killed_batched_worker_decides_every_submission_exactly_once(fresh_stack: Stack) -> None:
    ids = preload(fresh_stack, TOTAL)
    fresh_stack.start_process("moderation-worker")
    await eventually(lambda: count(fresh_stack), timeout=120, every=0.05)  # the first batch is stored
    fresh_stack.kill_process("moderation-worker")
    killed_at = await count(fresh_stack)
    assert 0 < killed_at < TOTAL, "the kill should land while the backlog is being worked through"

    fresh_stack.start_process("moderation-worker")

    async def all_decided() -> bool:
        return await count(fresh_stack) >= TOTAL

    await eventually(all_decided, timeout=240, every=0.5)
    await asyncio.sleep(3)  # let any redelivery arrive before counting
    rows = await sql(
        fresh_stack,
        "SELECT count(*), count(DISTINCT content_id), count(DISTINCT source_event_id) FROM decisions",
        schema="moderation",
    )
    assert tuple(rows[0]) == (TOTAL, TOTAL, TOTAL)
    stored = await sql(fresh_stack, "SELECT content_id FROM decisions", schema="moderation")
    assert {r["content_id"] for r in stored} == set(ids)

    # On the topic: one decision id per submission. The outbox relay may publish a row twice across a crash
    # (at-least-once), always with the same event id, which consumers deduplicate; never two different decisions.
    async def announced() -> dict[str, set[str]] | None:
        by_content: dict[str, set[str]] = {}
        for record in read_all(fresh_stack, topics.DECISION_MADE, timeout_ms=2000):
            decision = moderation_events_pb2.DecisionMade.FromString(record.value)
            assert dict(record.headers)[events.H_ID].decode() == decision.decision_id
            by_content.setdefault(decision.content_id, set()).add(decision.decision_id)
        return by_content if len(by_content) == TOTAL else None

    by_content = await eventually(announced, timeout=120, every=2)
    assert set(by_content) == set(ids)
    assert all(len(decision_ids) == 1 for decision_ids in by_content.values())
    outbox = await sql(fresh_stack, "SELECT count(*) FROM outbox", schema="moderation")
    assert outbox[0][0] == 0
