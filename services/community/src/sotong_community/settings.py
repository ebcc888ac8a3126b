"""Community's configuration: the platform's shared settings plus who is told what and how hard to batch."""

from __future__ import annotations

from sotong_common import config
from sotong_common.at_rest import KeyRing
from sotong_common.sealing import Sealer


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
SUPPORTS_ANNOUNCE_MS: config.Setting[int] = config.Setting(
    "COMMUNITY_SUPPORTS_ANNOUNCE_MS",
    config.parse_positive_int,
    default=1000,
    help="longest supports wait in their proposal's row before the opinion statistics are told of them (one fact"
    " per proposal and interval instead of one per ledger batch)",
)

DORMANT_DAYS: config.Setting[int] = config.Setting(
    "COMMUNITY_DORMANT_DAYS",
    config.parse_positive_int,
    default=90,
    help="days without a post after which the audit marks an official SNS account dormant",
)


def _overlap(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError("must be in (0, 1]")
    return value


MERGE_OVERLAP: config.Setting[float] = config.Setting(
    "COMMUNITY_MERGE_OVERLAP",
    _overlap,
    default=0.35,
    help="overlap of two accounts' purposes (character bigrams' Jaccard index) that makes them merge candidates",
)
TRAINING_VALID_DAYS: config.Setting[int] = config.Setting(
    "COMMUNITY_TRAINING_VALID_DAYS",
    config.parse_positive_int,
    default=365,
    help="how long a staff member's social-media training counts in the compliance view",
)


def _requesters(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


AUDIT_IGNORED_REQUESTERS: config.Setting[tuple[str, ...]] = config.Setting(
    "COMMUNITY_AUDIT_IGNORED_REQUESTERS",
    _requesters,
    default=("alerting",),
    help="requesters whose SNS receipts do not count as an account's posts (city-wide alerts go to every account)",
)
AUDIT_EVERY_HOURS: config.Setting[int] = config.Setting(
    "COMMUNITY_AUDIT_EVERY_HOURS",
    config.parse_positive_int,
    default=24,
    help="how often the worker runs the SNS account audit (and refreshes the month's report)",
)

CONTACT_KEYS: config.Setting[KeyRing | None] = config.Setting(
    "COMMUNITY_CONTACT_KEYS",
    KeyRing.from_config,
    default=None,
    help="key ring for the contacts of class enrolments (encrypted at rest), id:base64key[,id:base64key], newest"
    " first (unset: classes refuse enrolments)",
    secret=True,
)


@config.settings
class Api(config.GrpcSettings, config.KafkaSettings, config.DatabaseSettings):
    """`sotong-community-api`: the gRPC API and the outbox relay of the community schema."""

    community_report_threshold: int = config.env(REPORT_THRESHOLD)
    community_supports_announce_ms: int = config.env(SUPPORTS_ANNOUNCE_MS)
    community_dormant_days: int = config.env(DORMANT_DAYS)
    community_merge_overlap: float = config.env(MERGE_OVERLAP)
    community_training_valid_days: int = config.env(TRAINING_VALID_DAYS)
    community_contact_keys: KeyRing | None = config.env(CONTACT_KEYS)
    publishing_seal_public_keys: Sealer | None = config.env(config.SEAL_PUBLIC_KEYS)


@config.settings
class Worker(config.WorkerSettings):
    """`sotong-community-worker`: moderation decisions, opinion statistics, timers and notices."""

    community_moderator_targets: tuple[str, ...] = config.env(MODERATOR_TARGETS)
    community_escalation_targets: tuple[str, ...] = config.env(ESCALATION_TARGETS)
    community_timer_seconds: int = config.env(TIMER_SECONDS)
    community_opinion_groups_seed: int = config.env(GROUPS_SEED)
    community_batch_max: int = config.env(BATCH_MAX)
    community_batch_within_ms: int = config.env(BATCH_WITHIN_MS)
    community_dormant_days: int = config.env(DORMANT_DAYS)
    community_merge_overlap: float = config.env(MERGE_OVERLAP)
    community_audit_ignored_requesters: tuple[str, ...] = config.env(AUDIT_IGNORED_REQUESTERS)
    community_audit_every_hours: int = config.env(AUDIT_EVERY_HOURS)
    community_contact_keys: KeyRing | None = config.env(CONTACT_KEYS)
    publishing_seal_public_keys: Sealer | None = config.env(config.SEAL_PUBLIC_KEYS)


SCHEMA = "community"
MIGRATIONS = "sotong_community.migrations"
