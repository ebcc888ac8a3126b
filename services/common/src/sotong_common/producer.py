"""The Kafka producer every API process uses: durable (acks=all) and idempotent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from sotong_common import logs


def durable(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    """acks=all with idempotence: an acknowledged event is on min.insync.replicas brokers, once, in order."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=30000,
    )


class Acknowledged:
    """A producer whose `send` returns once the broker acknowledged the record (acks=all, idempotent), on
    librdkafka: batching, compression and acknowledgements run on its own threads, outside the GIL, so an API that
    answers only after its record is durable pays little CPU per call (intake's acceptance path).

    Use as a part of the process lifecycle (`await proc.start("producer", producer)`): `start` runs the poll loop
    that resolves acknowledgements, `stop` flushes what is in flight.
    """

    def __init__(self, bootstrap: str, client_id: str, linger_ms: int = 2) -> None:
        from confluent_kafka import Producer

        self._log = logs.get("producer")
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": client_id,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": linger_ms,
                "compression.type": "lz4",
                # A record not acknowledged within this is reported failed (the broker away); callers bound their own
                # wait by the request's deadline, which is usually shorter.
                "delivery.timeout.ms": 120_000,
                "logger": KafkaLog(self._log),
                "error_cb": self._error,
            }
        )
        self._away_since: float | None = None  # every broker unreachable since (librdkafka said so)
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None

    @property
    def reachable(self) -> bool:
        """False while librdkafka reports every broker down (until a broker answers again, probed every second):
        a caller then refuses at once ("retry") rather than queue a record it cannot confirm, which the broker
        would take after the caller had already been told it failed."""
        return self._away_since is None

    def _error(self, error: Any) -> None:
        from confluent_kafka import KafkaError

        if error.code() == KafkaError._ALL_BROKERS_DOWN and self._away_since is None:
            self._away_since = time.monotonic()
            self._log.warning("every broker is unreachable; acknowledgements wait", error=error.str())

    async def start(self) -> None:
        self._poller = asyncio.create_task(self._poll(), name="producer-acknowledgements")

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await loop.run_in_executor(None, self._producer.poll, 0.1)
            if self._away_since is not None:
                await loop.run_in_executor(None, self._probe)

    def _probe(self) -> None:
        """While away: ask a broker for metadata; an answer means the brokers are back."""
        from confluent_kafka import KafkaException

        try:
            self._producer.list_topics(timeout=1.0)
        except KafkaException:
            return
        if self._away_since is not None:
            self._log.info("brokers reachable again", away_s=round(time.monotonic() - self._away_since, 1))
            self._away_since = None

    async def send(self, topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        """Produce one record and wait for the broker's acknowledgement; KafkaException if it was refused."""
        from confluent_kafka import KafkaError, KafkaException

        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()

        def delivered(error: KafkaError | None, _message: object) -> None:
            if error is None:
                if self._away_since is not None:
                    self._log.info("brokers reachable again", away_s=round(time.monotonic() - self._away_since, 1))
                    self._away_since = None
                loop.call_soon_threadsafe(_settle, acked, None)
            else:
                loop.call_soon_threadsafe(_settle, acked, KafkaException(error))

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=list(headers), on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let acknowledgements drain it
                await asyncio.sleep(0.005)
        await acked

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._producer.flush, 10)
        self._stopping = True
        if self._poller is not None:
            await self._poller


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class KafkaLog:
    """librdkafka's log lines through the service's structured log (it otherwise writes to stderr itself)."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        text = msg % args if args else msg
        if level >= 40:
            self._log.error("librdkafka", message=text)
        elif level >= 30:
            self._log.warning("librdkafka", message=text)
        else:
            self._log.debug("librdkafka", message=text)
