"""The local Kafka's generated settings, without starting a broker."""

from pathlib import Path

from sotong_localstack.kafka import KafkaCluster, _cluster_id


def test_cluster_ids_never_look_like_an_option() -> None:
    # One id in 64 would start with "-" and StorageTool would read it as a flag; Kafka's own ids avoid that too.
    ids = [_cluster_id() for _ in range(3000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


def test_three_nodes_replicate_three_ways_with_two_in_sync(tmp_path: Path) -> None:
    cluster = KafkaCluster.create(tmp_path, nodes=3)
    props = cluster.properties(cluster.nodes[1])
    assert "default.replication.factor=3" in props and "min.insync.replicas=2" in props
    assert "auto.create.topics.enable=false" in props and "unclean.leader.election.enable=false" in props
    voters = next(line for line in props.splitlines() if line.startswith("controller.quorum.voters="))
    assert voters.count("@127.0.0.1:") == 3
    assert len({n.port for n in cluster.nodes} | {n.controller_port for n in cluster.nodes}) == 6


def test_one_node_replicates_once(tmp_path: Path) -> None:
    props = KafkaCluster.create(tmp_path, nodes=1).properties(KafkaCluster.create(tmp_path, nodes=1).nodes[0])
    assert "default.replication.factor=1" in props and "min.insync.replicas=1" in props
