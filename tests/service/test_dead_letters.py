"""A poison message goes to the dead-letter topic with the error, and the worker keeps going."""

from __future__ import annotations

import uuid

import pytest

from sotong.intake.v1 import intake_events_pb2
from sotong_common import events, topics
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually, produce_raw, read_all, sql

pytestmark = pytest.mark.service


def _valid_submission_event(stack: Stack, text: str) -> tuple[bytes, list[tuple[str, bytes]], str]:
    submission_id = str(uuid.uuid4())
    message = intake_events_pb2.SubmissionReceived(
        submission_id=submission_id, tracking_id="t", text=text, channel="app"
    )
    meta = events.EventMetadata.new(topics.SUBMISSION_RECEIVED, "test")
    return events.encode(message), meta.headers(with_trace=False), submission_id


async def test_garbage_lands_in_the_dead_letter_topic_and_the_worker_keeps_going(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("moderation-worker",), say=False)
    _, good_headers, _ = _valid_submission_event(fresh_stack, "x")
    # 1) bytes that are not a protobuf message, with proper headers
    produce_raw(fresh_stack, topics.SUBMISSION_RECEIVED, b"\xff\xfe garbage \x00\x01", key=b"k1", headers=good_headers)
    # 2) a message without the metadata headers every event must carry
    produce_raw(fresh_stack, topics.SUBMISSION_RECEIVED, b"", key=b"k2", headers=[])
    # 3) then a valid submission, which must still be decided
    value, headers, submission_id = _valid_submission_event(fresh_stack, "남산 둘레길 안내판이 훼손됐어요")
    produce_raw(fresh_stack, topics.SUBMISSION_RECEIVED, value, key=submission_id.encode(), headers=headers)

    async def decided() -> list[object] | None:
        migrated = await sql(fresh_stack, "SELECT to_regclass('decisions') AS t", schema="moderation")
        if migrated[0]["t"] is None:
            return None  # the worker has not applied its migrations yet
        rows = await sql(
            fresh_stack, "SELECT action FROM decisions WHERE content_id = $1", submission_id, schema="moderation"
        )
        return rows or None

    rows = await eventually(decided)
    assert [r["action"] for r in rows] == ["publish"]  # type: ignore[index]

    dead = read_all(fresh_stack, topics.dlq_name(topics.SUBMISSION_RECEIVED))
    assert sorted(r.key for r in dead) == [b"k1", b"k2"]
    for record in dead:
        headers = dict(record.headers)
        assert headers[events.H_ORIGINAL_TOPIC].decode().endswith(topics.SUBMISSION_RECEIVED)
        assert headers[events.H_ERROR]
    by_key = {r.key: dict(r.headers) for r in dead}
    assert b"cannot decode" in by_key[b"k1"][events.H_ERROR]
    assert b"ce_id" in by_key[b"k2"][events.H_ERROR]
    assert by_key[b"k1"][events.H_ERROR] and dead[0].value is not None
    assert fresh_stack.processes["moderation-worker"].poll() is None, "the worker must still be running"
