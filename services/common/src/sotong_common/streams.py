"""Faust stream workers with Sotong's event contract: protobuf payloads, metadata headers, traces, dead letters.

A service's worker declares handlers with `Worker.handler(topic, MessageType)`. Around each handler the worker:
- decodes the protobuf payload and the metadata headers; a message that cannot be decoded is a poison message;
- continues the producer's trace (a CONSUMER span whose parent comes from `traceparent`);
- retries transient failures (database or broker unavailable) with backoff, holding the partition, because
  skipping ahead would lose the event;
- sends poison messages, and messages whose handler keeps failing for another reason, to `<topic>.dlq` with the
  error in headers, and goes on with the next message.
Offsets are committed by Faust only after everything the handler produced was acknowledged by the broker
(Faust flushes its producer before committing), so a crash redelivers rather than loses; handlers are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
import faust
from aiokafka.errors import KafkaError
from google.protobuf.message import DecodeError, Message
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from sotong_common import events, logs, metrics, topics, tracing
from sotong_common.topics import dlq_name

M = TypeVar("M", bound=Message)

TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    KafkaError,
    asyncio.TimeoutError,
)


class PoisonMessage(Exception):
    """The message can never be processed (malformed, violates the contract): dead-letter it at once."""


@dataclass(frozen=True)
class Received(Generic[M]):
    """One decoded event as a handler sees it."""

    message: M
    metadata: events.EventMetadata
    key: str
    topic: str
    partition: int
    offset: int


Handler = Callable[[Received[Any]], Awaitable[None]]


def make_app(service: str, bootstrap: str, replication: int = 1, **overrides: Any) -> faust.App:
    """A Faust app with the platform's defaults: raw bytes in and out, acks=all, no web server."""
    settings: dict[str, Any] = {
        "broker": [f"kafka://{host}" for host in bootstrap.split(",")],
        "value_serializer": "raw",
        "key_serializer": "raw",
        "web_enabled": False,
        "topic_replication_factor": replication,
        "topic_allow_declare": False,
        "producer_acks": -1,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_every": 1000,
        "broker_commit_interval": 1.0,
        "stream_wait_empty": False,
        "stream_buffer_maxsize": 4096,
        # A killed worker's partitions go to its replacement within seconds rather than after a minute.
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 2.0,
        "worker_redirect_stdouts": False,
    }
    settings.update(overrides)
    prefix = topics.PREFIX.rstrip(".-")
    return faust.App(f"sotong-{prefix + '-' if prefix else ''}{service}", **settings)


