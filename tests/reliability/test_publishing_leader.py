"""Three-node Kafka (replication 3, min.insync.replicas 2): the leader of the partition carrying a fan-out is
killed while the engine delivers it and while more dispatches arrive. Nothing is lost: every device and every
subscriber gets exactly one message at the stand-ins, and every dispatch has its receipts."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import eventually
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.reliability

LANE = "alerting.dispatch-emergency.v1"
DEVICES = 150_000
SUBSCRIBERS = 500
SMS_BEFORE, SMS_AFTER = 5, 10


@pytest.fixture(scope="module")
def cluster_stack() -> Iterator[Stack]:
    stack = Stack(Path(tempfile.mkdtemp(prefix="sotong-engine-3n-")), nodes=3)
    stack.start_infrastructure(say=False)
    try:
        yield stack
    finally:
        stack.stop(remove_run_dir=True)


def dispatch(channel: int, dispatch_id: str) -> pb.DispatchRequested:
    return pb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id=f"MSG-{dispatch_id}",
        thread_id="INC-LEADER",
        channel=channel,  # type: ignore[arg-type]
        priority=pb.PRIORITY_EMERGENCY,
        purpose="stage2",
        audience=pb.Audience(segment="all"),
        renderings=[pb.Rendering(language="ko", title="[폭염]", body=f"{dispatch_id}: 무더위 쉼터 안내")],
    )


def partition_of(bootstrap: str, topic: str, dispatch_id: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=3000)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    try:
        for record in consumer:
            if record.key == dispatch_id.encode():
                return int(record.partition)
    finally:
        consumer.close()
    raise AssertionError(f"{dispatch_id} not found in {topic}")


def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_topics([topic])[0]["partitions"]
    finally:
        admin.close()
    entry = next(p for p in described if p.get("partition", p.get("partition_index")) == partition)
    return int(entry.get("leader", entry.get("leader_id")))


def receipts_for(bootstrap: str) -> dict[str, int]:
    topic = "publishing.delivery-reported.v1"
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=3000)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    counts: dict[str, int] = {}
    for record in consumer:
        receipt = pb.DeliveryReported.FromString(record.value)
        if receipt.outcome == pb.DELIVERY_OUTCOME_DELIVERED:
            counts[receipt.dispatch_id] = counts.get(receipt.dispatch_id, 0) + max(1, receipt.delivered_count)
    consumer.close()
    return counts


async def test_partition_leader_killed_during_dispatch_loses_nothing(cluster_stack: Stack) -> None:
    state = cluster_stack.state
    assert state is not None and state.replication == 3
    run = Path(state.run_dir)
    standins, ports = localrun.start_standins(run, "standins", ("--latency-ms", "3"))
    env = localrun.dispatch_env(
        ports,
        publishing_directory_push_devices=str(DEVICES),
        publishing_directory_sms_subscribers=str(SUBSCRIBERS),
        publishing_concurrency="3",
    )
    worker = localrun.start_dispatch(run, state.env(), env)
    try:
        async with StandinControl(ports["base_url"]) as control:
            first = [dispatch(pb.CHANNEL_NEWS_APP_PUSH, "leader-push")]
            first += [dispatch(pb.CHANNEL_SMS, f"leader-sms-{i}") for i in range(SMS_BEFORE)]
            await localrun.publish_dispatches(state.kafka_bootstrap, LANE, first)

            async def push_started() -> bool:
                return int((await control.provider_stats("push"))["accepted"]) >= DEVICES // 10

            await eventually(push_started, timeout=90, every=0.05)
            partition = partition_of(state.kafka_bootstrap, LANE, "leader-push")
            leader = leader_of(state.kafka_bootstrap, LANE, partition)
            assert cluster_stack.kafka is not None
            cluster_stack.kafka.kill_node(cluster_stack.kafka_node(leader))
            assert int((await control.provider_stats("push"))["accepted"]) < DEVICES, "killed mid fan-out"

            # More dispatches while the cluster elects a new leader.
            later = [dispatch(pb.CHANNEL_SMS, f"leader-sms-{i}") for i in range(SMS_BEFORE, SMS_BEFORE + SMS_AFTER)]
            await localrun.publish_dispatches(state.kafka_bootstrap, LANE, later)

            expected = {"push": DEVICES, "sms": (SMS_BEFORE + SMS_AFTER) * SUBSCRIBERS}

            async def all_delivered() -> bool:
                stats = await control.stats()
                return all(stats[k]["accepted"] >= v for k, v in expected.items())

            await eventually(all_delivered, timeout=90)
            await asyncio.sleep(1.0)
            stats = await control.stats()
            for name, total in expected.items():
                assert stats[name]["accepted"] == total, name
                assert stats[name]["repeated_targets"] == 0 and stats[name]["key_conflicts"] == 0, name
            assert leader_of(state.kafka_bootstrap, LANE, partition) != leader

            async def receipts_complete() -> dict[str, int] | None:
                counts = await asyncio.to_thread(receipts_for, state.kafka_bootstrap)
                done = counts.get("leader-push", 0) >= DEVICES and all(
                    counts.get(f"leader-sms-{i}", 0) >= SUBSCRIBERS for i in range(SMS_BEFORE + SMS_AFTER)
                )
                return counts if done else None

            await eventually(receipts_complete, timeout=60, every=1.0)
    finally:
        localrun.stop(worker)
        localrun.stop(standins)
