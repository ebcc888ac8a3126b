"""Micro-batched stream handlers: the same event contract as `streams.Worker.handler`, one call per batch.

A handler that writes to PostgreSQL per event pays a round trip and a commit per event; at thousands of events a
second that, not the work, is the limit. `batch_handler` hands the handler up to `max_batch` decoded events that
arrived within `within` seconds, so it can write them with one statement and one commit.

The guarantees stay those of `Worker.handler`:
- an event that cannot be decoded is dead-lettered before the handler sees the batch;
- the handler returns the events it refuses (`Rejected`), which are dead-lettered, and the rest count as done;
- a transient failure (database or broker unavailable) retries the whole batch with backoff, holding the
  partitions, so the handler must be idempotent per event (it is: events are deduplicated by id);
- any other failure retries the batch, then splits it into single events so only the one that keeps failing
  goes to the dead-letter topic;
- offsets advance only past events whose batch finished. Faust's `take_events` acknowledges the buffered events
  when the consumer leaves its loop for any reason, so a batch interrupted by a stop (cancellation) first gets
  `drain_timeout` seconds to finish, and if it cannot, its events are marked as handled-elsewhere so the
  acknowledgement does not move the committed offset past them: the next owner of the partition reads them again.
  A SIGKILL acknowledges nothing, so everything since the last commit is redelivered.

Tracing: `Item.span()` opens the per-event CONSUMER span (continuing the producer's trace), so events produced
while handling one event carry that event's trace, exactly as with `Worker.handler`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic

import faust
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from sotong_common import logs, metrics, tracing
from sotong_common.streams import TRANSIENT, M, PoisonMessage, Received, Worker, _headers
from sotong_common.topics import dlq_name

_tracer = tracing.tracer("sotong.kafka.consumer")


@dataclass(frozen=True)
class Item(Generic[M]):
    """One decoded event of a batch, with the Kafka headers its trace context travels in."""

    received: Received[M]
    headers: list[tuple[str, bytes]]

    @contextlib.contextmanager
    def span(self) -> Iterator[trace.Span]:
        """The event's CONSUMER span, child of the producer's span (as `Worker.handler` opens it)."""
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


def batch_handler(
    worker: Worker,
    topic_name: str,
    message_type: type[M],
    *,
    max_batch: int = 500,
    within: float = 0.02,
    drain_timeout: float = 10.0,
) -> Callable[[BatchHandler], BatchHandler]:
    """Register `fn` to handle the events of `topic_name` in batches (see the module docstring)."""
    if max_batch < 1 or within <= 0:
        raise ValueError("max_batch must be >= 1 and within > 0")
    source = worker.topic(topic_name)
    dlq = worker.topic(dlq_name(topic_name))
    runner = _BatchRunner(worker, topic_name, message_type, dlq, drain_timeout)

    def register(fn: BatchHandler) -> BatchHandler:
        async def agent(stream: faust.StreamT[bytes]) -> None:
            # take_events is on faust's Stream but missing from its StreamT protocol.
            async for events in stream.take_events(max_batch, within):  # type: ignore[attr-defined]
                await runner.run(list(events), fn)

        agent.__name__ = agent.__qualname__ = f"{fn.__name__}_agent"
        worker.app.agent(source, name=f"sotong.{worker.service}.{fn.__name__}")(agent)
        return fn

    return register


class _BatchRunner(Generic[M]):
    def __init__(
        self, worker: Worker, topic: str, message_type: type[M], dlq: faust.TopicT, drain_timeout: float
    ) -> None:
        self._worker = worker
        self._topic = topic
        self._type = message_type
        self._dlq = dlq
        self._drain = drain_timeout
        self._log = logs.get("worker")

    async def run(self, events: list[faust.EventT[bytes]], fn: BatchHandler) -> None:
        task = asyncio.ensure_future(self._handle(events, fn))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # Stopping or rebalancing: let the batch finish so its acknowledgement is true; if it cannot finish
            # in time, keep its offsets uncommitted (see the module docstring).
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(task), timeout=self._drain)
            if not task.done() or task.cancelled() or task.exception() is not None:
                task.cancel()
                withhold_acks(events)
            raise

    async def _handle(self, events: list[faust.EventT[bytes]], fn: BatchHandler) -> None:
        started = time.perf_counter()
        items: list[Item[M]] = []
        sources: list[faust.EventT[bytes]] = []
        for event in events:
            headers = _headers(event)
            try:
                received = self._worker._decode(event, self._topic, self._type, headers)
            except PoisonMessage as exc:
                await self._worker._dead_letter(event, headers, self._dlq, self._topic, exc, "decode")
                continue
            items.append(Item(received, headers))
            sources.append(event)
        if items:
            await self._attempt(items, sources, fn)
        metrics.PROCESSING_LATENCY.labels(self._topic).observe(time.perf_counter() - started)

    async def _attempt(self, items: list[Item[M]], sources: list[faust.EventT[bytes]], fn: BatchHandler) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                rejected = await fn(items)
            except PoisonMessage as exc:
                if len(items) == 1:
                    await self._reject(sources[0], items[0], exc)
                    return
                await self._one_by_one(items, sources, fn)
                return
            except TRANSIENT as exc:
                delay = min(30.0, 0.2 * 2 ** min(attempt, 8))
                self._log.warning("transient failure, retrying batch", topic=self._topic, size=len(items),
                                  attempt=attempt, error=repr(exc))  # fmt: skip
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                if attempt < self._worker.max_attempts:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                if len(items) == 1:
                    await self._reject(sources[0], items[0], exc)
                    return
                self._log.warning("batch keeps failing; handling its events one by one", topic=self._topic,
                                  size=len(items), error=repr(exc))  # fmt: skip
                await self._one_by_one(items, sources, fn)
                return
            refused = {r.index: r.error for r in rejected if 0 <= r.index < len(items)}
            for index, error in refused.items():
                await self._reject(sources[index], items[index], error)
            ok = len(items) - len(refused)
            if ok:
                metrics.EVENTS_PROCESSED.labels(self._topic, "ok").inc(ok)
            return

    async def _one_by_one(self, items: list[Item[M]], sources: list[faust.EventT[bytes]], fn: BatchHandler) -> None:
        for item, source in zip(items, sources, strict=True):
            await self._attempt([item], [source], fn)

    async def _reject(self, event: faust.EventT[bytes], item: Item[M], error: BaseException) -> None:
        with item.span():
            await self._worker._dead_letter(event, item.headers, self._dlq, self._topic, error, "handle")


def withhold_acks(events: Sequence[faust.EventT[bytes]]) -> None:
    """Make Faust's coming acknowledgement of `events` a no-op, so their offsets stay uncommitted.

    Faust's consumer ignores `ack()` for a message already flagged `acked`, and commits only up to the first
    offset it never acknowledged; the flag alone leaves a gap that holds the committed offset back.
    """
    for event in events:
        event.message.acked = True
