"""Micro-batched, exactly-once stream handlers on librdkafka: consume a batch, handle it, publish and commit atomically.

A handler that writes to PostgreSQL per event pays a round trip and a commit per event; at thousands of events a
second that, not the work, is the limit. `BatchConsumer` hands each handler the decoded events of one fetch (up
to `max_batch`, waiting at most `within` seconds for them), so it can store them with one statement and one
commit, and returns the events to publish in answer (`Handled.output`).

Kafka work runs in librdkafka (confluent-kafka): fetching, batching, compression and acknowledgements happen on
its own threads, outside the GIL, so the Python thread spends its time on the handler. Measured on the
moderation worker, the pure-Python aiokafka path plus an outbox round trip per decision (insert, relay SELECT,
produce, DELETE) cost more CPU than the moderation pipeline itself.

Guarantees (the event contract of `streams.Worker.handler`, plus exactly-once output):
- an event that cannot be decoded (payload or metadata headers) is dead-lettered before the handler sees it;
- the handler returns the events it refuses (`Rejected`), which are dead-lettered; the rest count as done;
- a transient failure (database unavailable) retries the whole batch with backoff, holding the partitions, so
  the handler must be idempotent per event (deduplicated by event id) and must return the same output for an
  event it has already handled (e.g. the stored decision, not a new one);
- any other failure retries the batch, then splits it into single events so only the one that keeps failing
  goes to the dead-letter topic;
- the batch's output events, its dead letters and its consumer offsets are committed in one Kafka transaction
  (KIP-447: fenced by the consumer group generation). A crash or SIGKILL before that commit aborts them all and
  the events come again; consumers reading `read_committed` never see a half-handled batch, and consumers that
  do not still receive each output with a stable event id to deduplicate on.

Tracing: `Item.span()` opens the per-event CONSUMER span (continuing the producer's trace), so whatever the
handler produces for one event carries that event's trace, exactly as with `Worker.handler`. A handler that does
one thing for the whole batch opens `batch_span` instead (OpenTelemetry's messaging conventions for batch
processing: one span linked to every event's producer span) and passes each event's own `Item.trace_headers` on
to what it produces, so every request's trace still continues downstream; building and exporting a span per
event cost intake's storing worker a tenth of its CPU.

It runs in a service's worker process as a part of the process lifecycle (`sotong_common.process`), in its own
consumer group `<app id>-batch`; failures are classified and dead-lettered by the platform's consumer core
(`sotong_common.consumer`), like every other consumer's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from opentelemetry import context as otel_context
from opentelemetry import trace

from sotong_common import consumer as core
from sotong_common import logs, metrics, streams, tracing
from sotong_common.consumer import M, Output, PoisonMessage, Received, Record
from sotong_common.producer import KafkaLog

__all__ = ["BatchConsumer", "Handled", "Item", "Output", "Record", "Rejected"]

# How long a transaction left open by a killed process may hold back read_committed consumers of its output.
TRANSACTION_TIMEOUT_MS = 10_000
# One transactional call's wait (librdkafka returns a retriable timeout after it), and how long a commit is resumed
# before the batch is aborted and read again.
TRANSACTION_CALL_TIMEOUT_S = 10.0
TRANSACTION_RESUME_S = 60.0
# How long leaving the consumer group may take when a session ends (the broker expires the member after that).
CLOSE_WAIT_S = 15.0
# How long past its own timeout a transactional call may stay blocked before the session is abandoned.
WEDGE_MARGIN_S = 15.0


class _Wedged(Exception):
    """A transactional call that did not return within its timeout: the session's clients are abandoned."""


@dataclass(frozen=True)
class Item(Generic[M]):
    """One decoded event of a batch, with the Kafka headers its trace context travels in."""

    received: Received[M]
    headers: list[tuple[str, bytes]]
    traced: bool = True

    @contextlib.contextmanager
    def span(self) -> Iterator[trace.Span]:
        """The event's CONSUMER span, child of the producer's span (as every consumer opens it, `consumer.span`)."""
        r = self.received
        record = Record(r.topic, r.partition, r.offset, None, None, self.headers)
        with core.span(record, r.metadata.event_id, self.traced) as current:
            yield current

    def trace_headers(self) -> list[tuple[str, bytes]]:
        """The producer's trace context as the event carried it: what an output continues without a span of ours."""
        return [(k, v) for k, v in self.headers if k in _TRACE_HEADERS]


