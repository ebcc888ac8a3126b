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
WORKER: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.METRICS_PORT,
    config.TOPIC_REPLICATION,
    *config.COMMON,
]

SCHEMA = "moderation"
MIGRATIONS = "sotong_moderation.migrations"
