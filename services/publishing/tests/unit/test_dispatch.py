"""The dispatcher's audience rules and resume logic, with an in-memory record and a scripted provider."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_common.sealing import Opener, new_pair
from sotong_publishing.delivery import Route
from sotong_publishing.directory import Subscribers
from sotong_publishing.dispatch import ContractError, Dispatcher
from sotong_publishing.providers.base import ItemResult, ItemStatus, Job
from sotong_publishing.retry import Backoff
from sotong_publishing.store import Finished


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


class Lists:
    """The directory's named lists, in memory."""

    def __init__(self, **lists: list[str]) -> None:
        self.lists = {name.replace("__", ":"): members for name, members in lists.items()}

    async def members(self, name: str) -> list[str]:
        return list(self.lists.get(name, []))


OPENER = Opener.from_config(new_pair("t1")[0])


def dispatcher(
    provider: Counting,
    memory: Memory,
    receipts: list[pb.DeliveryReported] | None = None,
    lists: Lists | None = None,
) -> Dispatcher:
    async def report(receipt: pb.DeliveryReported) -> None:
        if receipts is not None:
            receipts.append(receipt)

    route = Route(provider, None, Backoff(0.001, 0.01, 3))
    return Dispatcher(route, memory, lists or Lists(), Subscribers(push_devices=95), report, opener=OPENER,
                      concurrency=3, receipt_targets_max=20)  # fmt: skip


def push(dispatch_id: str, segment: str = "all", exercise: bool = False) -> pb.DispatchRequested:
    return pb.DispatchRequested(
        dispatch_id=dispatch_id,
        channel=pb.CHANNEL_NEWS_APP_PUSH,
        audience=pb.Audience(segment=segment),
        exercise=exercise,
        renderings=[pb.Rendering(language="ko", body="[훈련] 대피 훈련")],
    )


async def test_an_exercise_reaches_the_drill_list_only_whatever_it_names() -> None:
    provider, receipts = Counting(), []
    drills = Lists(drill__push=["fcm-drill-1", "fcm-drill-2"])
    named = push("drill", exercise=True)
    named.audience.targets.extend(["fcm-device-00000001", "fcm-drill-1"])  # a real device named by mistake
    sealer = OPENER.sealer()
    sealed = sealer.seal("fcm-device-00000002", "intake:contact:x")
    named.audience.sealed_targets.add(key_id=sealed.key_id, ciphertext=sealed.ciphertext, ref=sealed.ref)
    named.audience.segment = "list:sns:official"
    result = await dispatcher(provider, Memory(), receipts, drills).handle(named)
    assert sorted(provider.sent) == ["fcm-drill-1", "fcm-drill-2"] and result.delivered == 2
    assert all(r.exercise for r in receipts)


async def test_an_exercise_on_a_channel_without_drill_recipients_delivers_nothing_and_says_so() -> None:
    provider, receipts = Counting(), []
    result = await dispatcher(provider, Memory(), receipts).handle(push("drill", exercise=True))
    assert provider.sent == [] and result.failed == 1
    assert [r.outcome for r in receipts] == [pb.DELIVERY_OUTCOME_FAILED] and "no drill audience" in receipts[0].error


async def test_sealed_targets_are_delivered_in_clear_and_recorded_and_reported_by_their_ref() -> None:
    provider, memory, receipts = Counting(), Memory(), []
    request = pb.DispatchRequested(dispatch_id="reply-1", channel=pb.CHANNEL_NEWS_APP_PUSH,
                                   renderings=[pb.Rendering(language="ko", body="접수되었습니다")])  # fmt: skip
    sealed = OPENER.sealer().seal("device-token-of-a-citizen", "intake:contact:42")
    request.audience.sealed_targets.add(key_id=sealed.key_id, ciphertext=sealed.ciphertext, ref=sealed.ref)
    await dispatcher(provider, memory, receipts).handle(request)
    assert provider.sent == ["device-token-of-a-citizen"]
    assert set(memory.rows["reply-1"]) == {"intake:contact:42"}
    assert [r.target for r in receipts] == ["intake:contact:42"]
    assert "device-token" not in str(memory.rows) + "".join(str(r) for r in receipts)
    again = await dispatcher(provider, memory, receipts).handle(request)  # redelivered: found by its ref
    assert again.skipped == 1 and provider.sent == ["device-token-of-a-citizen"]


async def test_a_sealed_target_moved_to_another_ref_or_key_is_refused_as_a_contract_violation() -> None:
    sealed = OPENER.sealer().seal("01012345678", "intake:contact:1")
    request = pb.DispatchRequested(dispatch_id="r", channel=pb.CHANNEL_NEWS_APP_PUSH)
    request.audience.sealed_targets.add(key_id=sealed.key_id, ciphertext=sealed.ciphertext, ref="intake:contact:2")
    with pytest.raises(ContractError, match="does not open"):
        await dispatcher(Counting(), Memory()).handle(request)
    request.audience.sealed_targets[0].ref, request.audience.sealed_targets[0].key_id = "intake:contact:1", "old"
    with pytest.raises(ContractError, match="no private key"):
        await dispatcher(Counting(), Memory()).handle(request)


@pytest.mark.parametrize("bad", ["a\r\nX-Injected: 1", "tab\there", "nul\x00", "zero\u200bwidth", "x" * 300])
async def test_a_target_no_header_can_carry_fails_alone_and_the_others_are_delivered(bad: str) -> None:
    provider, receipts = Counting(), []
    request = pb.DispatchRequested(dispatch_id="t", channel=pb.CHANNEL_NEWS_APP_PUSH,
                                   audience=pb.Audience(targets=["good-1", bad, "good-2"]))  # fmt: skip
    result = await dispatcher(provider, Memory(), receipts).handle(request)
    assert sorted(provider.sent) == ["good-1", "good-2"] and result.failed == 1
    refused = [r for r in receipts if r.outcome == pb.DELIVERY_OUTCOME_FAILED]
    assert len(refused) == 1 and refused[0].target == bad


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
    from sotong.publishing.v1 import publishing_events_pb2 as pb
    from sotong_publishing.worker import receipt_event_id

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
