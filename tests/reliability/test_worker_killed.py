"""SIGKILL the moderation worker while 1,000 submissions flow: after a restart, exactly 1,000 decisions in intake."""

from __future__ import annotations

import asyncio

import pytest

from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, sql, token

pytestmark = pytest.mark.reliability

TOTAL = 1000


async def _count(stack: Stack, query: str) -> int:
    rows = await sql(stack, query, schema="intake")
    return int(rows[0][0])


async def test_killed_moderation_worker_loses_nothing_and_decides_nothing_twice(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("intake-api", "intake-worker", "moderation-worker"), say=False)
    meta = token(fresh_stack, "service")
    async with channel(fresh_stack, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        pending = asyncio.Semaphore(32)

        async def submit(i: int) -> pb.SubmitReportResponse:
            async with pending:
                return await stub.SubmitReport(
                    pb.SubmitReportRequest(
                        kind=types.SUBMISSION_KIND_OPINION,
                        text=f"{i}번째 의견: 버스 배차 간격을 줄여 주세요",
                        district_code="11110",
                        channel="callcenter",
                        channel_message_id=f"crash-{i}",
                    ),
                    metadata=meta,
                )

        sending = asyncio.gather(*(submit(i) for i in range(TOTAL)))
        # Kill the worker in the middle of the flow: once some, but not all, decisions have reached intake.
        await eventually(
            lambda: _count(fresh_stack, "SELECT count(*) FROM submissions WHERE moderation_decision_id IS NOT NULL"),
            timeout=120,
            every=0.05,
        )
        fresh_stack.kill_process("moderation-worker")
        killed_at = await _count(
            fresh_stack, "SELECT count(*) FROM submissions WHERE moderation_decision_id IS NOT NULL"
        )
        replies = await sending
        assert len({r.tracking_id for r in replies}) == TOTAL

    assert killed_at < TOTAL, "the kill should happen while decisions are still flowing"
    fresh_stack.start_process("moderation-worker")

    async def all_decided() -> bool:
        done = await _count(fresh_stack, "SELECT count(*) FROM submissions WHERE moderation_decision_id IS NOT NULL")
        return done == TOTAL

    await eventually(all_decided, timeout=180, every=0.5)
    await asyncio.sleep(3)  # let any duplicate redelivery arrive before counting
    assert await _count(fresh_stack, "SELECT count(*) FROM submissions") == TOTAL
    assert await _count(fresh_stack, "SELECT count(*) FROM submissions WHERE status = 'published'") == TOTAL
    assert (
        await _count(fresh_stack, "SELECT count(*) FROM submission_status_history WHERE changed_by = 'moderation'")
        == TOTAL
    )
    decisions = await sql(
        fresh_stack, "SELECT count(*), count(DISTINCT content_id) FROM decisions", schema="moderation"
    )
    assert tuple(decisions[0]) == (TOTAL, TOTAL)
