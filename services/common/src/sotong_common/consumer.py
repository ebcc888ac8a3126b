"""How every Sotong consumer treats a record, written once.

The Faust stream worker (`streams`), the micro-batch consumer (`batching`) and the publishing engine's lanes read
different clients (aiokafka through Faust, librdkafka, aiokafka directly), but a record means the same to each:

1. **Decode** the protobuf payload and the platform's metadata headers (`events`). A record that cannot be
   decoded can never be processed: it is a poison message, dead-lettered at once (stage `decode`).
2. **Continue the trace**: a CONSUMER span whose parent is the producer's `traceparent`, so what the handler
   produces or calls belongs to the same trace.
3. **Handle**, and classify what goes wrong (`classify`):
   - *transient* (`TRANSIENT`: the database or the broker is away): hold the partition and retry with backoff
     for as long as it takes. Skipping ahead would lose the event, and the next one would meet the same outage;
   - *poison* (`PoisonMessage`: the message breaks the contract): dead-letter at once, retrying cannot help;
   - *unexpected* (anything else: a bug, a provider answer no one foresaw): retry a bounded number of times
     (`Policy.max_attempts`), then dead-letter. One bad record must never stop a consumer, let alone a process:
     a process that dies on a record reads it again after its restart, and dies again.
4. **Dead-letter** to `<topic>.dlq` with the original key, value and headers plus why (`sotong_error`), where
   (`sotong_error_stage`), after how many attempts (`sotong_error_attempts`) and from which position; then go on
   with the next record. `sotong-publishing-replay` and the operators' dashboards read one format.

Each consumer kind keeps only what is its own: how it fetches, how it commits, and where it sends a dead letter
(Faust topic, Kafka transaction, durable producer).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka.errors import KafkaError
from google.protobuf.message import DecodeError, Message
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from sotong_common import database, events, logs, metrics, tracing
from sotong_common.errors import Unavailable
from sotong_common.topics import dlq_name

M = TypeVar("M", bound=Message)
T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (*database.UNAVAILABLE, KafkaError, asyncio.TimeoutError, Unavailable)
"""Failures that say the database or the broker is away, not that the record is bad."""

_tracer = tracing.tracer("sotong.kafka.consumer")
_log = logs.get("consumer")


class PoisonMessage(Exception):
    """The message can never be processed (malformed, violates the contract): dead-letter it at once."""


class Kind(enum.Enum):
    TRANSIENT = "transient"
    POISON = "poison"
    UNEXPECTED = "unexpected"


def classify(error: BaseException) -> Kind:
    """What a failure says about the record (see the module docstring)."""
    if isinstance(error, PoisonMessage):
        return Kind.POISON
    if isinstance(error, TRANSIENT):
        return Kind.TRANSIENT
    return Kind.UNEXPECTED


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka record, whichever client read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Received(Generic[M]):
    """One decoded event as a handler sees it."""

    message: M
    metadata: events.EventMetadata
    key: str
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Output:
    """A record to produce: an answer to an event, or a dead letter."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Policy:
    """How long a consumer keeps trying before it gives a record up.

    Transient failures are retried without limit (with backoff from `transient_base_s` doubling up to
    `transient_cap_s`); unexpected ones `max_attempts` times in all, `unexpected_pause_s` × attempt apart.
    """

    max_attempts: int = 3
    transient_base_s: float = 0.2
    transient_cap_s: float = 5.0  # a restarted database or broker is noticed within seconds of coming back
    unexpected_pause_s: float = 0.05

    def transient_delay(self, attempt: int) -> float:
        return float(min(self.transient_cap_s, self.transient_base_s * 2 ** min(attempt, 8)))


@dataclass(frozen=True)
class Failure:
    """A record given up: the error, the stage it failed in and how many attempts were made."""

    error: BaseException
    stage: str
    attempts: int

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"[:1000]


def decode(record: Record, message_type: type[M]) -> Received[M]:
    """Payload and metadata of `record`, or PoisonMessage saying why it can never be processed."""
    try:
        metadata = events.EventMetadata.from_headers(record.headers)
    except (events.MissingMetadata, ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"bad metadata: {exc}") from None
    try:
        message = message_type.FromString(record.value or b"")
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise PoisonMessage(f"cannot decode {message_type.DESCRIPTOR.full_name}: {exc}") from None
    key = record.key.decode("utf-8", "replace") if record.key is not None else ""
    return Received(message, metadata, key, record.topic, record.partition, record.offset)


