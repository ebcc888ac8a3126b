"""The Strimzi KafkaTopic manifests are generated from the topic catalog and must not drift from it."""

from pathlib import Path

import yaml

from sotong_common import topics
from sotong_localstack.topics import write_strimzi

COMMITTED = Path(__file__).resolve().parents[2] / "k8s" / "base" / "kafka-topics"


def test_committed_topics_match_the_catalog(tmp_path: Path) -> None:
    write_strimzi(tmp_path)
    generated = {p.name: p.read_text() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_text() for p in COMMITTED.iterdir()}
    assert committed == generated, "run `make k8s-topics` and commit k8s/base/kafka-topics/"


def test_every_catalog_topic_is_replicated_with_min_isr_2() -> None:
    for topic in topics.catalog(""):
        doc = yaml.safe_load((COMMITTED / f"{topic.name}.yaml").read_text())
        assert doc["kind"] == "KafkaTopic"
        assert doc["spec"]["topicName"] == topic.name
        assert doc["spec"]["partitions"] == topic.partitions
        assert doc["spec"]["replicas"] == 3
        assert doc["spec"]["config"]["min.insync.replicas"] == "2"
