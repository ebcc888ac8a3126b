"""Batched handlers: decoding, dead letters, and a failing batch narrowed down to the one event that fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from sotong.intake.v1 import intake_events_pb2
from sotong_common import batching, events, streams, topics


def record(offset: int, value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topics.SUBMISSION_RECEIVED, partition=0, offset=offset, timestamp=0, timestamp_type=0,
        key=b"k%d" % offset, value=value, checksum=None, serialized_key_size=0, serialized_value_size=len(value),
        headers=tuple(headers),
    )  # fmt: skip


def submission(offset: int, text: str) -> ConsumerRecord[bytes, bytes]:
    message = intake_events_pb2.SubmissionReceived(submission_id=f"s{offset}", text=text)
    meta = events.EventMetadata.new(topics.SUBMISSION_RECEIVED, "test")
    return record(offset, events.encode(message), meta.headers(with_trace=False))


class Letters:
    """Stands in for the dead-letter producer: remembers what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, bytes]]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        self.sent.append((topic, key, dict(headers)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def consumer() -> batching.BatchConsumer:
    return batching.BatchConsumer(worker=object(), bootstrap="127.0.0.1:1", trace_events=False)  # type: ignore[arg-type]


def test_decode_names_what_is_wrong() -> None:
    good = submission(1, "안녕하세요")
    received = batching.decode(good, good.topic, intake_events_pb2.SubmissionReceived, list(good.headers))
    assert received.message.text == "안녕하세요" and received.offset == 1
    with pytest.raises(streams.PoisonMessage, match="ce_id"):
        batching.decode(record(2, b"", []), good.topic, intake_events_pb2.SubmissionReceived, [])
    garbage = record(3, b"\xff\xfe garbage", list(good.headers))
    with pytest.raises(streams.PoisonMessage, match="cannot decode"):
        batching.decode(garbage, good.topic, intake_events_pb2.SubmissionReceived, list(good.headers))


async def test_a_batch_that_keeps_failing_is_split_and_only_the_failing_event_is_dead_lettered() -> None:
    owner = consumer()
    calls: list[list[str]] = []

    async def handle(items: Sequence[batching.Item[Any]]) -> list[batching.Rejected]:
        texts = [i.received.message.text for i in items]
        calls.append(texts)
        if "bad" in texts:
            raise RuntimeError("cannot store this one")
        return [batching.Rejected(i, streams.PoisonMessage("refused")) for i, t in enumerate(texts) if t == "no"]

    owner.handler(topics.SUBMISSION_RECEIVED, intake_events_pb2.SubmissionReceived)(handle)
    records = [submission(0, "a"), submission(1, "bad"), submission(2, "no"), record(3, b"\xff", [])]
    letters = Letters()
    pending: list[asyncio.Future[Any]] = []
    await owner._topic_batch(owner._routes[topics.SUBMISSION_RECEIVED], records, letters, pending)  # type: ignore[arg-type]
    await asyncio.gather(*pending)

    assert calls[:3] == [["a", "bad", "no"]] * 3  # retried as a whole first
    assert calls[3:] == [["a"], ["bad"], ["bad"], ["bad"], ["no"]]  # then one by one
    by_key = {key: headers for _, key, headers in letters.sent}
    assert set(by_key) == {b"k1", b"k2", b"k3"}
    assert by_key[b"k1"][events.H_ERROR].startswith(b"RuntimeError")
    assert by_key[b"k2"][events.H_ERROR] == b"PoisonMessage: refused"
    assert by_key[b"k3"][events.H_ERROR_STAGE] == b"decode"
    assert all(topic == topics.dlq_name(topics.SUBMISSION_RECEIVED) for topic, _, _ in letters.sent)


def test_one_handler_per_topic() -> None:
    owner = consumer()

    async def handle(items: Sequence[batching.Item[Any]]) -> list[batching.Rejected]:
        return []

    owner.handler("t", intake_events_pb2.SubmissionReceived)(handle)
    with pytest.raises(ValueError, match="already"):
        owner.handler("t", intake_events_pb2.SubmissionReceived)(handle)
    with pytest.raises(ValueError):
        batching.BatchConsumer(worker=object(), bootstrap="x:1", max_batch=0)  # type: ignore[arg-type]
