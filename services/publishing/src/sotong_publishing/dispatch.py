"""One DispatchRequested, start to finish: resolve the audience, skip what is already done, deliver the rest
in batches, record each outcome durably, and report receipts.

Shapes of audience:
- explicit targets (officers, press desks, SNS accounts, the chat room, the portal board, a named list): each
  finished target is a row in `deliveries`; a redelivered or replayed dispatch skips them;
- sealed targets (a citizen's phone number, device token or bot user key): opened here, delivered like explicit
  targets, and recorded and reported by their ref, so the contact itself is never written down;
- a subscriber segment (all news-app devices, subscribers in some districts): the directory's members are cut
  into fixed batches of the provider's batch size, `fanout_batches` records each finished batch, and a restart
  resumes with the first unfinished one. Several batches are in flight at once (`concurrency`);
- a drill (`exercise`): only the channel's drill list, whatever the dispatch names.
A target no provider could accept (a control character in an id that goes into a header) fails at once, alone.
Targets that ran out of attempts are reported DEAD_LETTERED and make the whole dispatch go to the dead-letter
topic, from which `sotong-publishing-replay` re-publishes it; finished targets and batches are skipped then.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_common.consumer import PoisonMessage
from sotong_common.sealing import Opener, SealingError
from sotong_publishing import directory
from sotong_publishing.delivery import Outcome, Route, TargetOutcome
from sotong_publishing.idempotency import delivery_key
from sotong_publishing.providers.base import Job, PermanentError, TransientError
from sotong_publishing.providers.chat import room_target
from sotong_publishing.providers.notice import BOARD
from sotong_publishing.providers.sns import SnsProvider
from sotong_publishing.store import Finished

_OUTCOMES = {
    Outcome.DELIVERED: pb.DELIVERY_OUTCOME_DELIVERED,
    Outcome.FAILED: pb.DELIVERY_OUTCOME_FAILED,
    Outcome.DEAD: pb.DELIVERY_OUTCOME_DEAD_LETTERED,
}
MAX_TARGET_CHARS = 256

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


class Lists(Protocol):
    """The directory's named lists (`store.DirectoryStore`)."""

    async def members(self, name: str) -> list[str]: ...


class ContractError(PoisonMessage):
    """The dispatch breaks the contract (no channel, no audience): it goes to the dead-letter topic as is."""


@dataclass
class DispatchResult:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def target_problem(target: str) -> str:
    """Why no provider can take `target` ("" if it is fine): ids go into headers and URLs, so no control
    characters, and a sane length."""
    if len(target) > MAX_TARGET_CHARS:
        return f"the target is {len(target)} characters, over {MAX_TARGET_CHARS}"
    if not target.isprintable():
        return "the target has control or invisible characters"
    return ""


