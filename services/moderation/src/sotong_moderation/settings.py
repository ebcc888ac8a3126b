"""Moderation's configuration: the platform's shared settings."""

from __future__ import annotations

from typing import Any

from sotong_common import config

API: list[config.Setting[Any]] = [
    config.DATABASE_URL,
    config.JWT_SECRET,
    config.GRPC_PORT,
    config.METRICS_PORT,
    *config.COMMON,
]
BATCH_MAX = config.Setting(
    "MODERATION_BATCH_MAX",
    config.parse_positive_int,
    500,
    help="most content events the worker judges and stores in one transaction",
)
BATCH_WITHIN_MS = config.Setting(
    "MODERATION_BATCH_WITHIN_MS",
    config.parse_positive_int,
    20,
    help="longest wait (ms) for a batch to fill; bounds the latency a batch adds at low load",
)
WORKER: list[config.Setting[Any]] = [
    BATCH_MAX,
    BATCH_WITHIN_MS,
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.METRICS_PORT,
    config.TOPIC_REPLICATION,
    *config.COMMON,
]

SCHEMA = "moderation"
MIGRATIONS = "sotong_moderation.migrations"
