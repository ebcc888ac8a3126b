"""Intake's outbox relay on the real stack: a burst larger than one relay batch is announced once per submission,
status changes of one submission reach Kafka in the order they were made, and the outbox is left empty."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import events
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, read_all, sql, stored, token

pytestmark = pytest.mark.service

BATCH = 700  # more than the relay's 500-row batch, so it reads on from a backlog
UNARY = 120  # concurrent unary calls: group commits of several rows, each waking the relay


def report(tag: str, i: int) -> pb.SubmitReportRequest:
    return pb.SubmitReportRequest(
        kind=types.SUBMISSION_KIND_REPORT,
        text=f"보도블록 파손 {tag} {i}",
        category="road-damage",
        point=geo_pb2.GeoPoint(lat=37.50 + (i % 80) * 0.001, lng=126.93 + (i // 80) * 0.01),
        channel="app",
        channel_message_id=f"{tag}-{i}",
    )


async def test_a_burst_is_announced_once_in_order_and_the_outbox_empties(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("intake-api", "intake-worker"), say=False)

    async def stream() -> object:
        for i in range(BATCH):
            yield pb.SubmitBatchRequest(report=report("batch", i))

    async with channel(fresh_stack, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        batch = await stub.SubmitBatch(stream(), metadata=token(fresh_stack, "service"))
        unary = await asyncio.gather(
            *(stub.SubmitReport(report("unary", i), metadata=token(fresh_stack, "citizen")) for i in range(UNARY))
        )
        first = unary[0].tracking_id
        await stored(fresh_stack, first)
        changes = [types.SUBMISSION_STATUS_ACKNOWLEDGED, types.SUBMISSION_STATUS_IN_PROGRESS]
        changes += [types.SUBMISSION_STATUS_REFERRED, types.SUBMISSION_STATUS_IN_PROGRESS]
        changes += [types.SUBMISSION_STATUS_RESOLVED]
        for change in changes:
            await stub.UpdateStatus(
                pb.UpdateStatusRequest(tracking_id=first, status=change), metadata=token(fresh_stack, "operator")
            )
    assert batch.accepted == BATCH
    tracking_ids = {r.tracking_id for r in batch.results} | {r.tracking_id for r in unary}
    assert len(tracking_ids) == BATCH + UNARY

    async def received() -> list[ev.SubmissionReceived] | None:
        found = [
            ev.SubmissionReceived.FromString(r.value)
            for r in read_all(fresh_stack, "intake.submission-received.v1", timeout_ms=1500)
        ]
        return found if len(found) >= BATCH + UNARY else None

    announced = await eventually(received, timeout=60, every=0.5)
    # Without a crash the relay publishes each row once: an acknowledged row is never read again.
    assert Counter(e.tracking_id for e in announced) == Counter(tracking_ids)

    async def status_events() -> list[tuple[int, str]] | None:
        records = read_all(fresh_stack, "intake.submission-status-changed.v1", timeout_ms=1500)
        found = [
            (ev.SubmissionStatusChanged.FromString(r.value).status, dict(r.headers)[events.H_ID].decode())
            for r in records
            if ev.SubmissionStatusChanged.FromString(r.value).tracking_id == first
        ]
        return found if len(found) >= len(changes) else None

    statuses = await eventually(status_events, timeout=60, every=0.5)
    assert [s for s, _ in statuses] == changes  # one key, one partition: the order the operator made them
    assert len({event_id for _, event_id in statuses}) == len(changes)

    async def outbox_empty() -> bool:
        rows = await sql(fresh_stack, "SELECT count(*) AS n FROM outbox", schema="intake")
        return rows[0]["n"] == 0

    await eventually(outbox_empty, timeout=10, every=0.2)
