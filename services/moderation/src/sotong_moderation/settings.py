"""Moderation's configuration: the platform's shared settings plus the worker's batching."""

from __future__ import annotations

from sotong_common import config

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


@config.settings
class Api(config.GrpcSettings, config.DatabaseSettings):
    """`sotong-moderation-api`: its moderators' decisions go out through the outbox the worker relays."""


@config.settings
class Worker(config.WorkerSettings):
    """`sotong-moderation-worker`."""

    moderation_batch_max: int = config.env(BATCH_MAX)
    moderation_batch_within_ms: int = config.env(BATCH_WITHIN_MS)


@config.settings
class Export(config.Settings):
    """`sotong-moderation-export`: a command, reading the decisions."""

    database_url: str = config.env(config.DATABASE_URL)
    log_level: str = config.env(config.LOG_LEVEL)


SCHEMA = "moderation"
MIGRATIONS = "sotong_moderation.migrations"
