"""Intake's configuration: the platform's shared settings plus the contact key ring, channels and retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sotong_common import config
from sotong_intake.contact import KeyRing, RetentionPolicy
from sotong_intake.duplicates import DuplicateRule
from sotong_intake.webhook import parse_secret


def _key_ring(raw: str) -> KeyRing:
    return KeyRing.from_config(raw)


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def parse_webhook_secrets(raw: str) -> dict[str, list[str]]:
    """`source=whsec_new whsec_old;source2=whsec_…`: each source's active secrets (several = key rotation)."""
    found: dict[str, list[str]] = {}
    for part in raw.split(";"):
        if not part.strip():
            continue
        source, sep, secrets = part.partition("=")
        source = source.strip()
        if not sep or not source or not source.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"{part.strip()[:20]!r}… is not source=whsec_… (source: letters, digits, - and _)")
        keys = secrets.replace(",", " ").split()
        if not keys:
            raise ValueError(f"source {source!r} has no secret")
        for key in keys:
            parse_secret(key)  # raises ValueError naming the problem, never the secret
        found[source] = keys
    return found


def _keys(raw: str) -> frozenset[str]:
    return frozenset(k.strip() for k in raw.split(",") if k.strip())


CONTACT_KEYS: config.Setting[KeyRing] = config.Setting(
    "INTAKE_CONTACT_KEYS",
    _key_ring,
    required=True,
    help="reporter contact key ring, id:base64key[,id:base64key], newest first",
    secret=True,
)
DUPLICATE_RADIUS_M: config.Setting[float] = config.Setting(
    "INTAKE_DUPLICATE_RADIUS_M", _positive_float, default=200.0, help="near-duplicate radius in metres"
)
DUPLICATE_WINDOW_H: config.Setting[float] = config.Setting(
    "INTAKE_DUPLICATE_WINDOW_HOURS", _positive_float, default=24.0, help="near-duplicate time window in hours"
)
HTTP_PORT: config.Setting[int] = config.Setting(
    "HTTP_PORT", config.parse_port, default=8080, help="HTTP port of sotong-intake-http (0 = any free)"
)
WEBHOOK_SECRETS: config.Setting[dict[str, list[str]]] = config.Setting(
    "INTAKE_WEBHOOK_SECRETS",
    parse_webhook_secrets,
    default={},
    help="Standard Webhooks secrets per source: sns=whsec_…;eungdapso=whsec_…;partner-x=whsec_new whsec_old",
    secret=True,
)
WEBHOOK_TOLERANCE_S: config.Setting[int] = config.Setting(
    "INTAKE_WEBHOOK_TOLERANCE_S", config.parse_positive_int, default=300, help="webhook timestamp tolerance"
)
OPEN311_API_KEYS: config.Setting[frozenset[str]] = config.Setting(
    "INTAKE_OPEN311_API_KEYS",
    _keys,
    default=frozenset(),
    help="comma-separated api_key values accepted on Open311 POST requests (empty = POST is closed)",
    secret=True,
)
KAKAO_SKILL_TOKEN: config.Setting[str] = config.Setting(
    "INTAKE_KAKAO_SKILL_TOKEN",
    str,
    default="",
    help="value Open Builder sends in the X-Sotong-Skill-Token header (empty = the skill endpoint is closed)",
    secret=True,
)
RETENTION_AFTER_CLOSED_DAYS: config.Setting[float] = config.Setting(
    "INTAKE_RETENTION_AFTER_CLOSED_DAYS", _positive_float, default=365.0, help="keep contacts this long after closure"
)
RETENTION_MAX_OPEN_DAYS: config.Setting[float] = config.Setting(
    "INTAKE_RETENTION_MAX_OPEN_DAYS", _positive_float, default=3 * 365.0, help="keep contacts of open ones this long"
)

API: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.JWT_SECRET,
    config.GRPC_PORT,
    config.METRICS_PORT,
    CONTACT_KEYS,
    DUPLICATE_RADIUS_M,
    DUPLICATE_WINDOW_H,
    *config.COMMON,
]
HTTP: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.METRICS_PORT,
    HTTP_PORT,
    CONTACT_KEYS,
    DUPLICATE_RADIUS_M,
    DUPLICATE_WINDOW_H,
    WEBHOOK_SECRETS,
    WEBHOOK_TOLERANCE_S,
    OPEN311_API_KEYS,
    KAKAO_SKILL_TOKEN,
    *config.COMMON,
]
WORKER: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.METRICS_PORT,
    config.TOPIC_REPLICATION,
    CONTACT_KEYS,
    DUPLICATE_RADIUS_M,
    DUPLICATE_WINDOW_H,
    *config.COMMON,
]
PURGE: list[config.Setting[Any]] = [
    config.DATABASE_URL,
    RETENTION_AFTER_CLOSED_DAYS,
    RETENTION_MAX_OPEN_DAYS,
    config.LOG_LEVEL,
]

SCHEMA = "intake"
MIGRATIONS = "sotong_intake.migrations"


def duplicate_rule(values: dict[str, Any]) -> DuplicateRule:
    return DuplicateRule(
        radius_m=values["INTAKE_DUPLICATE_RADIUS_M"], window=timedelta(hours=values["INTAKE_DUPLICATE_WINDOW_HOURS"])
    )


def retention(values: dict[str, Any]) -> RetentionPolicy:
    return RetentionPolicy(
        after_closed=timedelta(days=values["INTAKE_RETENTION_AFTER_CLOSED_DAYS"]),
        max_open=timedelta(days=values["INTAKE_RETENTION_MAX_OPEN_DAYS"]),
    )
