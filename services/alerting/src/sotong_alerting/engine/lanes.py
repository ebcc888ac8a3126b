"""A channel's consumers: one per priority lane, each in the channel's own consumer groups, emergency first.

Each channel has its own groups (`...alerting-dispatch-<channel>-<lane>`), so every channel sees every
dispatch and skips the ones for other channels: a slow SMS gateway only delays SMS. The two lanes of a channel
are separate consumers, so an alert never waits behind a routine backlog or a routine fan-out in Kafka; and
`Precedence` makes the routine lane yield: while any emergency dispatch of the channel is in flight, routine
work pauses before its next dispatch and before each next batch of a running fan-out.

Offsets are committed after a poll's dispatches finished (deliveries recorded, receipts and dead letters
acknowledged by the broker), so a crash redelivers rather than loses; the delivery record and the providers'
idempotency keys make the redelivery send nothing twice. Messages that cannot be decoded or break the
contract go to `<lane>.dlq` at once; dispatches with targets out of attempts go there after their receipts.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from google.protobuf.message import DecodeError

from sotong.alerting.v1 import alerting_dispatch_pb2 as pb
from sotong_alerting.engine.directory import AudienceError
from sotong_alerting.engine.dispatch import CHANNEL_KINDS, ContractError, Dispatcher
from sotong_common import events, logs, metrics, topics
from sotong_common.streams import TRANSIENT

LANES = (topics.DISPATCH_EMERGENCY, topics.DISPATCH_ROUTINE)
# Every channel's consumer reads every record; one of them owns the records no channel can take (undecodable, or
# for an unknown channel) and dead-letters them, once. Run the chat channel somewhere, or such records are skipped.
UNROUTABLE_OWNER = "chat"


def group_id(kind: str, lane: str) -> str:
    prefix = topics.PREFIX.rstrip(".-")
    name = "emergency" if lane == topics.DISPATCH_EMERGENCY else "routine"
    return f"sotong-{prefix + '-' if prefix else ''}alerting-dispatch-{kind}-{name}"


class Precedence:
    """Emergency work in flight on a channel; the routine lane waits for `idle` before each step."""

    def __init__(self) -> None:
        self.busy = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.busy += 1
        self.idle.clear()

    def leave(self) -> None:
        self.busy -= 1
        if self.busy == 0:
            self.idle.set()

    async def wait(self) -> None:
        await self.idle.wait()


class LaneConsumer:
    def __init__(
        self,
        kind: str,
        lane: str,
        bootstrap: str,
        dispatcher: Dispatcher,
        producer: AIOKafkaProducer,
        precedence: Precedence,
    ) -> None:
        self.kind = kind
        self.lane = lane
        self.emergency = lane == topics.DISPATCH_EMERGENCY
        self.dispatcher = dispatcher
        self.producer = producer
        self.precedence = precedence
        self.consumer = AIOKafkaConsumer(
            lane,
            bootstrap_servers=bootstrap,
            group_id=group_id(kind, lane),
            client_id=f"alerting-dispatch-{kind}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            max_poll_interval_ms=900_000,
            isolation_level="read_committed",
        )
        self._log = logs.get("alerting.dispatch").bind(channel=kind, lane="emergency" if self.emergency else "routine")
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        await self.consumer.stop()

    async def run(self) -> None:
        while not self._stopping.is_set():
            polled = await self.consumer.getmany(timeout_ms=100, max_records=64)
            if not polled:
                continue
            if self.emergency:
                self.precedence.enter()
            try:
                await asyncio.gather(*(self._partition(recs) for recs in polled.values()))
            finally:
                if self.emergency:
                    self.precedence.leave()
            await self.producer.flush()
            await self.consumer.commit({tp: recs[-1].offset + 1 for tp, recs in polled.items()})

    async def _partition(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            await self._record(record)

    async def _record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            dispatch = pb.DispatchRequested.FromString(record.value or b"")
        except DecodeError as exc:
            if self.kind == UNROUTABLE_OWNER:
                await self._dead_letter(record, f"cannot decode DispatchRequested: {exc}", "decode")
            return
        kind = CHANNEL_KINDS.get(dispatch.channel)
        if kind is None:
            if self.kind == UNROUTABLE_OWNER:
                await self._dead_letter(record, f"channel {dispatch.channel} is not a known channel", "decode")
            return
        if kind != self.kind:
            return
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                if not self.emergency:
                    await self.precedence.wait()
                result = await self.dispatcher.handle(
                    dispatch, yield_to=None if self.emergency else self.precedence.wait
                )
                break
            except (ContractError, AudienceError) as exc:
                await self._dead_letter(record, f"{type(exc).__name__}: {exc}", "handle")
                return
            except TRANSIENT as exc:  # the database or broker is away: hold the partition and try again
                self._log.warning("transient failure, retrying", dispatch_id=dispatch.dispatch_id, error=repr(exc))
                await asyncio.sleep(min(30.0, 0.2 * 2 ** min(attempt, 8)))
        metrics.EVENTS_PROCESSED.labels(record.topic, "ok" if not result.dead else "dead").inc()
        metrics.PROCESSING_LATENCY.labels(record.topic).observe(time.perf_counter() - started)
        self._log.info(
            "dispatch finished",
            dispatch_id=dispatch.dispatch_id,
            delivered=result.delivered,
            failed=result.failed,
            dead=result.dead,
            skipped=result.skipped,
            ms=round((time.perf_counter() - started) * 1000, 1),
            breakers=self.dispatcher.route.breaker_states(),
        )
        if result.dead:
            await self._dead_letter(
                record, f"{result.dead} targets out of attempts: {'; '.join(result.errors)[:800]}", "deliver"
            )

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str, stage: str) -> None:
        headers = events.dead_letter_headers(
            record.headers, record.topic, record.partition, record.offset, reason, stage
        )
        await self.producer.send_and_wait(
            topics.dlq_name(record.topic), value=record.value, key=record.key, headers=headers
        )
        metrics.DEAD_LETTERS.labels(record.topic).inc()
        self._log.warning("dispatch dead-lettered", topic=record.topic, offset=record.offset, error=reason[:300])
