"""One consumer core for every consumer kind (issue: platform step): a record whose handling raises an error
nobody foresaw is retried a bounded number of times and dead-lettered with the error, the stage and the attempt
count, the records after it are delivered, and the process keeps running.

Each kind runs in its own process (tests/service/consumer_probe.py) in the platform's lifecycle, on the real
broker: the Faust stream worker, the librdkafka batch consumer and the publishing engine's lane consumer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.publishing.v1 import publishing_events_pb2 as pub
from sotong_common import events, topics
from sotong_localstack.stack import Stack
from sotong_localstack.testing import produce_raw, read_all

PROBE = Path(__file__).with_name("consumer_probe.py")


def _send(stack: Stack, topic: str, key: str, value: bytes) -> None:
    headers = events.EventMetadata.new(topic, "test").headers(with_trace=False)
    produce_raw(stack, topic, value, key.encode(), headers)


def _wait(check: object, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"not true after {timeout:.0f}s")


@pytest.mark.parametrize("kind", ["faust", "batch", "lane"])
def test_an_unexpected_error_is_dead_lettered_after_n_attempts_and_the_consumer_goes_on(
    fresh_stack: Stack, tmp_path: Path, kind: str
) -> None:
    assert fresh_stack.state is not None
    out = tmp_path / "handled.txt"
    out.touch()
    log = open(tmp_path / f"probe-{kind}.log", "wb")  # noqa: SIM115 - handed to the child
    probe = subprocess.Popen(
        [sys.executable, str(PROBE), kind, str(out)],
        env={**os.environ, **fresh_stack.state.env(), "SOTONG_METRICS_PORT": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        if kind == "lane":
            topic = "alerting.dispatch-routine.v1"
            names = ["boom-1", "after-1", "after-2", "after-3"]
            for name in names:
                dispatch = pub.DispatchRequested(dispatch_id=name, channel=pub.CHANNEL_SMS)
                _send(fresh_stack, topic, name, dispatch.SerializeToString())
        else:
            topic = "intake.raw-submission.v1"
            names = ["BOOM", "after-1", "after-2", "after-3"]
            for name in names:
                _send(fresh_stack, topic, name, intake.SubmitReportRequest(text=name).SerializeToString())
        _wait(lambda: sorted(out.read_text().split()) == sorted(names[1:]))  # partitions run concurrently
        letters = read_all(fresh_stack, topics.dlq_name(topic))
        assert len(letters) == 1, "exactly the failing record was dead-lettered"
        headers = {k: v.decode() for k, v in letters[0].headers}
        assert letters[0].key == names[0].encode()
        assert headers[events.H_ERROR].startswith("RuntimeError: an error nobody foresaw")
        assert headers[events.H_ERROR_STAGE] == "handle"
        assert headers[events.H_ERROR_ATTEMPTS] == "3"
        assert probe.poll() is None, "the process is still running"
    finally:
        if probe.poll() is None:
            os.killpg(probe.pid, signal.SIGTERM)
        code = probe.wait(timeout=60)
    assert code == 0, (tmp_path / f"probe-{kind}.log").read_text()[-3000:]


def test_the_faust_worker_never_handles_an_event_of_an_aborted_transaction(fresh_stack: Stack, tmp_path: Path) -> None:
    """Faust reads read_committed, so a record whose Kafka transaction was aborted (a moderation batch that did not
    commit) never reaches a handler; the committed one after it does."""
    from confluent_kafka import Producer

    assert fresh_stack.state is not None
    out = tmp_path / "handled.txt"
    out.touch()
    log = open(tmp_path / "probe-faust.log", "wb")  # noqa: SIM115 - handed to the child
    probe = subprocess.Popen(
        [sys.executable, str(PROBE), "faust", str(out)],
        env={**os.environ, **fresh_stack.state.env(), "SOTONG_METRICS_PORT": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        topic = fresh_stack.state.topic_prefix + "intake.raw-submission.v1"
        producer = Producer(
            {"bootstrap.servers": fresh_stack.state.kafka_bootstrap, "transactional.id": f"test-{tmp_path.name}"}
        )
        producer.init_transactions(30)
        for text, commit in (("aborted-1", False), ("committed-1", True)):
            producer.begin_transaction()
            headers = events.EventMetadata.new(topic, "test").headers(with_trace=False)
            value = intake.SubmitReportRequest(text=text).SerializeToString()
            producer.produce(topic, value=value, key=b"same-key", headers=headers)
            producer.flush(30)
            if commit:
                producer.commit_transaction(30)
            else:
                producer.abort_transaction(30)
        _wait(lambda: "committed-1" in out.read_text().split())
        time.sleep(2)
        assert out.read_text().split() == ["committed-1"]
    finally:
        if probe.poll() is None:
            os.killpg(probe.pid, signal.SIGTERM)
        probe.wait(timeout=60)


def test_the_faust_worker_commits_past_the_markers_of_a_transactional_topic(fresh_stack: Stack, tmp_path: Path) -> None:
    """Every Kafka transaction leaves a commit marker, an offset no consumer receives (moderation writes its
    decisions this way). The Faust worker's committed offset must reach the last record all the same; before the
    fix it advanced one run of offsets per commit and fell further behind with every transaction."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    assert fresh_stack.state is not None
    out = tmp_path / "handled.txt"
    out.touch()
    log = open(tmp_path / "probe-faust.log", "wb")  # noqa: SIM115 - handed to the child
    probe = subprocess.Popen(
        [sys.executable, str(PROBE), "faust", str(out)],
        env={**os.environ, **fresh_stack.state.env(), "SOTONG_METRICS_PORT": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    bootstrap = fresh_stack.state.kafka_bootstrap
    topic = fresh_stack.state.topic_prefix + "intake.raw-submission.v1"
    try:
        producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"test-{tmp_path.name}"})
        producer.init_transactions(30)
        n = 40
        for i in range(n):  # one record per transaction: a marker after each, as a light moderation load writes
            producer.begin_transaction()
            headers = events.EventMetadata.new(topic, "test").headers(with_trace=False)
            value = intake.SubmitReportRequest(text=f"marked-{i}").SerializeToString()
            producer.produce(topic, value=value, key=b"same-key", headers=headers)
            producer.commit_transaction(30)
        _wait(lambda: len(out.read_text().split()) >= n)

        prefix = fresh_stack.state.topic_prefix.rstrip(".-")
        group = f"sotong-{prefix + '-' if prefix else ''}probe-faust"  # streams.app_id in the probe's environment
        reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        try:
            partitions = [
                TopicPartition(topic, p) for p in reader.list_topics(topic, timeout=10).topics[topic].partitions
            ]
            ends = {tp.partition: reader.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
            written = {p: end for p, end in ends.items() if end > 0}
            assert len(written) == 1, written  # one key, one partition

            def caught_up() -> bool:
                committed = reader.committed(partitions, timeout=10)
                # The last record is followed by its marker: committed = end - 1 means every record is committed.
                return all(tp.offset >= written[tp.partition] - 1 for tp in committed if tp.partition in written)

            _wait(caught_up, timeout=15)
        finally:
            reader.close()
    finally:
        if probe.poll() is None:
            os.killpg(probe.pid, signal.SIGTERM)
        probe.wait(timeout=60)
