"""The dispatch worker's configuration (SOTONG_ALERTING_DISPATCH_* and SOTONG_ALERTING_DIRECTORY_*).

Provider endpoints are one JSON object per role, name -> base URL, in the shape the stand-ins print
(`{"chat": "http://.../chat/v1", ..., "mail": "smtp://host:port"}`); production sets the real endpoints.
"""

from __future__ import annotations

import json
from typing import Any

from sotong_common import config

CHANNELS: tuple[str, ...] = ("chat", "pager", "mail", "notice", "sns", "push", "kakao", "sms")


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


def _setting(name: str, parse: Any, default: Any, help_: str, **kwargs: Any) -> config.Setting[Any]:
    return config.Setting(name, parse, default=default, help=help_, **kwargs)


PROVIDERS = config.Setting(
    "ALERTING_DISPATCH_PROVIDERS", parse_endpoints, required=True, help="primary provider base URLs (JSON)"
)
FALLBACKS = _setting("ALERTING_DISPATCH_FALLBACKS", parse_endpoints, {}, "fallback provider base URLs (JSON)")
TOKEN = _setting("ALERTING_DISPATCH_TOKEN", str, "", "bearer token / SMTP password for providers", secret=True)
CHANNELS_SETTING = _setting(
    "ALERTING_DISPATCH_CHANNELS", parse_channels, CHANNELS, "channels this process consumes (comma list)"
)
RATES = _setting("ALERTING_DISPATCH_RATE_LIMITS", parse_rates, {}, "requests/s per channel provider (JSON)")
MAX_ATTEMPTS = _setting("ALERTING_DISPATCH_MAX_ATTEMPTS", config.parse_positive_int, 8, "attempts before DLQ")
BACKOFF_BASE = _setting("ALERTING_DISPATCH_BACKOFF_BASE_S", parse_positive_float, 0.2, "first backoff ceiling")
BACKOFF_CAP = _setting("ALERTING_DISPATCH_BACKOFF_CAP_S", parse_positive_float, 5.0, "largest backoff ceiling")
TIMEOUT = _setting("ALERTING_DISPATCH_TIMEOUT_S", parse_positive_float, 10.0, "provider request timeout")
BREAKER_FAILURES = _setting(
    "ALERTING_DISPATCH_BREAKER_FAILURES", config.parse_positive_int, 5, "consecutive failures that open a breaker"
)
BREAKER_OPEN = _setting("ALERTING_DISPATCH_BREAKER_OPEN_S", parse_positive_float, 5.0, "seconds before a probe")
CONCURRENCY = _setting(
    "ALERTING_DISPATCH_CONCURRENCY", config.parse_positive_int, 6, "requests in flight per dispatch (batches)"
)
RECEIPT_TARGETS = _setting(
    "ALERTING_DISPATCH_RECEIPT_TARGETS_MAX",
    config.parse_positive_int,
    1000,
    "audiences up to this size get a receipt per target, larger ones per batch",
)
PUSH_PROJECT = _setting("ALERTING_DISPATCH_PUSH_PROJECT", str, "sotong-seoul", "FCM project id")
SENS_SERVICE = _setting("ALERTING_DISPATCH_SENS_SERVICE_ID", str, "ncp:sms:kr:sotong", "SENS service id")
SMS_SENDER = _setting("ALERTING_DISPATCH_SMS_SENDER", str, "0221330000", "registered SMS sender number")
KAKAO_CHANNEL = _setting("ALERTING_DISPATCH_KAKAO_CHANNEL", str, "@seoul", "KakaoTalk channel (plusFriendId)")
PAGER_ROUTING_KEY = _setting(
    "ALERTING_DISPATCH_PAGER_ROUTING_KEY", str, "sotongdutyofficerroutingkey00001", "pager integration key (32)"
)
MAIL_SENDER = _setting("ALERTING_DISPATCH_MAIL_FROM", str, "press@sotong.seoul.go.kr", "press mail From address")
NOTICE_DEPARTMENT = _setting(
    "ALERTING_DISPATCH_NOTICE_DEPARTMENT", str, "서울특별시 재난안전대책본부", "portal notice department"
)
PUSH_DEVICES = _setting(
    "ALERTING_DIRECTORY_PUSH_DEVICES", config.parse_positive_int, 10_000, "news-app devices in the directory"
)
SMS_SUBSCRIBERS = _setting(
    "ALERTING_DIRECTORY_SMS_SUBSCRIBERS", config.parse_positive_int, 200, "SMS subscribers in the directory"
)
KAKAO_FRIENDS = _setting(
    "ALERTING_DIRECTORY_KAKAO_FRIENDS", config.parse_positive_int, 200, "KakaoTalk channel friends in the directory"
)

WORKER: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.METRICS_PORT,
    PROVIDERS,
    FALLBACKS,
    TOKEN,
    CHANNELS_SETTING,
    RATES,
    MAX_ATTEMPTS,
    BACKOFF_BASE,
    BACKOFF_CAP,
    TIMEOUT,
    BREAKER_FAILURES,
    BREAKER_OPEN,
    CONCURRENCY,
    RECEIPT_TARGETS,
    PUSH_PROJECT,
    SENS_SERVICE,
    SMS_SENDER,
    KAKAO_CHANNEL,
    PAGER_ROUTING_KEY,
    MAIL_SENDER,
    NOTICE_DEPARTMENT,
    PUSH_DEVICES,
    SMS_SUBSCRIBERS,
    KAKAO_FRIENDS,
    *config.COMMON,
]
REPLAY: list[config.Setting[Any]] = [config.KAFKA_BOOTSTRAP, *config.COMMON]

SCHEMA = "alerting_engine"
MIGRATIONS = "sotong_alerting.engine.migrations"
