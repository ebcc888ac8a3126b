"""Helpers for tests on the real stack: authenticated gRPC channels, waiting, raw Kafka access, SQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import grpc
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from sotong_common import auth
from sotong_localstack.stack import Stack

T = TypeVar("T")


def token(stack: Stack, *roles: str) -> tuple[tuple[str, str], ...]:
    assert stack.state is not None
    return (("authorization", "Bearer " + auth.issue(stack.state.jwt_secret, "test-" + "-".join(roles), roles)),)


def channel(stack: Stack, process: str) -> grpc.aio.Channel:
    assert stack.state is not None
    return grpc.aio.insecure_channel(f"127.0.0.1:{stack.state.grpc_ports[process]}")


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 60.0, every: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    pytest.fail(f"condition not met after {timeout:.0f}s (last value {last!r})")


def topic_name(stack: Stack, topic: str) -> str:
    assert stack.state is not None
    return stack.state.topic_prefix + topic


def produce_raw(
    stack: Stack, topic: str, value: bytes, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
) -> None:
    assert stack.state is not None
    producer = KafkaProducer(bootstrap_servers=stack.state.kafka_bootstrap, acks="all")
    producer.send(topic_name(stack, topic), value=value, key=key, headers=headers or []).get(timeout=30)
    producer.close()


def read_all(stack: Stack, topic: str, timeout_ms: int = 3000) -> list[Any]:
    """Every record of a (prefixed) topic from the beginning, without joining a group."""
    assert stack.state is not None
    name = topic_name(stack, topic)
    consumer = KafkaConsumer(
        bootstrap_servers=stack.state.kafka_bootstrap, group_id=None, consumer_timeout_ms=timeout_ms
    )
    # A new consumer may not have the topic's metadata yet (None or empty at first): ask again briefly.
    deadline = time.monotonic() + 15
    found = consumer.partitions_for_topic(name)
    while not found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = consumer.partitions_for_topic(name)
    if not found:
        consumer.close()
        raise LookupError(f"topic {name} has no partitions (is it in the catalog?)")
    partitions = [TopicPartition(name, p) for p in found]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records = list(consumer)
    consumer.close()
    return records


async def sql(stack: Stack, query: str, *args: Any, schema: str) -> list[asyncpg.Record]:
    assert stack.state is not None
    conn = await asyncpg.connect(stack.state.database_url, server_settings={"search_path": schema})
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def person(stack: Stack, subject: str, *roles: str, verification: str | None = None) -> tuple[tuple[str, str], ...]:
    """Call metadata for one person: their own subject id, roles (default citizen) and verification claim."""
    assert stack.state is not None
    minted = auth.issue(stack.state.jwt_secret, subject, roles or ("citizen",), verification=verification)
    return (("authorization", "Bearer " + minted),)


async def stored(stack: Stack, *tracking_ids: str, timeout: float = 30.0) -> None:
    """Wait until intake has stored these submissions. Its doors answer once a report is durable in Kafka and the
    intake worker stores it a few milliseconds later (docs/architecture.md, "Accepting without the database"), so
    a test that reads a report back right after filing it waits for this first, as a client would retry."""
    wanted = sorted(set(tracking_ids))

    async def all_there() -> bool:
        rows = await sql(
            stack,
            "SELECT tracking_id FROM submissions WHERE tracking_id = ANY($1::text[])"
            " UNION SELECT alias FROM tracking_aliases WHERE alias = ANY($1::text[])",
            wanted,
            schema="intake",
        )
        return {r["tracking_id"] for r in rows} >= set(wanted)

    await eventually(all_there, timeout=timeout, every=0.05)
