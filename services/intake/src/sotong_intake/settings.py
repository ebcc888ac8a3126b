"""Intake's configuration: the platform's shared settings plus the contact key ring."""

from __future__ import annotations

from typing import Any

from sotong_common import config
from sotong_intake.contact import KeyRing


def _key_ring(raw: str) -> KeyRing:
    return KeyRing.from_config(raw)


CONTACT_KEYS: config.Setting[KeyRing] = config.Setting(
    "INTAKE_CONTACT_KEYS",
    _key_ring,
    required=True,
    help="reporter contact key ring, id:base64key[,id:base64key], newest first",
    secret=True,
)

API: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.JWT_SECRET,
    config.GRPC_PORT,
    config.METRICS_PORT,
    CONTACT_KEYS,
    *config.COMMON,
]
WORKER: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.METRICS_PORT,
    config.TOPIC_REPLICATION,
    *config.COMMON,
]

SCHEMA = "intake"
MIGRATIONS = "sotong_intake.migrations"
