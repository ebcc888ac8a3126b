"""The Strimzi KafkaTopic manifests are generated from the topic catalog and must not drift from it."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from sotong_common import topics
from sotong_localstack.topics import write_strimzi

COMMITTED = Path(__file__).resolve().parents[2] / "k8s" / "base" / "kafka-topics"


def test_committed_topics_match_the_catalog(tmp_path: Path) -> None:
    """Byte for byte what `make k8s-topics` writes: no stale file left, none missing, none edited by hand."""
    write_strimzi(tmp_path)
    generated = {p.name: p.read_text() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_text() for p in COMMITTED.iterdir()}
    assert committed == generated, "run `make k8s-topics` and commit k8s/base/kafka-topics/"


def test_kustomize_renders_exactly_the_catalog(kustomize: Callable[[Path], list[dict[str, Any]]]) -> None:
    """The kustomization lists every topic of the catalog and nothing else (a stale entry fails the build)."""
    rendered = [o["spec"]["topicName"] for o in kustomize(COMMITTED)]
    assert sorted(rendered) == sorted(t.name for t in topics.catalog(""))
    assert len(rendered) == len(set(rendered))


def test_every_catalog_topic_is_replicated_with_min_isr_2() -> None:
    for topic in topics.catalog(""):
        doc = yaml.safe_load((COMMITTED / f"{topic.name}.yaml").read_text())
        assert doc["kind"] == "KafkaTopic"
        assert doc["spec"]["topicName"] == topic.name
        assert doc["spec"]["partitions"] == topic.partitions
        assert doc["spec"]["replicas"] == 3
        assert doc["spec"]["config"]["min.insync.replicas"] == "2"
