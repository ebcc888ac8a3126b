"""A channel's consumers: one per priority lane, each in the channel's own consumer group, emergency first.

Each lane reads every dispatch-request topic of its lane in the catalog (`alerting.dispatch-emergency.v1` for the
emergency lane; `alerting.dispatch-routine.v1`, `intake.dispatch-requested.v1`, ... for the routine one). Each
channel has its own groups (`...publishing-<channel>-<lane>`), so every channel sees every dispatch and skips the
ones for other channels: a slow SMS gateway only delays SMS. The two lanes of a channel are separate consumers,
so an alert never waits behind a routine backlog or a routine fan-out in Kafka; and `Precedence` makes the
routine lane yield: while any emergency dispatch of the channel is in flight, routine work pauses before its next
dispatch and before each next batch of a running fan-out.

Records go through the platform's consumer core (`sotong_common.consumer`), like every consumer's: undecodable or
contract-breaking dispatches are dead-lettered at once; the database or the broker away holds the partition; an
unexpected error is retried a few times and then dead-lettered, and the lane goes on. A dispatch whose targets
ran out of attempts goes to the dead-letter topic after its receipts (stage `deliver`), for
`sotong-publishing-replay`. A dispatch that must wait for its `not_before` is held in the schedule and
delivered by `Scheduler` when due.

Offsets are committed after a poll's dispatches finished (deliveries recorded, receipts and dead letters
acknowledged by the broker), so a crash redelivers rather than loses; the delivery record and the providers'
idempotency keys make the redelivery send nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_common import consumer as core
from sotong_common import events, logs, metrics, topics
from sotong_publishing.channels import CHANNEL_KINDS
from sotong_publishing.dispatch import ContractError, Dispatcher, DispatchResult
from sotong_publishing.store import Scheduled, ScheduleStore

LANES = (topics.EMERGENCY, topics.ROUTINE)
# Every channel's consumer reads every record; one of them owns the records no channel can take (undecodable, or
# for an unknown channel) and dead-letters them, once. Run the chat channel somewhere, or such records are skipped.
UNROUTABLE_OWNER = "chat"
_HOLD_IF_LATER_S = 1.0


def group_id(kind: str, lane: str) -> str:
    prefix = topics.PREFIX.rstrip(".-")
    return f"sotong-{prefix + '-' if prefix else ''}publishing-{kind}-{lane}"


def lane_topics(lane: str) -> dict[str, str]:
    """The dispatch-request topics of `lane` in the catalog, each with its requester (the topic's one writer)."""
    return {t.name: t.owner for t in topics.of_kind(topics.DISPATCH_REQUEST, lane)}


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


class Delivering:
    """What a lane and the scheduler share: take one dispatch through the dispatcher under the core's policy."""

    def __init__(
        self,
        kind: str,
        dispatcher: Dispatcher,
        sink: AIOKafkaProducer,
        schedule: ScheduleStore,
        precedence: Precedence,
        policy: core.Policy,
    ) -> None:
        self.kind = kind
        self.dispatcher = dispatcher
        self.sink = sink
        self.schedule = schedule
        self.precedence = precedence
        self.policy = policy
        self.log = logs.get("publishing.dispatch").bind(channel=kind)

    async def deliver(self, record: core.Record, dispatch: pb.DispatchRequested, emergency: bool) -> None:
        """Deliver a decoded dispatch of this channel; dead-letter it if it fails or leaves targets dead."""
        started = time.perf_counter()
        yield_to: Callable[[], Awaitable[None]] | None = None if emergency else self.precedence.wait

        async def handle() -> DispatchResult:
            if not emergency:
                await self.precedence.wait()
            return await self.dispatcher.handle(dispatch, yield_to=yield_to)

        outcome = await core.attempt(handle, record, self.policy)
        if isinstance(outcome, core.Failure):
            await self.dead_letter(record, outcome)
            return
        metrics.EVENTS_PROCESSED.labels(record.topic, "ok" if not outcome.dead else "dead").inc()
        metrics.PROCESSING_LATENCY.labels(record.topic).observe(time.perf_counter() - started)
        self.log.info("dispatch finished", dispatch_id=dispatch.dispatch_id, requester=dispatch.requester,
                      delivered=outcome.delivered, failed=outcome.failed, dead=outcome.dead, skipped=outcome.skipped,
                      ms=round((time.perf_counter() - started) * 1000, 1),
                      breakers=self.dispatcher.route.breaker_states())  # fmt: skip
        if outcome.dead:
            reason = f"{outcome.dead} targets out of attempts: {'; '.join(outcome.errors)[:800]}"
            await self.dead_letter(record, core.Failure(RuntimeError(reason), "deliver", 1))

    async def dead_letter(self, record: core.Record, failure: core.Failure) -> None:
        letter = core.dead_letter(record, failure)
        await self.sink.send_and_wait(letter.topic, value=letter.value, key=letter.key, headers=letter.headers)


class LaneConsumer:
    def __init__(
        self,
        delivering: Delivering,
        lane: str,
        bootstrap: str,
        requesters: dict[str, str] | None = None,
    ) -> None:
        self.kind = delivering.kind
        self.lane = lane
        self.emergency = lane == topics.EMERGENCY
        self.delivering = delivering
        self.requesters = requesters if requesters is not None else lane_topics(lane)
        self.consumer = AIOKafkaConsumer(
            *self.requesters,
            bootstrap_servers=bootstrap,
            group_id=group_id(self.kind, lane),
            client_id=f"publishing-{self.kind}-{lane}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            max_poll_interval_ms=900_000,
            isolation_level="read_committed",
        )
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self.consumer.start()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`; then commit what is done and leave the group."""
        try:
            while not self._stopping.is_set():
                polled = await self.consumer.getmany(timeout_ms=100, max_records=64)
                if not polled:
                    continue
                if self.emergency:
                    self.delivering.precedence.enter()
                try:
                    await asyncio.gather(*(self._partition(recs) for recs in polled.values()))
                finally:
                    if self.emergency:
                        self.delivering.precedence.leave()
                await self.delivering.sink.flush()
                await self.consumer.commit({tp: recs[-1].offset + 1 for tp, recs in polled.items()})
        finally:
            await self.consumer.stop()

    async def _partition(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            await self._record(_record(record))

    async def _record(self, record: core.Record) -> None:
        try:
            received = core.decode(record, pb.DispatchRequested)
        except core.PoisonMessage as exc:
            if self.kind == UNROUTABLE_OWNER:
                with core.span(record):
                    await self.delivering.dead_letter(record, core.Failure(exc, "decode", 1))
            return
        dispatch = received.message
        kind = CHANNEL_KINDS.get(dispatch.channel)
        if kind is None:
            if self.kind == UNROUTABLE_OWNER:
                error = ContractError(f"channel {dispatch.channel} is not a known channel")
                with core.span(record, received.metadata.event_id):
                    await self.delivering.dead_letter(record, core.Failure(error, "decode", 1))
            return
        if kind != self.kind:
            return
        with core.span(record, received.metadata.event_id):
            requester = self.requesters.get(record.topic, "")
            if dispatch.requester and dispatch.requester != requester:
                error = ContractError(f"requester {dispatch.requester!r} cannot write to {record.topic} ({requester})")
                await self.delivering.dead_letter(record, core.Failure(error, "decode", 1))
                return
            dispatch.requester = requester
            if dispatch.HasField("not_before"):
                due = dispatch.not_before.ToDatetime(tzinfo=UTC)
                if (due - datetime.now(UTC)).total_seconds() > _HOLD_IF_LATER_S:
                    await self._hold(record, dispatch, due)
                    return
                await _until(due)
            await self.delivering.deliver(record, dispatch, self.emergency)

    async def _hold(self, record: core.Record, dispatch: pb.DispatchRequested, due: datetime) -> None:
        item = Scheduled(dispatch.dispatch_id, self.kind, record.topic, dispatch.requester, due,
                         dispatch.SerializeToString(), record.headers)  # fmt: skip

        async def hold() -> None:
            await self.delivering.schedule.hold(item)

        outcome = await core.attempt(hold, record, self.delivering.policy)
        if isinstance(outcome, core.Failure):
            await self.delivering.dead_letter(record, outcome)
            return
        self.delivering.log.info("dispatch held until its time", dispatch_id=dispatch.dispatch_id,
                                 not_before=due.isoformat())  # fmt: skip


async def _until(due: datetime) -> None:
    """Wait out the last second before a `not_before` here rather than in the schedule: an embargo is never broken
    early, and the lane pauses less than a round trip through the schedule would delay it. asyncio may wake a
    timer up to its clock's resolution early, hence the loop."""
    while (wait := (due - datetime.now(UTC)).total_seconds()) > 0:
        await asyncio.sleep(wait)


class Scheduler:
    """Delivers held dispatches when their time comes (for the channels of this process)."""

    def __init__(self, channels: dict[str, Delivering], schedule: ScheduleStore, emergency_topics: set[str]) -> None:
        self.channels = channels
        self.schedule = schedule
        self.emergency_topics = emergency_topics

    async def tick(self) -> None:
        for item in await self.schedule.due(list(self.channels)):
            delivering = self.channels[item.kind]
            record = core.Record(item.topic, -1, -1, item.dispatch_id.encode(), item.payload, item.headers)
            dispatch = pb.DispatchRequested.FromString(item.payload)
            with core.span(record, events.header(item.headers, events.H_ID) or ""):
                await delivering.deliver(record, dispatch, item.topic in self.emergency_topics)
            await self.schedule.done(item.dispatch_id, item.kind)


def _record(record: ConsumerRecord[bytes, bytes]) -> core.Record:
    headers = [(k, bytes(v) if v is not None else b"") for k, v in record.headers or ()]
    return core.Record(record.topic, record.partition, record.offset, record.key, record.value, headers)
