"""One DispatchRequested, start to finish: resolve the audience, skip what is already done, deliver the rest
in batches, record each outcome durably, and report receipts.

Two shapes of audience:
- explicit targets (officers, press desks, SNS accounts, the chat room, the portal board): each finished
  target is a row in `deliveries`; a redelivered or replayed dispatch skips them;
- a named segment (all news-app devices, subscribers in some districts): the directory's members are cut into
  fixed batches of the provider's batch size, `fanout_batches` records each finished batch, and a restart
  resumes with the first unfinished one. Several batches are in flight at once (`concurrency`).
Targets that ran out of attempts are reported DEAD_LETTERED and make the whole dispatch go to the dead-letter
topic, from which `sotong-alerting-replay` re-publishes it; finished targets and batches are skipped then.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from sotong.alerting.v1 import alerting_dispatch_pb2 as pb
from sotong_alerting.engine import directory
from sotong_alerting.engine.delivery import Outcome, Route, TargetOutcome
from sotong_alerting.engine.idempotency import delivery_key
from sotong_alerting.engine.providers.base import Job, PermanentError, TransientError
from sotong_alerting.engine.providers.chat import room_target
from sotong_alerting.engine.providers.notice import BOARD
from sotong_alerting.engine.providers.sns import SnsProvider
from sotong_alerting.engine.store import Finished

CHANNEL_KINDS: dict[int, str] = {
    pb.CHANNEL_GROUP_CHAT: "chat",
    pb.CHANNEL_PAGER: "pager",
    pb.CHANNEL_PRESS_MAIL: "mail",
    pb.CHANNEL_PORTAL_NOTICE: "notice",
    pb.CHANNEL_SNS: "sns",
    pb.CHANNEL_NEWS_APP_PUSH: "push",
    pb.CHANNEL_KAKAO_CHANNEL: "kakao",
    pb.CHANNEL_SMS: "sms",
}
KIND_CHANNELS = {kind: channel for channel, kind in CHANNEL_KINDS.items()}
# Channels where a segment widens the audience beyond named targets (subscribers, every account, the press list).
SEGMENT_CHANNELS = frozenset({"push", "sms", "kakao", "sns", "mail"})

_OUTCOMES = {
    Outcome.DELIVERED: pb.DELIVERY_OUTCOME_DELIVERED,
    Outcome.FAILED: pb.DELIVERY_OUTCOME_FAILED,
    Outcome.DEAD: pb.DELIVERY_OUTCOME_DEAD_LETTERED,
}

Report = Callable[[pb.DeliveryReported], Awaitable[None]]
YieldTo = Callable[[], Awaitable[None]]


async def _go() -> None:
    return None


class Record(Protocol):
    """What the dispatcher needs from the durable record (`store.DeliveryStore` in PostgreSQL)."""

    async def finished_targets(self, dispatch_id: str) -> set[str]: ...

    async def record(self, dispatch_id: str, rows: Iterable[Finished]) -> None: ...

    async def finished_batches(self, dispatch_id: str) -> set[int]: ...

    async def record_batch(self, dispatch_id: str, index: int, delivered: int, failed: int, provider: str) -> None: ...


class ContractError(ValueError):
    """The dispatch breaks the contract (no channel, no audience): it goes to the dead-letter topic as is."""


@dataclass
class DispatchResult:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        route: Route,
        store: Record,
        directory_: directory.Directory,
        report: Report,
        concurrency: int = 6,
        receipt_targets_max: int = 1000,
    ) -> None:
        self.route = route
        self.kind = route.kind
        self.store = store
        self.directory = directory_
        self.report = report
        self.concurrency = concurrency
        self.receipt_targets_max = receipt_targets_max

    async def handle(self, dispatch: pb.DispatchRequested, yield_to: YieldTo | None = None) -> DispatchResult:
        """Deliver `dispatch`; `yield_to` is awaited before each batch (the routine lane gives way to alerts)."""
        go = yield_to or _go
        if not dispatch.dispatch_id:
            raise ContractError("dispatch_id is empty")
        job = Job(dispatch)
        audience = dispatch.audience
        if dispatch.exercise and audience.segment and self.kind in SEGMENT_CHANNELS:
            # A drill reaching every citizen is exactly the accident to prevent: test audiences are explicit.
            raise ContractError(
                f"exercise dispatch {dispatch.dispatch_id} names audience.segment {audience.segment!r};"
                " Test and Exercise dispatches go only to explicit test targets"
            )
        if audience.segment and self.kind in ("push", "sms", "kakao"):
            segment = self.directory.segment(self.kind, audience.segment)
            result = await self._fan_out(job, segment, go)
            if audience.targets:
                extra = await self._explicit(job, directory.explicit(audience.targets), go)
                _merge(result, extra)
            return result
        return await self._explicit(job, await self._targets(job), go)

    async def _targets(self, job: Job) -> list[str]:
        audience = job.dispatch.audience
        if self.kind == "chat":
            return [room_target(job)]
        if self.kind == "notice":
            return [BOARD]
        targets = directory.explicit(audience.targets)
        if audience.segment == "all" and self.kind == "mail":
            targets = directory.explicit([*targets, *self.directory.press_list])
        if self.kind == "sns" and (audience.segment == "all" or not targets):
            primary = self.route.primary
            assert isinstance(primary, SnsProvider)
            targets = directory.explicit([*targets, *(await _with_retries(primary.accounts))])
        if not targets:
            raise ContractError(f"the {self.kind} dispatch has no targets and no segment this channel resolves")
        return targets

    async def _explicit(self, job: Job, targets: list[str], go: YieldTo) -> DispatchResult:
        result = DispatchResult()
        done = await self.store.finished_targets(job.dispatch_id)
        pending = [t for t in targets if t not in done]
        result.skipped = len(targets) - len(pending)
        per_target = len(targets) <= self.receipt_targets_max
        batches = [pending[i : i + self.route.max_batch] for i in range(0, len(pending), self.route.max_batch)]
        gate = asyncio.Semaphore(self.concurrency)

        async def run(batch: list[str]) -> None:
            async with gate:
                await go()
                outcomes = await self.route.deliver(job, batch)
            await self.store.record(
                job.dispatch_id,
                (
                    Finished(
                        o.target,
                        o.outcome.value,
                        o.provider,
                        o.attempts,
                        delivery_key(job.dispatch_id, o.target),
                        o.error,
                    )
                    for o in outcomes
                    if o.outcome is not Outcome.DEAD
                ),
            )
            _count(result, outcomes)
            if per_target:
                for o in outcomes:
                    await self.report(self._receipt(job, o.outcome, o.provider, o.attempts, o.error, target=o.target))
            else:
                await self._batch_receipts(job, outcomes, batch=f"first:{batch[0]}:{len(batch)}")

        await asyncio.gather(*(run(b) for b in batches))
        return result

    async def _fan_out(self, job: Job, segment: directory.Segment, go: YieldTo) -> DispatchResult:
        result = DispatchResult()
        size = self.route.max_batch
        total = len(segment)
        done = await self.store.finished_batches(job.dispatch_id)
        indices = [i for i in range((total + size - 1) // size) if i not in done]
        result.skipped = min(total, len(done) * size)
        per_target = total <= self.receipt_targets_max
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in indices:
            queue.put_nowait(index)

        async def lane() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                await go()
                targets = segment.slice(index * size, (index + 1) * size)
                outcomes = await self.route.deliver(job, targets)
                _count(result, outcomes)
                dead = [o for o in outcomes if o.outcome is Outcome.DEAD]
                if not dead:
                    delivered = sum(1 for o in outcomes if o.outcome is Outcome.DELIVERED)
                    provider = outcomes[0].provider if outcomes else self.route.primary.name
                    await self.store.record_batch(
                        job.dispatch_id, index, delivered, len(outcomes) - delivered, provider
                    )
                if per_target:
                    for o in outcomes:
                        await self.report(
                            self._receipt(job, o.outcome, o.provider, o.attempts, o.error, target=o.target)
                        )
                else:
                    await self._batch_receipts(job, outcomes, batch=f"index:{index}")

        await asyncio.gather(*(lane() for _ in range(min(self.concurrency, max(1, len(indices))))))
        return result

    async def _batch_receipts(self, job: Job, outcomes: Sequence[TargetOutcome], batch: str) -> None:
        """One receipt per (outcome, provider) of a batch, with counts; `batch` names the batch stably."""
        groups: dict[tuple[Outcome, str], list[TargetOutcome]] = {}
        first = outcomes[0] if outcomes else None
        if first is not None and all(o.outcome is first.outcome and o.provider == first.provider for o in outcomes):
            groups[(first.outcome, first.provider)] = list(outcomes)  # the usual case, without a per-item dict
        else:
            for o in outcomes:
                groups.setdefault((o.outcome, o.provider), []).append(o)
        for (outcome, provider), members in groups.items():
            receipt = self._receipt(
                job, outcome, provider, max(m.attempts for m in members), members[0].error, target=""
            )
            receipt.batch = batch
            if outcome is Outcome.DELIVERED:
                receipt.delivered_count = len(members)
            else:
                receipt.failed_count = len(members)
            await self.report(receipt)

    def _receipt(
        self, job: Job, outcome: Outcome, provider: str, attempts: int, error: str, target: str
    ) -> pb.DeliveryReported:
        now = Timestamp()
        now.GetCurrentTime()
        dispatch = job.dispatch
        return pb.DeliveryReported(
            dispatch_id=dispatch.dispatch_id,
            message_id=dispatch.message_id,
            incident_id=dispatch.incident_id,
            channel=dispatch.channel,
            outcome=_OUTCOMES[outcome],
            target=target,
            idempotency_key=delivery_key(dispatch.dispatch_id, target) if target else "",
            provider=provider,
            attempts=attempts,
            error=error[:1000],
            delivered_count=1 if target and outcome is Outcome.DELIVERED else 0,
            failed_count=1 if target and outcome is not Outcome.DELIVERED else 0,
            reported_at=now,
        )


def _count(result: DispatchResult, outcomes: Sequence[TargetOutcome]) -> None:
    counts = Counter(o.outcome for o in outcomes)
    result.delivered += counts[Outcome.DELIVERED]
    result.failed += counts[Outcome.FAILED]
    result.dead += counts[Outcome.DEAD]
    if counts[Outcome.DEAD]:
        result.errors.extend(o.error for o in outcomes if o.outcome is Outcome.DEAD and o.error)
        del result.errors[5:]


def _merge(into: DispatchResult, other: DispatchResult) -> None:
    into.delivered += other.delivered
    into.failed += other.failed
    into.dead += other.dead
    into.skipped += other.skipped
    into.errors += other.errors


async def _with_retries(call: Callable[[], Awaitable[list[str]]], attempts: int = 5) -> list[str]:
    """Reading the SNS account registry: a few quick retries, then the dispatch fails as a whole (and is retried)."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TransientError:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.2 * attempt)
        except PermanentError as exc:
            raise ContractError(str(exc)) from None
    raise AssertionError("unreachable")