class Worker:
    """A service's stream worker: a Faust app plus the handlers it runs."""

    def __init__(self, service: str, app: faust.App, max_attempts: int = 3) -> None:
        self.service = service
        self.app = app
        self.max_attempts = max_attempts
        self._tracer = tracing.tracer("sotong.kafka.consumer")
        self._log = logs.get("worker")
        self._producer_tracer = tracing.tracer("sotong.kafka.producer")

    def topic(self, name: str) -> faust.TopicT:
        return self.app.topic(name, key_type=bytes, value_type=bytes, internal=False)

    async def publish(self, topic: faust.TopicT, key: str, message: Message, metadata: events.EventMetadata) -> None:
        """Produce an event (with the current trace) from inside a handler; Faust flushes before commit."""
        with self._producer_tracer.start_as_current_span(f"{topic.get_topic_name()} publish", kind=SpanKind.PRODUCER):
            await topic.send(key=key.encode(), value=events.encode(message), headers=metadata.headers())

    def handler(self, topic_name: str, message_type: type[M], concurrency: int = 1) -> Callable[[Handler], Handler]:
        """Register `fn` to handle every event of `topic_name`, decoded as `message_type`."""
        source = self.topic(topic_name)
        dlq = self.topic(dlq_name(topic_name))

        def register(fn: Handler) -> Handler:
            async def agent(stream: faust.StreamT[bytes]) -> None:
                async for event in stream.events():
                    await self._process(event, topic_name, message_type, fn, dlq)

            agent.__name__ = agent.__qualname__ = f"{fn.__name__}_agent"
            self.app.agent(source, name=f"sotong.{self.service}.{fn.__name__}", concurrency=concurrency)(agent)
            return fn

        return register

    async def _process(
        self, event: faust.EventT[bytes], topic: str, message_type: type[M], fn: Handler, dlq: faust.TopicT
    ) -> None:
        headers = _headers(event)
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"{topic} process",
            context=tracing.extract_headers(headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.kafka.message.offset": event.message.offset,
                "messaging.kafka.destination.partition": event.message.partition,
            },
        ) as span:
            try:
                received = self._decode(event, topic, message_type, headers)
            except PoisonMessage as exc:
                await self._dead_letter(event, headers, dlq, topic, exc, "decode")
                return
            span.set_attribute("messaging.message.id", received.metadata.event_id)
            attempt = 0
            while True:
                attempt += 1
                try:
                    await fn(received)
                    metrics.EVENTS_PROCESSED.labels(topic, "ok").inc()
                    break
                except PoisonMessage as exc:
                    await self._dead_letter(event, headers, dlq, topic, exc, "handle")
                    break
                except TRANSIENT as exc:
                    delay = min(30.0, 0.2 * 2 ** min(attempt, 8))
                    self._log.warning("transient failure, retrying", topic=topic, attempt=attempt, error=repr(exc))
                    await asyncio.sleep(delay)
                except Exception as exc:
                    if attempt >= self.max_attempts:
                        span.set_status(Status(StatusCode.ERROR, repr(exc)))
                        await self._dead_letter(event, headers, dlq, topic, exc, "handle")
                        break
                    await asyncio.sleep(0.05 * attempt)
            metrics.PROCESSING_LATENCY.labels(topic).observe(time.perf_counter() - started)

    def _decode(
        self, event: faust.EventT[bytes], topic: str, message_type: type[M], headers: list[tuple[str, bytes]]
    ) -> Received[M]:
        raw = event.value
        if not isinstance(raw, bytes | bytearray):
            raise PoisonMessage(f"payload is {type(raw).__name__}, not bytes")
        try:
            metadata = events.EventMetadata.from_headers(headers)
        except (events.MissingMetadata, ValueError, UnicodeDecodeError) as exc:
            raise PoisonMessage(f"bad metadata: {exc}") from None
        try:
            message = message_type.FromString(bytes(raw))
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise PoisonMessage(f"cannot decode {message_type.DESCRIPTOR.full_name}: {exc}") from None
        key = event.key.decode("utf-8", "replace") if isinstance(event.key, bytes | bytearray) else ""
        return Received(message, metadata, key, topic, event.message.partition, event.message.offset)

    async def _dead_letter(
        self,
        event: faust.EventT[bytes],
        headers: list[tuple[str, bytes]],
        dlq: faust.TopicT,
        topic: str,
        error: BaseException,
        stage: str,
    ) -> None:
        reason = f"{type(error).__name__}: {error}"[:1000]
        out = events.dead_letter_headers(headers, topic, event.message.partition, event.message.offset, reason, stage)
        value = event.value if isinstance(event.value, bytes | bytearray) else repr(event.value).encode()
        key = event.key if isinstance(event.key, bytes | bytearray) else None
        await dlq.send(key=key, value=bytes(value), headers=out)
        metrics.DEAD_LETTERS.labels(topic).inc()
        trace.get_current_span().set_status(Status(StatusCode.ERROR, reason))
        self._log.warning(
            "message dead-lettered",
            topic=topic,
            partition=event.message.partition,
            offset=event.message.offset,
            error=reason,
        )


def _headers(event: faust.EventT[bytes]) -> list[tuple[str, bytes]]:
    raw = event.headers or {}
    items = raw.items() if isinstance(raw, dict) else raw
    return [(str(k), bytes(v) if v is not None else b"") for k, v in items]


def run(worker: Worker) -> None:
    """Run the worker until SIGTERM/SIGINT (Faust stops consuming, flushes, commits and leaves the group)."""
    from faust.worker import Worker as FaustWorker

    level = logging.getLogger().level

    @worker.app.task  # type: ignore[untyped-decorator]
    async def restore_log_level() -> None:
        # Faust's terminal spinner sets the root logger to DEBUG, which makes every library's debug call (one per
        # record produced, in aiokafka) build a log record: about a tenth of a busy worker's CPU. Put back the
        # level `logs.configure` chose.
        logging.getLogger().setLevel(level)

    FaustWorker(worker.app, loglevel="WARNING", quiet=True, redirect_stdouts=False).execute_from_commandline()
