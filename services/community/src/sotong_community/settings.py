"""Community's configuration: the platform's shared settings plus who is told what and how hard to batch."""

from __future__ import annotations

from sotong_common import config


def _targets(raw: str) -> tuple[str, ...]:
    found = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not found:
        raise ValueError("must name at least one chat user id")
    return found


REPORT_THRESHOLD: config.Setting[int] = config.Setting(
    "COMMUNITY_REPORT_THRESHOLD",
    config.parse_positive_int,
    default=3,
    help="distinct citizens' reports that hide a comment, post or statement until a moderator decides",
)
MODERATOR_TARGETS: config.Setting[tuple[str, ...]] = config.Setting(
    "COMMUNITY_MODERATOR_TARGETS",
    _targets,
    default=("community-moderators",),
    help="group-chat user ids told (through the publishing service) that community content waits for a moderator",
)
ESCALATION_TARGETS: config.Setting[tuple[str, ...]] = config.Setting(
    "COMMUNITY_ESCALATION_TARGETS",
    _targets,
    default=("community-answers-desk",),
    help="group-chat user ids told when a proposal's answer is overdue",
)
TIMER_SECONDS: config.Setting[int] = config.Setting(
    "COMMUNITY_TIMER_SECONDS",
    config.parse_positive_int,
    default=30,
    help="how often the worker archives, escalates overdue answers, tells moderators what waits, and recomputes"
    " opinion groups",
)
GROUPS_SEED: config.Setting[int] = config.Setting(
    "COMMUNITY_OPINION_GROUPS_SEED",
    int,
    default=20261203,
    help="k-means seed of the opinion groups (the same votes and seed give the same groups)",
)
BATCH_MAX: config.Setting[int] = config.Setting(
    "COMMUNITY_BATCH_MAX", config.parse_positive_int, default=500, help="most events the worker handles per batch"
)
BATCH_WITHIN_MS: config.Setting[int] = config.Setting(
    "COMMUNITY_BATCH_WITHIN_MS",
    config.parse_positive_int,
    default=20,
    help="longest the worker waits for a batch to fill (bounds the latency a batch adds)",
)


@config.settings
class Api(config.GrpcSettings, config.KafkaSettings, config.DatabaseSettings):
    """`sotong-community-api`: the gRPC API and the outbox relay of the community schema."""

    community_report_threshold: int = config.env(REPORT_THRESHOLD)


@config.settings
class Worker(config.WorkerSettings):
    """`sotong-community-worker`: moderation decisions, opinion statistics, timers and notices."""

    community_moderator_targets: tuple[str, ...] = config.env(MODERATOR_TARGETS)
    community_escalation_targets: tuple[str, ...] = config.env(ESCALATION_TARGETS)
    community_timer_seconds: int = config.env(TIMER_SECONDS)
    community_opinion_groups_seed: int = config.env(GROUPS_SEED)
    community_batch_max: int = config.env(BATCH_MAX)
    community_batch_within_ms: int = config.env(BATCH_WITHIN_MS)


SCHEMA = "community"
MIGRATIONS = "sotong_community.migrations"