_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
_tracer = trace.get_tracer("sotong.batching")


@contextlib.contextmanager
def batch_span(topic: str, items: Sequence[Item[Any]], traced: bool = True) -> Iterator[trace.Span]:
    """One CONSUMER span for a batch handled as a whole, linked to the producer span of each event that has one."""
    if not traced:
        yield trace.INVALID_SPAN
        return
    links = []
    for item in items:
        context = trace.get_current_span(tracing.extract_headers(item.headers)).get_span_context()
        if context.is_valid:
            links.append(trace.Link(context))
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.batch.message_count": len(items),
    }
    with _tracer.start_as_current_span(
        f"{topic} process", context=otel_context.Context(), kind=trace.SpanKind.CONSUMER, links=links,
        attributes=attributes,
    ) as current:  # fmt: skip
        yield current


@dataclass(frozen=True)
class Rejected:
    """An event of the batch the handler refuses for good; it goes to the dead-letter topic."""

    index: int
    error: PoisonMessage


@dataclass(frozen=True)
class Handled:
    """What a handler did with a batch: the events it refuses and the events to publish in answer."""

    rejected: Sequence[Rejected] = ()
    output: Sequence[Output] = ()


BatchHandler = Callable[[Sequence[Item[Any]]], Awaitable[Handled]]


@dataclass
class _Route:
    topic: str
    message_type: type[Any]
    fn: BatchHandler


@dataclass
class _Outcome:
    """What handling one batch produced: outputs (dead letters among them) and how many events each topic had done."""

    output: list[Output] = field(default_factory=list)
    dead_letters: int = 0
    processed: dict[str, int] = field(default_factory=dict)


