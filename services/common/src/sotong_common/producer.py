"""The Kafka producer every API process uses: durable (acks=all) and idempotent."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer


def durable(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    """acks=all with idempotence: an acknowledged event is on min.insync.replicas brokers, once, in order."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=30000,
    )
