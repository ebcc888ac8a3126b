"""Intake's configuration: the platform's shared settings plus the contact key ring, channels and retention."""

from __future__ import annotations

from datetime import timedelta

from sotong_common import config
from sotong_common.sealing import Sealer
from sotong_common.webhooks import parse_secret
from sotong_intake.contact import KeyRing, RetentionPolicy
from sotong_intake.duplicates import DuplicateRule


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


@config.settings
class Reception(config.ProcessSettings):
    """What every process that takes in submissions needs: the contact key ring and the duplicate rule."""

    intake_contact_keys: KeyRing = config.env(CONTACT_KEYS)
    intake_duplicate_radius_m: float = config.env(DUPLICATE_RADIUS_M)
    intake_duplicate_window_hours: float = config.env(DUPLICATE_WINDOW_H)
    publishing_seal_public_keys: Sealer | None = config.env(config.SEAL_PUBLIC_KEYS)

    @property
    def duplicate_rule(self) -> DuplicateRule:
        return DuplicateRule(
            radius_m=self.intake_duplicate_radius_m, window=timedelta(hours=self.intake_duplicate_window_hours)
        )


@config.settings
class Api(Reception, config.GrpcSettings, config.KafkaSettings, config.DatabaseSettings):
    """`sotong-intake-api`."""


@config.settings
class Http(Reception, config.KafkaSettings, config.DatabaseSettings):
    """`sotong-intake-http`: Open311, the Kakao skill and the signed webhooks."""

    http_port: int = config.env(HTTP_PORT)
    intake_webhook_secrets: dict[str, list[str]] = config.env(WEBHOOK_SECRETS)
    intake_webhook_tolerance_s: int = config.env(WEBHOOK_TOLERANCE_S)
    intake_open311_api_keys: frozenset[str] = config.env(OPEN311_API_KEYS)
    intake_kakao_skill_token: str = config.env(KAKAO_SKILL_TOKEN)


@config.settings
class Worker(Reception, config.WorkerSettings):
    """`sotong-intake-worker`."""


@config.settings
class Purge(config.Settings):
    """`sotong-intake-purge`: a short job, so no metrics port or tracing."""

    database_url: str = config.env(config.DATABASE_URL)
    intake_retention_after_closed_days: float = config.env(RETENTION_AFTER_CLOSED_DAYS)
    intake_retention_max_open_days: float = config.env(RETENTION_MAX_OPEN_DAYS)
    log_level: str = config.env(config.LOG_LEVEL)

    @property
    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(
            after_closed=timedelta(days=self.intake_retention_after_closed_days),
            max_open=timedelta(days=self.intake_retention_max_open_days),
        )


SCHEMA = "intake"
MIGRATIONS = "sotong_intake.migrations"
