"""The publishing engine's configuration (SOTONG_PUBLISHING_*).

Provider endpoints are one JSON object per role, channel name -> base URL, in the shape the stand-ins print
(`{"chat": "http://.../chat/v1", ..., "mail": "smtp://host:port"}`); production sets the real endpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sotong_common import config
from sotong_common.sealing import Opener

CHANNELS: tuple[str, ...] = ("chat", "pager", "mail", "notice", "sns", "push", "kakao", "sms", "kakao_bot")


def parse_endpoints(raw: str) -> dict[str, str]:
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("must be a JSON object of channel name -> base URL")
    unknown = sorted(set(value) - set(CHANNELS))
    if unknown:
        raise ValueError(f"unknown channels {unknown}; known: {', '.join(CHANNELS)}")
    for name, url in value.items():
        scheme = "smtp://" if name == "mail" else ("http://", "https://")
        if not url.startswith(scheme):
            raise ValueError(f"{name}: {url!r} does not start with {scheme}")
    return dict(value)


def parse_channels(raw: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(c.strip() for c in raw.split(",") if c.strip()))
    unknown = [c for c in chosen if c not in CHANNELS]
    if not chosen or unknown:
        raise ValueError(f"must list channels among {', '.join(CHANNELS)} (unknown: {unknown})")
    return chosen


def parse_rates(raw: str) -> dict[str, float]:
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(
        k in CHANNELS and isinstance(v, int | float) and v > 0 for k, v in value.items()
    ):
        raise ValueError("must be a JSON object of channel name -> positive requests per second")
    return {k: float(v) for k, v in value.items()}


def parse_positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def parse_directory(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError("is not a readable file")
    return path


def _setting(name: str, parse: Any, default: Any, help_: str, **kwargs: Any) -> config.Setting[Any]:
    return config.Setting(name, parse, default=default, help=help_, **kwargs)


PROVIDERS = config.Setting(
    "PUBLISHING_PROVIDERS", parse_endpoints, required=True, help="primary provider base URLs (JSON)"
)
FALLBACKS = _setting("PUBLISHING_FALLBACKS", parse_endpoints, {}, "fallback provider base URLs (JSON)")
TOKEN = _setting("PUBLISHING_PROVIDER_TOKEN", str, "", "bearer token / SMTP password for providers", secret=True)
CHANNELS_SETTING = _setting(
    "PUBLISHING_CHANNELS", parse_channels, CHANNELS, "channels this process serves (comma list)"
)
RATES = _setting("PUBLISHING_RATE_LIMITS", parse_rates, {}, "requests/s per channel provider (JSON)")
MAX_ATTEMPTS = _setting("PUBLISHING_MAX_ATTEMPTS", config.parse_positive_int, 8, "attempts before a target is dead")
BACKOFF_BASE = _setting("PUBLISHING_BACKOFF_BASE_S", parse_positive_float, 0.2, "first backoff ceiling (s)")
BACKOFF_CAP = _setting("PUBLISHING_BACKOFF_CAP_S", parse_positive_float, 5.0, "largest backoff ceiling (s)")
TIMEOUT = _setting("PUBLISHING_TIMEOUT_S", parse_positive_float, 10.0, "provider request timeout (s)")
BREAKER_FAILURES = _setting(
    "PUBLISHING_BREAKER_FAILURES", config.parse_positive_int, 5, "consecutive failures that open a breaker"
)
BREAKER_OPEN = _setting("PUBLISHING_BREAKER_OPEN_S", parse_positive_float, 5.0, "seconds before a breaker probes")
CONCURRENCY = _setting(
    "PUBLISHING_CONCURRENCY", config.parse_positive_int, 6, "requests in flight per dispatch (batches)"
)
RECEIPT_TARGETS = _setting(
    "PUBLISHING_RECEIPT_TARGETS_MAX",
    config.parse_positive_int,
    1000,
    "audiences up to this size get a receipt per target, larger ones per batch",
)
PUSH_PROJECT = _setting("PUBLISHING_PUSH_PROJECT", str, "sotong-seoul", "FCM project id")
SENS_SERVICE = _setting("PUBLISHING_SENS_SERVICE_ID", str, "ncp:sms:kr:sotong", "SENS service id")
SMS_SENDER = _setting("PUBLISHING_SMS_SENDER", str, "0221330000", "registered SMS sender number")
KAKAO_CHANNEL = _setting("PUBLISHING_KAKAO_CHANNEL", str, "@seoul", "KakaoTalk channel (plusFriendId)")
KAKAO_BOT_ID = _setting("PUBLISHING_KAKAO_BOT_ID", str, "sotong-seoul-bot", "KakaoTalk chatbot id (event API)")
KAKAO_BOT_EVENT = _setting(
    "PUBLISHING_KAKAO_BOT_EVENT", str, "sotong_message", "event name whose block shows a message to a bot user"
)
PAGER_ROUTING_KEY = _setting(
    "PUBLISHING_PAGER_ROUTING_KEY", str, "sotongdutyofficerroutingkey00001", "pager integration key (32 characters)"
)
MAIL_SENDER = _setting("PUBLISHING_MAIL_FROM", str, "press@sotong.seoul.go.kr", "press mail From address")
NOTICE_DEPARTMENT = _setting(
    "PUBLISHING_NOTICE_DEPARTMENT", str, "서울특별시 재난안전대책본부", "portal notice department"
)
PUSH_DEVICES = _setting(
    "PUBLISHING_DIRECTORY_PUSH_DEVICES", config.parse_positive_int, 10_000, "news-app devices in the directory"
)
SMS_SUBSCRIBERS = _setting(
    "PUBLISHING_DIRECTORY_SMS_SUBSCRIBERS", config.parse_positive_int, 200, "SMS subscribers in the directory"
)
KAKAO_FRIENDS = _setting(
    "PUBLISHING_DIRECTORY_KAKAO_FRIENDS", config.parse_positive_int, 200, "KakaoTalk channel friends in the directory"
)
DIRECTORY = _setting(
    "PUBLISHING_DIRECTORY",
    parse_directory,
    None,
    "YAML of the directory's named lists (press list, drill audiences, SNS import); default: the packaged one",
)
SEAL_KEYS = config.Setting(
    "PUBLISHING_SEAL_KEYS",
    Opener.from_config,
    required=True,
    help="private X25519 keys that open sealed targets, id:base64[,id:base64] (python -m sotong_common.sealing)",
    secret=True,
)


@config.settings
class Dispatch(config.KafkaSettings, config.DatabaseSettings):
    """`sotong-publishing-dispatch`: the engine's process."""

    topic_replication: int = config.env(config.TOPIC_REPLICATION)
    publishing_providers: dict[str, str] = config.env(PROVIDERS)
    publishing_fallbacks: dict[str, str] = config.env(FALLBACKS)
    publishing_provider_token: str = config.env(TOKEN)
    publishing_channels: tuple[str, ...] = config.env(CHANNELS_SETTING)
    publishing_rate_limits: dict[str, float] = config.env(RATES)
    publishing_max_attempts: int = config.env(MAX_ATTEMPTS)
    publishing_backoff_base_s: float = config.env(BACKOFF_BASE)
    publishing_backoff_cap_s: float = config.env(BACKOFF_CAP)
    publishing_timeout_s: float = config.env(TIMEOUT)
    publishing_breaker_failures: int = config.env(BREAKER_FAILURES)
    publishing_breaker_open_s: float = config.env(BREAKER_OPEN)
    publishing_concurrency: int = config.env(CONCURRENCY)
    publishing_receipt_targets_max: int = config.env(RECEIPT_TARGETS)
    publishing_push_project: str = config.env(PUSH_PROJECT)
    publishing_sens_service_id: str = config.env(SENS_SERVICE)
    publishing_sms_sender: str = config.env(SMS_SENDER)
    publishing_kakao_channel: str = config.env(KAKAO_CHANNEL)
    publishing_kakao_bot_id: str = config.env(KAKAO_BOT_ID)
    publishing_kakao_bot_event: str = config.env(KAKAO_BOT_EVENT)
    publishing_pager_routing_key: str = config.env(PAGER_ROUTING_KEY)
    publishing_mail_from: str = config.env(MAIL_SENDER)
    publishing_notice_department: str = config.env(NOTICE_DEPARTMENT)
    publishing_directory_push_devices: int = config.env(PUSH_DEVICES)
    publishing_directory_sms_subscribers: int = config.env(SMS_SUBSCRIBERS)
    publishing_directory_kakao_friends: int = config.env(KAKAO_FRIENDS)
    publishing_directory: Path | None = config.env(DIRECTORY)
    publishing_seal_keys: Opener = config.env(SEAL_KEYS)


@config.settings
class Replay(config.Settings):
    """`sotong-publishing-replay`: a command."""

    kafka_bootstrap: str = config.env(config.KAFKA_BOOTSTRAP)
    log_level: str = config.env(config.LOG_LEVEL)


SCHEMA = "publishing"
MIGRATIONS = "sotong_publishing.migrations"
