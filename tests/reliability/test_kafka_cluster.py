"""The three-node cluster mode: replication 3, min.insync.replicas 2, and a partition leader killed mid-stream.

Every record acknowledged with acks=all before, during and after the leader's death must be readable afterwards,
exactly once per produced sequence number (the idempotent producer), with no gaps.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from sotong_localstack.kafka import KafkaCluster

pytestmark = pytest.mark.reliability

TOPIC = "reliability.leader-kill.v1"
RECORDS = 3000


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-cluster-"))
    kafka = KafkaCluster.create(run_dir, nodes=3)
    kafka.heap = "384m"
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def _partition(bootstrap: str) -> dict[str, object]:
    """The topic's one partition, waiting for it: right after creation the node asked may not know it yet (the
    metadata names the topic with no partitions, which once failed this test on a loaded machine)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    deadline = time.monotonic() + 30
    try:
        while True:
            partitions = admin.describe_topics([TOPIC])[0]["partitions"]
            if partitions:
                partition: dict[str, object] = partitions[0]
                return partition
            if time.monotonic() > deadline:
                raise AssertionError(f"{TOPIC} has no partition in the metadata 30 s after it was created")
            time.sleep(0.2)
    finally:
        admin.close()


def _field(partition: dict[str, object], *names: str) -> object:
    """kafka-python has named these fields differently across versions (leader / leader_id, isr / isr_nodes)."""
    for name in names:
        if name in partition:
            return partition[name]
    raise KeyError(f"none of {names} in {sorted(partition)}")


def _leader(bootstrap: str) -> int:
    return int(_field(_partition(bootstrap), "leader", "leader_id"))  # type: ignore[call-overload]


def test_cluster_settings(cluster: KafkaCluster) -> None:
    assert cluster.replication == 3 and cluster.min_insync == 2
    props = cluster.properties(cluster.nodes[0])
    assert "default.replication.factor=3" in props and "min.insync.replicas=2" in props


def _create_topic(bootstrap: str) -> None:
    """Create the test topic, retrying: right after start a node may still refuse admin requests."""
    deadline = time.monotonic() + 60
    while True:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
        try:
            admin.create_topics([NewTopic(TOPIC, 1, 3, topic_configs={"min.insync.replicas": "2"})])
            return
        except TopicAlreadyExistsError:
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
        finally:
            admin.close()


def test_killing_the_partition_leader_loses_no_acknowledged_record(cluster: KafkaCluster) -> None:
    _create_topic(cluster.bootstrap)
    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap, acks="all", enable_idempotence=True, retries=1000, linger_ms=5
    )
    acknowledged: list[int] = []
    leader = _leader(cluster.bootstrap)
    for i in range(RECORDS):
        if i == RECORDS // 3:
            cluster.kill_node(next(n for n in cluster.nodes if n.node_id == leader))
        future = producer.send(TOPIC, value=str(i).encode())
        if i % 100 == 99 or i == RECORDS - 1:
            producer.flush(timeout=60)
        future.add_callback(lambda _meta, seq=i: acknowledged.append(seq))
    producer.flush(timeout=60)
    producer.close()
    assert _leader(cluster.bootstrap) != leader, "leadership must have moved to a surviving node"

    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=None, consumer_timeout_ms=5000)
    partition = TopicPartition(TOPIC, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    seen = [int(r.value) for r in consumer]
    consumer.close()
    assert len(acknowledged) == RECORDS
    assert seen == list(range(RECORDS)), "every acknowledged record, once, in order"

    # Restart the killed node: it rejoins and catches up.
    cluster.start_node(next(n for n in cluster.nodes if n.node_id == leader))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        isr = list(_field(_partition(cluster.bootstrap), "isr", "isr_nodes"))  # type: ignore[call-overload]
        if len(isr) == 3:
            break
        time.sleep(0.5)
    assert len(isr) == 3, f"the restarted node must rejoin the ISR, got {isr}"