@dataclass
class BatchConsumer:
    """Batched handlers of one service; register with `handler`, then run in the process lifecycle:
    `proc.task("batch consumer", consumer.run, stop=consumer.stop)`."""

    service: str
    bootstrap: str
    max_batch: int = 500
    within: float = 0.02
    policy: core.Policy = field(default_factory=core.Policy)
    # False when spans go nowhere (SOTONG_OTEL_EXPORTER=none): building one per event costs more than the
    # batch's database write; trace context still flows through (see `Item.span`).
    trace_events: bool = True
    _routes: dict[str, _Route] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _stopping: bool = False
    _committing: asyncio.Future[tuple[bool, dict[tuple[str, int], int]]] | None = None
    _idle: threading.Event = field(default_factory=threading.Event)
    _txn_thread: concurrent.futures.ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.within <= 0:
            raise ValueError("max_batch must be >= 1 and within > 0")
        self._log = logs.get("worker")
        self._idle.set()

    @property
    def group(self) -> str:
        return f"{streams.app_id(self.service)}-batch"

    def handler(self, topic: str, message_type: type[M]) -> Callable[[BatchHandler], BatchHandler]:
        """Register `fn` for the events of `topic` (at most one handler per topic)."""

        def register(fn: BatchHandler) -> BatchHandler:
            if topic in self._routes:
                raise ValueError(f"{topic} already has a batch handler")
            self._routes[topic] = _Route(topic, message_type, fn)
            return fn

        return register

    def stop(self) -> None:
        """Finish the batch in hand, commit it and leave the group (`run` then returns)."""
        self._stopping = True

    def _clients(self) -> tuple[Consumer, Producer]:
        group = self.group
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group,
                "client.id": f"{group}-consumer",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 2_000,
                "fetch.wait.max.ms": max(1, int(self.within * 1000)),
                "logger": KafkaLog(self._log),
            }
        )
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "client.id": f"{group}-producer",
                # Unique per running process: a restarted process takes a new one, and the broker aborts its
                # predecessor's open transaction after TRANSACTION_TIMEOUT_MS.
                "transactional.id": f"{group}-{socket.gethostname()}-{os.getpid()}",
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                "linger.ms": 2,
                # A transaction begun right after the previous commit waits (CONCURRENT_TRANSACTIONS) until the
                # broker has written that commit's markers, ~20-30 ms here; librdkafka's default backoff (100 ms,
                # growing) turned each such wait into 40-110 ms per batch (measured).
                "retry.backoff.ms": 5,
                "retry.backoff.max.ms": 50,
                "logger": KafkaLog(self._log),
            }
        )
        return consumer, producer

    async def run(self) -> None:
        """Consume until stopped; a wedged transactional call starts a new session from the committed offsets."""
        while not self._stopping:
            try:
                await self._session()
            except _Wedged as wedged:
                metrics.CONSUMER_RESTARTS.labels(self.group, "wedged").inc()
                self._log.error("transactional call did not return; starting over from the committed offsets "
                                "with new clients", call=str(wedged))  # fmt: skip
                await asyncio.sleep(1.0)

    async def _session(self) -> None:
        """One consumer and one transactional producer, from joining the group to leaving it.

        Nothing of a batch is visible until its transaction commits, so a new session that starts from the group's
        committed offsets reads again exactly what an abandoned one had not committed (handlers are idempotent).
        The new producer takes the same transactional.id, which fences the abandoned one and aborts its open
        transaction on the broker.
        """
        loop = asyncio.get_running_loop()
        consumer, producer = self._clients()
        # Transactional calls get a thread of their own: a call librdkafka never returns from (see `_call`) is
        # abandoned with its thread, and the fetches and the handlers' threads are not held up by it.
        self._txn_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{self.group}-txn")
        txn_thread = self._txn_thread
        fetching: asyncio.Future[list[Any]] | None = None
        wedged = False
        try:
            await self._call(producer.init_transactions, 60, wait=60)
            consumer.subscribe(list(self._routes), on_revoke=self._before_revoke)
            while not self._stopping:
                fetching = loop.run_in_executor(None, self._fetch, consumer)
                messages = await fetching
                fetching = None
                records = self._records(messages)
                if records:
                    # Shielded: a stop in the middle of a batch lets it finish and commit rather than half-happen.
                    await asyncio.shield(self._batch(consumer, producer, records))
                elif self._committing is not None and self._committing.done():
                    await self._settle(consumer)  # surfaces a fatal producer error even when no events come
        except _Wedged:
            wedged = True
            raise
        except asyncio.CancelledError:
            self._stopping = True
            async with self._lock:  # the shielded batch, if any, finishes first
                pass
            raise
        finally:
            if fetching is not None:  # the consumer is not thread-safe: let the fetch in flight end first
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(fetching), timeout=self.within + 5)
            with contextlib.suppress(Exception, _Wedged):
                await self._settle(consumer)
            self._committing = None
            # Leaving the group can block as the transactional calls did when the coordinator went away: a session
            # being abandoned gives it a bounded time, then leaves the consumer to its thread.
            closing = loop.run_in_executor(None, consumer.close)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(closing), timeout=CLOSE_WAIT_S)
            if not wedged:
                with contextlib.suppress(Exception):
                    await loop.run_in_executor(None, producer.flush, 5)
            txn_thread.shutdown(wait=not wedged, cancel_futures=True)

    async def _call(self, call: Callable[..., None], *args: Any, wait: float) -> None:
        """A transactional call on the producer's own thread; `_Wedged` if it has not returned after `wait` + a margin.

        librdkafka's send_offsets_to_transaction can block past its own timeout when the group coordinator went
        away (confluentinc/librdkafka#5456, #5511; seen here after a single broker restarted: the consumer group
        was Stable and nothing was fetched again). Every later transaction would queue behind it forever.
        """
        loop = asyncio.get_running_loop()
        assert self._txn_thread is not None, "transactional calls run inside a session"
        future = loop.run_in_executor(self._txn_thread, call, *args)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=wait + WEDGE_MARGIN_S)
        except TimeoutError:
            raise _Wedged(getattr(call, "__name__", repr(call))) from None

    def _fetch(self, consumer: Consumer) -> list[Any]:
        """Up to `max_batch` records: wait at most `within` for the first, then take what is already fetched.

        `consume(n, timeout)` would wait the whole timeout for `n` records when traffic is light, adding `within`
        to every event's latency; under load the prefetched queue fills the batch either way.
        """
        first = consumer.poll(self.within)
        if first is None:
            return []
        return [first, *consumer.consume(self.max_batch - 1, 0)] if self.max_batch > 1 else [first]

    def _before_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Called inside `consume` (on an executor thread) during a rebalance: hold the partitions until the
        transaction in flight has committed or aborted, so the next owner starts after it."""
        self._idle.wait(60)

    def _records(self, messages: list[Any]) -> list[Record]:
        out: list[Record] = []
        for m in messages:
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise KafkaException(err)
                self._log.warning("consumer error", error=str(err))
                continue
            headers = [(k, bytes(v) if v is not None else b"") for k, v in m.headers() or ()]
            out.append(Record(m.topic(), m.partition(), m.offset(), m.key(), m.value(), headers))
        return out

    async def _batch(self, consumer: Consumer, producer: Producer, records: list[Record]) -> None:
        """Handle a batch, then commit it in a transaction that runs while the next batch is fetched and handled.

        Kafka transactions of one producer are sequential, but the handler's work (the pipeline, PostgreSQL) does
        not need the previous transaction: overlapping them keeps the worker busy during the commit's round
        trips. Batch N+1 is committed only after batch N's transaction succeeded; if N's was aborted, both are
        read again from N's first offsets (the handlers are idempotent).
        """
        async with self._lock:
            started = time.perf_counter()
            by_topic: dict[str, list[Record]] = {}
            for r in records:
                by_topic.setdefault(r.topic, []).append(r)
            outcome = _Outcome()
            for topic, batch in by_topic.items():
                await self._topic_batch(self._routes[topic], batch, outcome)
            positions: dict[tuple[str, int], int] = {}
            firsts: dict[tuple[str, int], int] = {}
            for r in records:
                positions[(r.topic, r.partition)] = r.offset + 1
                firsts.setdefault((r.topic, r.partition), r.offset)
            if not await self._settle(consumer, rewind_also=firsts):
                return
            offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
            self._idle.clear()
            self._committing = asyncio.ensure_future(
                self._commit_batch(consumer, producer, outcome, offsets, firsts, started)
            )

    async def _settle(self, consumer: Consumer, rewind_also: dict[tuple[str, int], int] | None = None) -> bool:
        """Wait for the transaction in flight; False if it was aborted (then `rewind_also` is read again too)."""
        previous, self._committing = self._committing, None
        if previous is None:
            return True
        ok, rewound = await previous
        if not ok and rewind_also:
            self._rewind(consumer, {k: o for k, o in rewind_also.items() if k not in rewound})
        return ok

    async def _commit_batch(
        self,
        consumer: Consumer,
        producer: Producer,
        outcome: _Outcome,
        offsets: list[TopicPartition],
        firsts: dict[tuple[str, int], int],
        started: float,
    ) -> tuple[bool, dict[tuple[str, int], int]]:
        try:
            ok = await self._commit(consumer, producer, outcome.output, offsets)
            if ok:
                for topic, n in outcome.processed.items():
                    metrics.EVENTS_PROCESSED.labels(topic, "ok").inc(n)
            else:
                self._rewind(consumer, firsts)  # nothing of this batch is visible: read it again
            metrics.PROCESSING_LATENCY.labels("batch").observe(time.perf_counter() - started)
            return ok, firsts
        finally:
            self._idle.set()

    def _rewind(self, consumer: Consumer, firsts: dict[tuple[str, int], int]) -> None:
        for (t, p), o in firsts.items():
            with contextlib.suppress(KafkaException):  # a partition no longer ours: its new owner reads it
                consumer.seek(TopicPartition(t, p, o))

    async def _commit(
        self, consumer: Consumer, producer: Producer, output: list[Output], offsets: list[TopicPartition]
    ) -> bool:
        """Publish `output` and move the offsets in one transaction; False if it had to be aborted.

        librdkafka's contract for a transaction whose broker went away: a retriable error (a timeout) means the
        same call is made again and resumes where it stopped; an abortable one means the transaction is aborted
        and the batch read again; a fatal one ends this producer. Beginning a new transaction over an unfinished
        one is refused (_STATE), so a commit that timed out while the broker restarted must be resumed, not
        restarted, or every later batch is refused too and the consumer stops making progress.
        """
        try:
            producer.begin_transaction()
            for o in output:
                self._produce(producer, o)
            group = consumer.consumer_group_metadata()
            await self._resume(producer.send_offsets_to_transaction, offsets, group, TRANSACTION_CALL_TIMEOUT_S)
            await self._resume(producer.commit_transaction, TRANSACTION_CALL_TIMEOUT_S)
            return True
        except KafkaException as exc:
            error = exc.args[0]
            if error.fatal():  # fenced by a newer incarnation, or the broker refuses this producer for good
                self._log.error("transactional producer failed fatally; stopping", error=str(error))
                raise
            self._log.warning("batch transaction aborted; the batch is read again", error=str(error),
                              abort=error.txn_requires_abort(), retriable=error.retriable())  # fmt: skip
            try:
                await self._resume(producer.abort_transaction, TRANSACTION_CALL_TIMEOUT_S, until_done=True)
            except KafkaException as abort_exc:
                if abort_exc.args[0].fatal():
                    raise
                # Not retriable and not fatal: nothing was open to abort (begin_transaction itself was refused).
                self._log.warning("batch transaction abort refused", error=str(abort_exc.args[0]))
            return False

    async def _resume(self, call: Callable[..., None], *args: Any, until_done: bool = False) -> None:
        """Make a transactional call, making it again while it fails retriably (it resumes where it stopped).

        Gives up (re-raising) after TRANSACTION_RESUME_S unless `until_done`: an abort must finish before the
        next transaction can begin, so it is resumed for as long as the broker takes to come back.
        """
        deadline = time.monotonic() + TRANSACTION_RESUME_S
        attempt = 0
        while True:
            try:
                await self._call(call, *args, wait=TRANSACTION_CALL_TIMEOUT_S)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal() or not error.retriable() or self._stopping:
                    raise
                if not until_done and time.monotonic() > deadline:
                    raise
                attempt += 1
                self._log.warning("transaction call failed; resuming", call=getattr(call, "__name__", "?"),
                                  attempt=attempt, error=str(error))  # fmt: skip
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))

    def _produce(self, producer: Producer, o: Output) -> None:
        headers: list[tuple[str, str | bytes | None]] = list(o.headers)
        while True:
            try:
                producer.produce(o.topic, value=o.value, key=o.key, headers=headers, on_delivery=self._delivered)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        """Name why a transaction is aborted: librdkafka's abort says only that a message failed delivery."""
        if error is not None:
            self._log.warning("batch output not delivered", topic=message.topic(), error=str(error))

    async def _topic_batch(self, route: _Route, records: list[Record], outcome: _Outcome) -> None:
        items: list[Item[Any]] = []
        sources: list[Record] = []
        for record in records:
            try:
                received = core.decode(record, route.message_type)
            except PoisonMessage as exc:
                with core.span(record, traced=self.trace_events):
                    self._dead_letter(outcome, record, core.Failure(exc, "decode", 1))
                continue
            items.append(Item(received, record.headers, self.trace_events))
            sources.append(record)
        if items:
            await self._attempt(route, items, sources, outcome)

    async def _attempt(self, route: _Route, items: list[Item[Any]], sources: list[Record], outcome: _Outcome) -> None:
        """The handler on the whole batch under the consumer core's policy; a batch it gives up is split into
        single events, so that only the event that keeps failing goes to the dead-letter topic."""
        result = await core.attempt(lambda: route.fn(items), sources[0], self.policy)
        if isinstance(result, core.Failure):
            if len(items) == 1:
                with items[0].span():
                    self._dead_letter(outcome, sources[0], result)
                return
            self._log.warning("batch given up; handling its events one by one", topic=route.topic,
                              size=len(items), error=result.reason)  # fmt: skip
            for one, source in zip(items, sources, strict=True):
                await self._attempt(route, [one], [source], outcome)
            return
        refused = {r.index: r.error for r in result.rejected if 0 <= r.index < len(items)}
        for index, error in refused.items():
            with items[index].span():
                self._dead_letter(outcome, sources[index], core.Failure(error, "handle", 1))
        outcome.output.extend(result.output)
        outcome.processed[route.topic] = outcome.processed.get(route.topic, 0) + len(items) - len(refused)

    def _dead_letter(self, outcome: _Outcome, record: Record, failure: core.Failure) -> None:
        """The platform's dead letter (`consumer.dead_letter`), published in the batch's transaction."""
        outcome.output.append(core.dead_letter(record, failure))
        outcome.dead_letters += 1
