"""Alerting's configuration: the platform's shared settings plus the stage-0 response plan and CAP identity."""

from __future__ import annotations

from typing import Any

from sotong_alerting.upstream import SenderBindings
from sotong_common import auth, config


def _delays(raw: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ValueError("must be comma-separated seconds, e.g. 300,600") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError("must be positive seconds, e.g. 300,600")
    return values


def _window(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be a positive number of seconds")
    return value


RESPONSE_MAP: config.Setting[str] = config.Setting(
    "ALERTING_RESPONSE_MAP",
    str,
    default="",
    help="path of the stage-0 response plan YAML (default: the plan shipped in the package)",
)
ESCALATION_SECONDS: config.Setting[tuple[float, ...]] = config.Setting(
    "ALERTING_ESCALATION_SECONDS",
    _delays,
    default=None,
    help="override the plan's escalation delays, comma-separated seconds per level (e.g. 300,600)",
)
CAP_SENDER: config.Setting[str] = config.Setting(
    "ALERTING_CAP_SENDER", str, default="alert@seoul.go.kr", help="<sender> of the CAP alerts the city issues"
)
FEED_URL: config.Setting[str] = config.Setting(
    "ALERTING_FEED_URL",
    str,
    default="https://alert.seoul.go.kr/cap",
    help="public base URL of the CAP feed and documents (feed self link, entry links)",
)
GROUPING_WINDOW: config.Setting[float] = config.Setting(
    "ALERTING_GROUPING_WINDOW_SECONDS",
    _window,
    default=3600.0,
    help="citizens' disaster reports of the same hazard and district within this many seconds form one incident",
)


def _subjects(raw: str) -> frozenset[str]:
    found = frozenset(part.strip() for part in raw.split(",") if part.strip())
    for subject in found:
        problem = auth.subject_problem(subject)
        if problem is not None:
            raise ValueError(f"{subject!r}: {problem}")
    return found


CAP_SENDERS: config.Setting[SenderBindings] = config.Setting(
    "ALERTING_CAP_SENDERS",
    SenderBindings.parse,
    default=SenderBindings({}),
    help='which CAP senders each IngestCap caller may speak for, JSON {"subject": ["sender", ...]}; '
    "empty: nobody may ingest CAP",
)
SOLO_DRILL_APPROVERS: config.Setting[frozenset[str]] = config.Setting(
    "ALERTING_SOLO_DRILL_APPROVERS",
    _subjects,
    default=frozenset(),
    help="comma-separated subjects allowed to approve Test/Exercise alerts they drafted themselves "
    "(every such approval is audited); empty: drills need a second person like real alerts",
)

API: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.JWT_SECRET,
    config.GRPC_PORT,
    config.METRICS_PORT,
    RESPONSE_MAP,
    ESCALATION_SECONDS,
    CAP_SENDER,
    FEED_URL,
    CAP_SENDERS,
    SOLO_DRILL_APPROVERS,
    *config.AUTH,
    *config.COMMON,
]
WORKER: list[config.Setting[Any]] = [
    config.KAFKA_BOOTSTRAP,
    config.DATABASE_URL,
    config.METRICS_PORT,
    config.TOPIC_REPLICATION,
    RESPONSE_MAP,
    ESCALATION_SECONDS,
    GROUPING_WINDOW,
    *config.COMMON,
]

SCHEMA = "alerting"
MIGRATIONS = "sotong_alerting.migrations"
