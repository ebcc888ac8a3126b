"""Micro-batched stream handlers: the event contract of `streams.Worker.handler`, one handler call per batch.

A handler that writes to PostgreSQL per event pays a round trip and a commit per event; at thousands of events a
second that, not the work, is the limit. `BatchConsumer` hands each handler the decoded events of one fetch (up
to `max_batch`, waiting at most `within` seconds for them), so it can store them with one statement and one
commit.

It runs inside a service's Faust worker process (`attach(worker)`: started and stopped with the app) but reads
with its own aiokafka consumer in the consumer group `<app id>-batch`, with manual offset commits. Measured on
the moderation worker, Faust's per-event stream machinery (`Stream.take_events`) delivered small batches and
capped the worker well below the pipeline's own speed; a plain `getmany` delivers the whole fetch at once.

The guarantees stay those of `Worker.handler`:
- an event that cannot be decoded (payload or metadata headers) is dead-lettered before the handler sees it;
- the handler returns the events it refuses (`Rejected`), which are dead-lettered; the rest count as done;
- a transient failure (database or broker unavailable) retries the whole batch with backoff, holding the
  partitions, so the handler must be idempotent per event (deduplicated by event id);
- any other failure retries the batch, then splits it into single events so only the one that keeps failing
  goes to the dead-letter topic;
- offsets are committed only after the batch (and its dead letters, acknowledged by the broker) is done. A crash
  or SIGKILL redelivers everything after the last commit, which the idempotent handler turns into no-ops; on a
  rebalance the consumer finishes its batch and commits before it gives partitions up.

Tracing: `Item.span()` opens the per-event CONSUMER span (continuing the producer's trace), so whatever the
handler produces for one event carries that event's trace, exactly as with `Worker.handler`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from google.protobuf.message import DecodeError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from sotong_common import events, logs, metrics, producer, tracing
from sotong_common.streams import TRANSIENT, M, PoisonMessage, Received, Worker
from sotong_common.topics import dlq_name

_tracer = tracing.tracer("sotong.kafka.consumer")


@dataclass(frozen=True)
class Item(Generic[M]):
    """One decoded event of a batch, with the Kafka headers its trace context travels in."""

    received: Received[M]
    headers: list[tuple[str, bytes]]
    traced: bool = True

    @contextlib.contextmanager
    def span(self) -> Iterator[trace.Span]:
        """The event's CONSUMER span, child of the producer's span (as `Worker.handler` opens it).

        Untraced (no exporter configured): no span is built, but the producer's context is made current, so
        events produced while handling this one still continue the upstream trace.
        """
        if not self.traced:
            token = otel_context.attach(tracing.extract_headers(self.headers))
            try:
                yield trace.get_current_span()
            finally:
                otel_context.detach(token)
            return
        with _tracer.start_as_current_span(
            f"{self.received.topic} process",
            context=tracing.extract_headers(self.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": self.received.topic,
                "messaging.kafka.message.offset": self.received.offset,
                "messaging.kafka.destination.partition": self.received.partition,
                "messaging.message.id": self.received.metadata.event_id,
            },
        ) as span:
            yield span


@dataclass(frozen=True)
class Rejected:
    """An event of the batch the handler refuses for good; it goes to the dead-letter topic."""

    index: int
    error: PoisonMessage


BatchHandler = Callable[[Sequence[Item[Any]]], Awaitable[Sequence[Rejected]]]


@dataclass
class _Route:
    topic: str
    message_type: type[Any]
    fn: BatchHandler


@dataclass
class BatchConsumer:
    """Batched handlers for a Faust worker's process; register with `handler`, then `attach`."""

    worker: Worker
    bootstrap: str
    max_batch: int = 500
    within: float = 0.02
    max_attempts: int = 3
    # False when spans go nowhere (SOTONG_OTEL_EXPORTER=none): building one per event costs more than the
    # batch's database write; trace context still flows through (see `Item.span`).
    trace_events: bool = True
    _routes: dict[str, _Route] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _stopping: bool = False

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.within <= 0:
            raise ValueError("max_batch must be >= 1 and within > 0")
        self._log = logs.get("worker")

    def handler(self, topic: str, message_type: type[M]) -> Callable[[BatchHandler], BatchHandler]:
        """Register `fn` for the events of `topic` (at most one handler per topic)."""

        def register(fn: BatchHandler) -> BatchHandler:
            if topic in self._routes:
                raise ValueError(f"{topic} already has a batch handler")
            self._routes[topic] = _Route(topic, message_type, fn)
            return fn

        return register

    def attach(self) -> None:
        """Run with the worker's Faust app: start when it starts, finish the batch and commit when it stops."""
        app = self.worker.app

        @app.task  # type: ignore[untyped-decorator]
        async def batch_consumer() -> None:
            await self.run()

    async def run(self) -> None:
        group = f"{self.worker.app.conf.id}-batch"
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=group,
            client_id=f"{group}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_batch,
            fetch_max_wait_ms=max(1, int(self.within * 1000)),
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
        )
        dead_letters = producer.durable(self.bootstrap, f"{group}-dlq")
        consumer.subscribe(list(self._routes), listener=_FinishBeforeRevoke(self, consumer))
        await dead_letters.start()
        await consumer.start()
        try:
            while not self._stopping:
                fetched = await consumer.getmany(timeout_ms=int(self.within * 1000), max_records=self.max_batch)
                if not fetched:
                    continue
                # Shielded: a stop in the middle of a batch lets it finish and commit rather than half-happen.
                await asyncio.shield(self._batch(consumer, dead_letters, fetched))
        except asyncio.CancelledError:
            self._stopping = True
            async with self._lock:  # the shielded batch, if any, finishes first
                pass
            raise
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await dead_letters.stop()

    async def _batch(
        self,
        consumer: AIOKafkaConsumer,
        dead_letters: AIOKafkaProducer,
        fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        async with self._lock:
            started = time.perf_counter()
            by_topic: dict[str, list[ConsumerRecord[bytes, bytes]]] = {}
            for tp, records in fetched.items():
                by_topic.setdefault(tp.topic, []).extend(records)
            pending: list[asyncio.Future[Any]] = []
            for topic, records in by_topic.items():
                route = self._routes[topic]
                await self._topic_batch(route, records, dead_letters, pending)
            if pending:
                await asyncio.gather(*pending)  # dead letters acknowledged before the offsets move
            try:
                await consumer.commit(
                    {tp: OffsetAndMetadata(records[-1].offset + 1, "") for tp, records in fetched.items() if records}
                )
            except KafkaError as exc:
                # The partitions moved (rebalance) or the broker is away: the batch is stored; its events will be
                # delivered again to whoever owns the partitions and find their decisions already made.
                self._log.warning("offset commit failed; the batch will be redelivered", error=repr(exc))
            metrics.PROCESSING_LATENCY.labels("batch").observe(time.perf_counter() - started)

    async def _topic_batch(
        self,
        route: _Route,
        records: list[ConsumerRecord[bytes, bytes]],
        dead_letters: AIOKafkaProducer,
        pending: list[asyncio.Future[Any]],
    ) -> None:
        items: list[Item[Any]] = []
        sources: list[ConsumerRecord[bytes, bytes]] = []
        for record in records:
            headers = [(k, bytes(v) if v is not None else b"") for k, v in record.headers or ()]
            try:
                received = decode(record, route.topic, route.message_type, headers)
            except PoisonMessage as exc:
                pending.append(await self._dead_letter(dead_letters, record, headers, route.topic, exc, "decode"))
                continue
            items.append(Item(received, headers, self.trace_events))
            sources.append(record)
        if items:
            await self._attempt(route, items, sources, dead_letters, pending)

    async def _attempt(
        self,
        route: _Route,
        items: list[Item[Any]],
        sources: list[ConsumerRecord[bytes, bytes]],
        dead_letters: AIOKafkaProducer,
        pending: list[asyncio.Future[Any]],
    ) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                rejected = await route.fn(items)
            except PoisonMessage as exc:
                if len(items) == 1:
                    pending.append(await self._reject(dead_letters, sources[0], items[0], route.topic, exc))
                    return
                for one, source in zip(items, sources, strict=True):
                    await self._attempt(route, [one], [source], dead_letters, pending)
                return
            except TRANSIENT as exc:
                delay = min(30.0, 0.2 * 2 ** min(attempt, 8))
                self._log.warning("transient failure, retrying batch", topic=route.topic, size=len(items),
                                  attempt=attempt, error=repr(exc))  # fmt: skip
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                if attempt < self.max_attempts:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                if len(items) == 1:
                    pending.append(await self._reject(dead_letters, sources[0], items[0], route.topic, exc))
                    return
                self._log.warning("batch keeps failing; handling its events one by one", topic=route.topic,
                                  size=len(items), error=repr(exc))  # fmt: skip
                for one, source in zip(items, sources, strict=True):
                    await self._attempt(route, [one], [source], dead_letters, pending)
                return
            refused = {r.index: r.error for r in rejected if 0 <= r.index < len(items)}
            for index, error in refused.items():
                pending.append(await self._reject(dead_letters, sources[index], items[index], route.topic, error))
            if len(items) > len(refused):
                metrics.EVENTS_PROCESSED.labels(route.topic, "ok").inc(len(items) - len(refused))
            return

    async def _reject(
        self,
        dead_letters: AIOKafkaProducer,
        record: ConsumerRecord[bytes, bytes],
        item: Item[Any],
        topic: str,
        error: BaseException,
    ) -> asyncio.Future[Any]:
        with item.span():
            return await self._dead_letter(dead_letters, record, item.headers, topic, error, "handle")

    async def _dead_letter(
        self,
        dead_letters: AIOKafkaProducer,
        record: ConsumerRecord[bytes, bytes],
        headers: list[tuple[str, bytes]],
        topic: str,
        error: BaseException,
        stage: str,
    ) -> asyncio.Future[Any]:
        """The same dead letter `Worker.handler` writes: original key, value and headers plus the error."""
        reason = f"{type(error).__name__}: {error}"[:1000]
        out = events.dead_letter_headers(headers, topic, record.partition, record.offset, reason, stage)
        sent: asyncio.Future[Any] = await dead_letters.send(
            dlq_name(topic), value=record.value or b"", key=record.key, headers=out
        )
        metrics.DEAD_LETTERS.labels(topic).inc()
        self._log.warning("message dead-lettered", topic=topic, partition=record.partition, offset=record.offset,
                          error=reason)  # fmt: skip
        return sent


def decode(
    record: ConsumerRecord[bytes, bytes], topic: str, message_type: type[M], headers: list[tuple[str, bytes]]
) -> Received[M]:
    """Payload and metadata of one record, or PoisonMessage saying why it can never be processed."""
    try:
        metadata = events.EventMetadata.from_headers(headers)
    except (events.MissingMetadata, ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"bad metadata: {exc}") from None
    try:
        message = message_type.FromString(record.value or b"")
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise PoisonMessage(f"cannot decode {message_type.DESCRIPTOR.full_name}: {exc}") from None
    key = record.key.decode("utf-8", "replace") if record.key is not None else ""
    return Received(message, metadata, key, topic, record.partition, record.offset)


class _FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions leave only between batches, so the next owner starts after what this one committed."""

    def __init__(self, owner: BatchConsumer, consumer: AIOKafkaConsumer) -> None:
        self._owner = owner
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._owner._lock:
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None