class Dispatcher:
    def __init__(
        self,
        route: Route,
        store: Record,
        lists: Lists,
        subscribers: directory.Subscribers,
        report: Report,
        opener: Opener | None = None,
        concurrency: int = 6,
        receipt_targets_max: int = 1000,
    ) -> None:
        self.route = route
        self.kind = route.kind
        self.store = store
        self.lists = lists
        self.subscribers = subscribers
        self.report = report
        self.opener = opener
        self.concurrency = concurrency
        self.receipt_targets_max = receipt_targets_max

    async def handle(self, dispatch: pb.DispatchRequested, yield_to: YieldTo | None = None) -> DispatchResult:
        """Deliver `dispatch`; `yield_to` is awaited before each batch (the routine lane gives way to alerts)."""
        go = yield_to or _go
        if not dispatch.dispatch_id:
            raise ContractError("dispatch_id is empty")
        if dispatch.exercise:
            return await self._drill(dispatch, go)
        job = Job(dispatch)
        audience = dispatch.audience
        sealed = self._open(dispatch)
        named = directory.list_name(audience.segment)
        if named is not None:
            members = await self.lists.members(named)
            if not members and not audience.targets and not sealed:
                raise ContractError(f"the directory list {named!r} is empty or unknown")
            return await self._explicit(job, directory.explicit([*audience.targets, *members]), sealed, go)
        if audience.segment and self.kind in directory.SEGMENT_CHANNELS:
            segment = self.subscribers.segment(self.kind, audience.segment)
            result = await self._fan_out(job, segment, go)
            if audience.targets or sealed:
                _merge(result, await self._explicit(job, directory.explicit(audience.targets), sealed, go))
            return result
        return await self._explicit(job, await self._targets(job, bool(sealed)), sealed, go)

    def _open(self, dispatch: pb.DispatchRequested) -> dict[str, str]:
        """Sealed targets opened: clear target -> its ref (what is recorded and reported instead)."""
        opened: dict[str, str] = {}
        for item in dispatch.audience.sealed_targets:
            if not item.ref or target_problem(item.ref):
                raise ContractError("a sealed target needs a printable ref")
            if self.opener is None:
                raise ContractError("this engine holds no key to open sealed targets")
            try:
                opened.setdefault(self.opener.open(item.key_id, item.ciphertext, item.ref), item.ref)
            except SealingError as exc:
                raise ContractError(str(exc)) from None
        return opened

    async def _targets(self, job: Job, has_sealed: bool) -> list[str]:
        audience = job.dispatch.audience
        if self.kind == "chat":
            return [room_target(job)]
        if self.kind == "notice":
            return [BOARD]
        targets = directory.explicit(audience.targets)
        if audience.segment == "all" and self.kind == "mail":
            targets = directory.explicit([*targets, *(await self.lists.members(directory.PRESS))])
        if self.kind == "sns" and (audience.segment == "all" or not targets):
            targets = directory.explicit([*targets, *(await self.lists.members(directory.OFFICIAL_SNS))])
        if not targets and not has_sealed:
            raise ContractError(f"the {self.kind} dispatch has no targets and no segment this channel resolves")
        return targets

    async def _drill(self, dispatch: pb.DispatchRequested, go: YieldTo) -> DispatchResult:
        """A test or exercise reaches the channel's drill list only: never a segment, a named list or a target
        the dispatch names, so a drill cannot reach the public whatever the requester got wrong."""
        members = await self.lists.members(directory.drill_list(self.kind))
        job = Job(dispatch, members=tuple(members))
        if not members:
            await self.report(
                self._receipt(
                    job,
                    Outcome.FAILED,
                    self.route.primary.name,
                    0,
                    f"no drill audience on the {self.kind} channel: the drill was not delivered here",
                    target=f"drill:{self.kind}",
                )
            )
            return DispatchResult(failed=1)
        if self.kind == "chat":
            targets = [room_target(job)]
        elif self.kind == "notice":
            targets = [f"{BOARD}:drill"]
        else:
            targets = members
        return await self._explicit(job, targets, {}, go)

    async def _explicit(self, job: Job, targets: list[str], sealed: dict[str, str], go: YieldTo) -> DispatchResult:
        result = DispatchResult()
        refs = dict(sealed)  # clear target -> what to record and report
        everyone = [*targets, *(t for t in sealed if t not in targets)]
        done = await self.store.finished_targets(job.dispatch_id)
        pending: list[str] = []
        refused: list[TargetOutcome] = []
        for target in everyone:
            if refs.get(target, target) in done:
                continue
            problem = target_problem(target)
            if problem:
                refused.append(TargetOutcome(target, Outcome.FAILED, self.route.primary.name, 0, problem))
            else:
                pending.append(target)
        result.skipped = len(everyone) - len(pending) - len(refused)
        per_target = len(everyone) <= self.receipt_targets_max
        batches = [pending[i : i + self.route.max_batch] for i in range(0, len(pending), self.route.max_batch)]
        gate = asyncio.Semaphore(self.concurrency)

        async def finish(outcomes: list[TargetOutcome], batch: str) -> None:
            shown = [_shown(o, refs) for o in outcomes]
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
                    for o in shown
                    if o.outcome is not Outcome.DEAD
                ),
            )
            _count(result, shown)
            if per_target:
                for o in shown:
                    await self.report(
                        self._receipt(
                            job,
                            o.outcome,
                            o.provider,
                            o.attempts,
                            o.error,
                            target=o.target,
                            possibly_duplicated=o.possibly_duplicated,
                        )
                    )
            else:
                await self._batch_receipts(job, shown, batch=batch)

        async def run(batch: list[str]) -> None:
            async with gate:
                await go()
                outcomes = await self.route.deliver(job, batch)
            await finish(outcomes, f"first:{refs.get(batch[0], batch[0])}:{len(batch)}")

        if refused:
            await finish(refused, f"refused:{refs.get(refused[0].target, refused[0].target)}:{len(refused)}")
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
                            self._receipt(
                                job,
                                o.outcome,
                                o.provider,
                                o.attempts,
                                o.error,
                                target=o.target,
                                possibly_duplicated=o.possibly_duplicated,
                            )
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
                job,
                outcome,
                provider,
                max(m.attempts for m in members),
                members[0].error,
                target="",
                possibly_duplicated=any(m.possibly_duplicated for m in members),
            )
            receipt.batch = batch
            if outcome is Outcome.DELIVERED:
                receipt.delivered_count = len(members)
            else:
                receipt.failed_count = len(members)
            await self.report(receipt)

    def _receipt(
        self,
        job: Job,
        outcome: Outcome,
        provider: str,
        attempts: int,
        error: str,
        target: str,
        possibly_duplicated: bool = False,
    ) -> pb.DeliveryReported:
        now = Timestamp()
        now.GetCurrentTime()
        dispatch = job.dispatch
        return pb.DeliveryReported(
            dispatch_id=dispatch.dispatch_id,
            message_id=dispatch.message_id,
            thread_id=dispatch.thread_id,
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
            requester=dispatch.requester,
            exercise=dispatch.exercise,
            possibly_duplicated=possibly_duplicated,
        )


def _shown(outcome: TargetOutcome, refs: dict[str, str]) -> TargetOutcome:
    """The outcome as it may be written down: a sealed target by its ref, also inside a provider's error text."""
    ref = refs.get(outcome.target)
    if ref is None:
        return outcome
    return outcome._replace(target=ref, error=outcome.error.replace(outcome.target, ref))


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


async def provider_accounts(provider: SnsProvider, attempts: int = 5) -> list[str]:
    """The SNS provider's own account registry (the directory file's `imports`): a few quick retries, then the
    error goes to the caller."""
    for attempt in range(1, attempts + 1):
        try:
            return await provider.accounts()
        except TransientError:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.2 * attempt)
        except PermanentError as exc:
            raise ContractError(str(exc)) from None
    raise AssertionError("unreachable")
