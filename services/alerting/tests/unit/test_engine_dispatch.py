"""The dispatcher's audience rules and resume logic, with an in-memory record and a scripted provider."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from sotong.alerting.v1 import alerting_dispatch_pb2 as pb
from sotong_alerting.engine.delivery import Route
from sotong_alerting.engine.directory import Directory
from sotong_alerting.engine.dispatch import ContractError, Dispatcher
from sotong_alerting.engine.providers.base import ItemResult, ItemStatus, Job
from sotong_alerting.engine.retry import Backoff
from sotong_alerting.engine.store import Finished


class Memory:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Finished]] = {}
        self.batches: dict[str, set[int]] = {}

    async def finished_targets(self, dispatch_id: str) -> set[str]:
        return set(self.rows.get(dispatch_id, {}))

    async def record(self, dispatch_id: str, rows: Iterable[Finished]) -> None:
        for row in rows:
            self.rows.setdefault(dispatch_id, {}).setdefault(row.target, row)

    async def finished_batches(self, dispatch_id: str) -> set[int]:
        return set(self.batches.get(dispatch_id, set()))

    async def record_batch(self, dispatch_id: str, index: int, delivered: int, failed: int, provider: str) -> None:
        self.batches.setdefault(dispatch_id, set()).add(index)


class Counting:
    kind = "push"
    max_batch = 10
    name = "push-primary"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        self.sent.extend(targets)
        return [ItemResult(t, ItemStatus.DELIVERED) for t in targets]

    async def close(self) -> None:
        return None


async def _drop(_: pb.DeliveryReported) -> None:
    return None


def dispatcher(provider: Counting, memory: Memory, receipts: list[pb.DeliveryReported] | None = None) -> Dispatcher:
    async def report(receipt: pb.DeliveryReported) -> None:
        if receipts is not None:
            receipts.append(receipt)

    route = Route(provider, None, Backoff(0.001, 0.01, 3))
    return Dispatcher(route, memory, Directory(push_devices=95), report, concurrency=3, receipt_targets_max=20)


def push(dispatch_id: str, segment: str = "all", exercise: bool = False) -> pb.DispatchRequested:
    return pb.DispatchRequested(
        dispatch_id=dispatch_id,
        channel=pb.CHANNEL_NEWS_APP_PUSH,
        audience=pb.Audience(segment=segment),
        exercise=exercise,
        renderings=[pb.Rendering(language="ko", body="[훈련] 대피 훈련")],
    )


async def test_an_exercise_never_goes_to_a_segment() -> None:
    provider = Counting()
    with pytest.raises(ContractError, match="explicit test targets"):
        await dispatcher(provider, Memory()).handle(push("drill", exercise=True))
    assert provider.sent == []


async def test_a_fan_out_resumes_after_its_last_checkpoint_and_reports_per_batch() -> None:
    provider, memory = Counting(), Memory()
    memory.batches["d"] = {0, 1, 2, 5}  # finished before a crash
    receipts: list[pb.DeliveryReported] = []
    result = await dispatcher(provider, memory, receipts).handle(push("d"))
    assert result.delivered == 95 - 40 and result.skipped == 40
    assert sorted(provider.sent) == sorted(f"fcm-device-{i:08d}" for i in range(95) if i // 10 not in {0, 1, 2, 5})
    assert memory.batches["d"] == set(range(10))
    assert all(not r.target for r in receipts) and sum(r.delivered_count for r in receipts) == 55
    again = await dispatcher(provider, memory).handle(push("d"))  # a redelivery: nothing left to send
    assert again.delivered == 0 and len(provider.sent) == 55


def test_a_receipt_reported_again_keeps_its_event_id_and_batches_differ() -> None:
    from sotong.alerting.v1 import alerting_dispatch_pb2 as pb
    from sotong_alerting.engine.worker import receipt_event_id

    first = pb.DeliveryReported(dispatch_id="d1", provider="push", delivered_count=500, batch="index:3")
    first.reported_at.FromSeconds(1)
    again = pb.DeliveryReported()
    again.CopyFrom(first)
    again.reported_at.FromSeconds(99)  # reported again later, after a crash
    other_batch = pb.DeliveryReported()
    other_batch.CopyFrom(first)
    other_batch.batch = "index:4"
    assert receipt_event_id(first) == receipt_event_id(again)
    assert receipt_event_id(first) != receipt_event_id(other_batch)