@contextlib.contextmanager
def span(record: Record, event_id: str = "", traced: bool = True) -> Iterator[trace.Span]:
    """The record's CONSUMER span, child of the producer's span from `traceparent`.

    Untraced (no exporter configured, on a hot path): no span is built, but the producer's context is made
    current, so whatever is produced or called while handling the record still continues the upstream trace.
    """
    parent = tracing.extract_headers(record.headers)
    if not traced:
        token = otel_context.attach(parent)
        try:
            yield trace.get_current_span()
        finally:
            otel_context.detach(token)
        return
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.destination.name": record.topic,
        "messaging.kafka.message.offset": record.offset,
        "messaging.kafka.destination.partition": record.partition,
    }
    if event_id:
        attributes["messaging.message.id"] = event_id
    with _tracer.start_as_current_span(
        f"{record.topic} process", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as current:
        yield current


async def attempt(
    call: Callable[[], Awaitable[T]], record: Record, policy: Policy, stage: str = "handle"
) -> T | Failure:
    """Run `call` until it succeeds (its result) or the record is given up (a `Failure`); see the module doc.

    Transient failures hold the caller (and so the partition) until they pass; cancel the task to stop waiting.
    """
    attempts = 0
    transient = 0
    while True:
        attempts += 1
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = classify(exc)
            metrics.CONSUMER_FAILURES.labels(record.topic, kind.value).inc()
            if kind is Kind.POISON:
                return Failure(exc, stage, attempts)
            if kind is Kind.TRANSIENT:
                transient += 1
                attempts -= 1  # waiting out an outage is not an attempt at the record
                delay = policy.transient_delay(transient)
                _log.warning("transient failure, retrying", topic=record.topic, partition=record.partition,
                             offset=record.offset, retry=transient, delay_s=delay, error=repr(exc))  # fmt: skip
                await asyncio.sleep(delay)
                continue
            if attempts >= policy.max_attempts:
                return Failure(exc, stage, attempts)
            _log.warning("unexpected failure, retrying", topic=record.topic, partition=record.partition,
                         offset=record.offset, attempt=attempts, error=repr(exc), exc_info=exc)  # fmt: skip
            await asyncio.sleep(policy.unexpected_pause_s * attempts)


def dead_letter(record: Record, failure: Failure) -> Output:
    """The dead letter of `record`: its key, value and headers, plus why, where and after how many attempts.

    Counts it and logs it (without the payload: it may hold personal data) and marks the current span failed.
    """
    reason = failure.reason
    headers = events.dead_letter_headers(
        record.headers, record.topic, record.partition, record.offset, reason, failure.stage, failure.attempts
    )
    metrics.DEAD_LETTERS.labels(record.topic).inc()
    trace.get_current_span().set_status(Status(StatusCode.ERROR, reason))
    _log.warning("message dead-lettered", topic=record.topic, partition=record.partition, offset=record.offset,
                 stage=failure.stage, attempts=failure.attempts, error=reason)  # fmt: skip
    return Output(dlq_name(record.topic), record.key, record.value or b"", headers)


async def consume(
    record: Record,
    message_type: type[M],
    handle: Callable[[Received[M]], Awaitable[T]],
    policy: Policy,
    traced: bool = True,
) -> T | Failure:
    """Decode, trace and handle one record: the handler's result, or the `Failure` to dead-letter."""
    started = time.perf_counter()
    try:
        received = decode(record, message_type)
    except PoisonMessage as exc:
        with span(record, traced=traced):
            return Failure(exc, "decode", 1)
    with span(record, received.metadata.event_id, traced) as current:
        outcome = await attempt(lambda: handle(received), record, policy)
        if isinstance(outcome, Failure):
            current.set_status(Status(StatusCode.ERROR, outcome.reason))
        else:
            metrics.EVENTS_PROCESSED.labels(record.topic, "ok").inc()
    metrics.PROCESSING_LATENCY.labels(record.topic).observe(time.perf_counter() - started)
    return outcome


def records_of(items: Sequence[Any]) -> list[Record]:
    """Records from any client's messages that expose topic/partition/offset/key/value/headers attributes."""
    return [
        Record(m.topic, m.partition, m.offset, m.key, m.value, [(k, bytes(v or b"")) for k, v in (m.headers or ())])
        for m in items
    ]
