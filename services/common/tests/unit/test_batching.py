"""Batched handlers: decoding, dead letters, and a failing batch narrowed down to the one event that fails.

The transaction that commits a batch's output and offsets runs on the real broker (tests/reliability and the
moderation service tests); here the handling before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from sotong.intake.v1 import intake_events_pb2
from sotong_common import batching, events, streams, topics
from sotong_common import consumer as core


def record(offset: int, value: bytes, headers: list[tuple[str, bytes]]) -> batching.Record:
    return batching.Record(topics.SUBMISSION_RECEIVED, 0, offset, b"k%d" % offset, value, list(headers))


def submission(offset: int, text: str) -> batching.Record:
    message = intake_events_pb2.SubmissionReceived(submission_id=f"s{offset}", text=text)
    meta = events.EventMetadata.new(topics.SUBMISSION_RECEIVED, "test")
    return record(offset, events.encode(message), meta.headers(with_trace=False))


def consumer() -> batching.BatchConsumer:
    return batching.BatchConsumer("test", "127.0.0.1:1", trace_events=False, policy=core.Policy(unexpected_pause_s=0))


def test_decode_names_what_is_wrong() -> None:
    good = submission(1, "안녕하세요")
    received = core.decode(good, intake_events_pb2.SubmissionReceived)
    assert received.message.text == "안녕하세요" and received.offset == 1
    with pytest.raises(streams.PoisonMessage, match="ce_id"):
        core.decode(record(2, b"", []), intake_events_pb2.SubmissionReceived)
    garbage = record(3, b"\xff\xfe garbage", list(good.headers))
    with pytest.raises(streams.PoisonMessage, match="cannot decode"):
        core.decode(garbage, intake_events_pb2.SubmissionReceived)


async def test_a_batch_that_keeps_failing_is_split_and_only_the_failing_event_is_dead_lettered() -> None:
    owner = consumer()
    calls: list[list[str]] = []

    async def handle(items: Sequence[batching.Item[Any]]) -> batching.Handled:
        texts = [i.received.message.text for i in items]
        calls.append(texts)
        if "bad" in texts:
            raise RuntimeError("cannot store this one")
        refused = [batching.Rejected(i, streams.PoisonMessage("refused")) for i, t in enumerate(texts) if t == "no"]
        answers = [batching.Output("answers", t.encode(), b"", []) for t in texts if t != "no"]
        return batching.Handled(refused, answers)

    owner.handler(topics.SUBMISSION_RECEIVED, intake_events_pb2.SubmissionReceived)(handle)
    records = [submission(0, "a"), submission(1, "bad"), submission(2, "no"), record(3, b"\xff", [])]
    outcome = batching._Outcome()
    await owner._topic_batch(owner._routes[topics.SUBMISSION_RECEIVED], records, outcome)
    letters = [(o.topic, o.key, dict(o.headers)) for o in outcome.output if o.topic != "answers"]

    assert calls[:3] == [["a", "bad", "no"]] * 3  # retried as a whole first
    assert calls[3:] == [["a"], ["bad"], ["bad"], ["bad"], ["no"]]  # then one by one
    assert [o.key for o in outcome.output if o.topic == "answers"] == [b"a"]  # only what finally succeeded
    assert outcome.dead_letters == 3 and outcome.processed == {topics.SUBMISSION_RECEIVED: 1}
    by_key = {key: headers for _, key, headers in letters}
    assert set(by_key) == {b"k1", b"k2", b"k3"}
    assert by_key[b"k1"][events.H_ERROR].startswith(b"RuntimeError")
    assert by_key[b"k1"][events.H_ERROR_ATTEMPTS] == b"3"  # given up after the policy's attempts
    assert by_key[b"k2"][events.H_ERROR] == b"PoisonMessage: refused"
    assert by_key[b"k3"][events.H_ERROR_STAGE] == b"decode"
    assert all(topic == topics.dlq_name(topics.SUBMISSION_RECEIVED) for topic, _, _ in letters)


def test_one_handler_per_topic() -> None:
    owner = consumer()

    async def handle(items: Sequence[batching.Item[Any]]) -> batching.Handled:
        return batching.Handled()

    owner.handler("t", intake_events_pb2.SubmissionReceived)(handle)
    with pytest.raises(ValueError, match="already"):
        owner.handler("t", intake_events_pb2.SubmissionReceived)(handle)
    with pytest.raises(ValueError):
        batching.BatchConsumer("test", "x:1", max_batch=0)


class Seeks:
    """The consumer calls `_batch` makes around a transaction: where it was told to read from again."""

    def __init__(self) -> None:
        self.seeks: dict[tuple[str, int], int] = {}

    def seek(self, tp: Any) -> None:
        self.seeks[(tp.topic, tp.partition)] = tp.offset


async def test_an_aborted_transaction_rewinds_its_batch_and_the_one_handled_meanwhile() -> None:
    """Batch N+1 is handled while N's transaction runs; if N's aborts, N+1 must not commit and both come again."""
    owner = consumer()

    async def handle(items: Sequence[batching.Item[Any]]) -> batching.Handled:
        return batching.Handled((), [batching.Output("answers", None, b"", []) for _ in items])

    owner.handler(topics.SUBMISSION_RECEIVED, intake_events_pb2.SubmissionReceived)(handle)
    committed: list[list[tuple[str, int, int]]] = []
    outcomes = iter([False, True])

    async def commit(_c: Any, _p: Any, output: list[batching.Output], offsets: list[Any]) -> bool:
        ok = next(outcomes)
        if ok:
            committed.append(sorted((o.topic, o.partition, o.offset) for o in offsets))
        return ok

    owner._commit = commit  # type: ignore[method-assign]
    seeks = Seeks()
    topic = topics.SUBMISSION_RECEIVED

    def at(partition: int, offset: int) -> batching.Record:
        r = submission(offset, "x")
        return batching.Record(topic, partition, offset, r.key, r.value, r.headers)

    await owner._batch(seeks, None, [at(0, 0), at(0, 1), at(0, 2)])  # type: ignore[arg-type]
    await owner._batch(seeks, None, [at(0, 3), at(1, 0), at(1, 1)])  # type: ignore[arg-type]
    await owner._settle(seeks)  # type: ignore[arg-type]
    assert committed == []  # the second batch did not commit on top of the aborted first
    assert seeks.seeks == {(topic, 0): 0, (topic, 1): 0}  # both are read again from the first batch's start
    assert owner._idle.is_set()  # a rebalance is no longer held back

    await owner._batch(seeks, None, [at(0, 0), at(0, 1), at(0, 2), at(0, 3), at(1, 0), at(1, 1)])  # type: ignore[arg-type]
    await owner._settle(seeks)  # type: ignore[arg-type]
    assert committed == [[(topic, 0, 4), (topic, 1, 2)]]  # offsets after the last record of each partition


def test_a_batch_span_links_every_traced_event_and_outputs_keep_each_request_s_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    monkeypatch.setattr(batching, "_tracer", provider.get_tracer("test"))
    parents = [f"00-{n + 1:032x}-{n + 1:016x}-01" for n in range(2)]
    items = []
    for offset, parent in enumerate([*parents, None]):
        r = submission(offset, "text")
        headers = list(r.headers) + ([("traceparent", parent.encode())] if parent else [])
        received = core.decode(
            batching.Record(r.topic, 0, offset, r.key, r.value, headers), intake_events_pb2.SubmissionReceived
        )
        items.append(batching.Item(received, headers, True))

    with batching.batch_span(topics.SUBMISSION_RECEIVED, items) as span:
        assert span.get_span_context().is_valid
    (only,) = exported.get_finished_spans()
    assert only.name == f"{topics.SUBMISSION_RECEIVED} process" and only.attributes is not None
    assert only.attributes["messaging.batch.message_count"] == 3
    assert sorted(link.context.trace_id for link in only.links) == [1, 2]  # the untraced event has no link
    assert only.parent is None  # a batch belongs to no single request's trace
    assert items[0].trace_headers() == [("traceparent", parents[0].encode())] and items[2].trace_headers() == []

    with batching.batch_span(topics.SUBMISSION_RECEIVED, items, traced=False) as untraced:
        assert not untraced.get_span_context().is_valid
    assert len(exported.get_finished_spans()) == 1
