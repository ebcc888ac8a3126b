"""Faust stream workers with Sotong's event contract: protobuf payloads, metadata headers, traces, dead letters.

A service's worker declares handlers with `Worker.handler(topic, MessageType)`; each record goes through the
platform's consumer core (`sotong_common.consumer`): decoded, traced, handled with transient failures retried
while holding the partition, and dead-lettered when it is poison or keeps failing unexpectedly. Offsets are
committed by Faust only after everything the handler produced (dead letters included) was acknowledged by the
broker, so a crash redelivers rather than loses; handlers are idempotent (processed-event dedup).

The worker runs inside the process lifecycle (`sotong_common.process`): `proc.task("faust worker", worker.run,
stop=worker.stop)`. Faust does not own the event loop, the signals or the logging set-up; the lifecycle does, so
a worker's pool, relay and timers start before its agents and stop after them.

Consumers read `read_committed`: events published in Kafka transactions (the moderation worker's decisions) are
seen only once committed, never as an aborted copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.worker import Worker as FaustWorker
from google.protobuf.message import Message

from sotong_common import consumer, events, topics, tracing
from sotong_common.consumer import TRANSIENT, M, PoisonMessage, Received
from sotong_common.topics import dlq_name

__all__ = ["TRANSIENT", "PoisonMessage", "Received", "Worker"]

Handler = Callable[[Received[Any]], Awaitable[None]]


class _ReadCommittedThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        # Faust reads read_committed only with exactly-once processing, which we do not use (handlers are
        # idempotent). aiokafka hands `_isolation_level` to its fetcher at start, so setting it before start is
        # enough; tests/service/test_consumer_core.py checks that an aborted event is never handled.
        created = super()._create_worker_consumer(transport)
        created._isolation_level = "read_committed"
        return created


class _ReadCommittedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ReadCommittedThread(self, loop=self.loop, beacon=self.beacon)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        """Record the offsets *between* two records as a gap, not the second record's own offset.

        A topic written in Kafka transactions has a commit marker after every transaction, an offset no consumer
        ever receives. Faust records the gap up to and including the next record's offset, so that offset is
        counted twice when the record is acknowledged; its commit logic takes only the first run of consecutive
        offsets per commit and a duplicate ends the run (faust-streaming #606). Measured in the soak: the
        committed offsets of moderation's decisions fell behind by ~40 offsets a second while every decision was
        handled at once, so the lag grew without bound and a restart would have read everything again.
        """
        await super()._add_gap(tp, offset_from, offset_to - 1)


class _Transport(faust_aiokafka.Transport):
    Consumer = _ReadCommittedConsumer


class _App(faust.App):
    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


class _EmbeddedWorker(FaustWorker):
    """Faust's worker without its signal handlers (the process lifecycle owns SIGTERM and SIGINT) and without its
    terminal spinner (it writes cursor codes into the process's log)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None

    def install_signal_handlers(self) -> None:
        return None


def app_id(service: str) -> str:
    """The Faust app id (its consumer group), with the environment's topic prefix."""
    prefix = topics.PREFIX.rstrip(".-")
    return f"sotong-{prefix + '-' if prefix else ''}{service}"


def make_app(service: str, bootstrap: str, replication: int = 1, **overrides: Any) -> faust.App:
    """A Faust app with the platform's defaults: raw bytes in and out, acks=all, no web server."""
    settings: dict[str, Any] = {
        "broker": [f"kafka://{host}" for host in bootstrap.split(",")],
        "value_serializer": "raw",
        "key_serializer": "raw",
        "web_enabled": False,
        "topic_replication_factor": replication,
        "topic_allow_declare": False,
        # Faust's leader-election topic (`<app id>-__assignor-__leader`) serves features we do not use, and with
        # declaring off it never exists: aiokafka then logged an error at every metadata refresh (soak, 5 min).
        "topic_disable_leader": True,
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
    return _App(app_id(service), **settings)


class Worker:
    """A service's stream worker: a Faust app plus the handlers it runs."""

    def __init__(
        self, service: str, bootstrap: str, replication: int = 1, policy: consumer.Policy | None = None
    ) -> None:
        self.service = service
        self.app = make_app(service, bootstrap, replication)
        self.policy = policy or consumer.Policy()
        self._faust: _EmbeddedWorker | None = None
        self._producer_tracer = tracing.tracer("sotong.kafka.producer")

    def topic(self, name: str) -> faust.TopicT:
        return self.app.topic(name, key_type=bytes, value_type=bytes, internal=False)

    async def publish(self, topic: faust.TopicT, key: str, message: Message, metadata: events.EventMetadata) -> None:
        """Produce an event (with the current trace) from inside a handler; Faust flushes before commit."""
        from opentelemetry.trace import SpanKind

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
        record = _record(event, topic)
        outcome = await consumer.consume(record, message_type, fn, self.policy)
        if isinstance(outcome, consumer.Failure):
            letter = consumer.dead_letter(record, outcome)
            await dlq.send(key=letter.key, value=letter.value, headers=letter.headers)

    async def run(self) -> None:
        """Start Faust in the running loop and return when it has stopped (by `stop()` or by crashing)."""
        self._faust = _EmbeddedWorker(
            self.app,
            loop=asyncio.get_running_loop(),
            quiet=True,
            override_logging=False,
            redirect_stdouts=False,
        )
        await self._faust.start()
        await self._faust.wait_until_stopped()
        if self._faust.crash_reason is not None:
            raise RuntimeError(f"the Faust worker crashed: {self._faust.crash_reason!r}")

    async def stop(self) -> None:
        """Stop consuming, let the agents finish, flush the producer, commit and leave the group."""
        if self._faust is not None:
            await self._faust.stop()


def _record(event: faust.EventT[bytes], topic: str) -> consumer.Record:
    raw = event.headers or {}
    items = raw.items() if isinstance(raw, dict) else raw
    headers = [(str(k), bytes(v) if v is not None else b"") for k, v in items]
    value = event.value
    if not isinstance(value, bytes | bytearray):
        value = repr(value).encode()
    key = bytes(event.key) if isinstance(event.key, bytes | bytearray) else None
    return consumer.Record(topic, event.message.partition, event.message.offset, key, bytes(value), headers)
