"""The topic catalog (topics.yaml), read once and used everywhere a topic name or setting is needed.

Services refer to topics through the constants below rather than string literals, so a rename is one change;
the local stack and the Strimzi manifests are generated from the same file, so they cannot disagree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

# An optional prefix on every topic name (SOTONG_TOPIC_PREFIX), so that several environments or test runs can
# share one Kafka cluster without seeing each other's events. Event types (the ce_type header) never carry it.
PREFIX = os.environ.get("SOTONG_TOPIC_PREFIX", "")

SUBMISSION_RECEIVED = PREFIX + "intake.submission-received.v1"
SUBMISSION_ACCEPTED = PREFIX + "intake.submission-accepted.v1"
SUBMISSION_STATUS_CHANGED = PREFIX + "intake.submission-status-changed.v1"
DECISION_MADE = PREFIX + "moderation.decision-made.v1"
RAW_SUBMISSION = PREFIX + "intake.raw-submission.v1"
INCIDENT_CHANGED = PREFIX + "alerting.incident-changed.v1"
DISPATCH_EMERGENCY = PREFIX + "alerting.dispatch-emergency.v1"
DISPATCH_ROUTINE = PREFIX + "alerting.dispatch-routine.v1"
INTAKE_DISPATCH = PREFIX + "intake.dispatch-requested.v1"
DELIVERY_REPORTED = PREFIX + "publishing.delivery-reported.v1"
PARTNER_MERCHANT_CHANGED = PREFIX + "partner.merchant-changed.v1"
PARTNER_DISPATCH = PREFIX + "partner.dispatch-requested.v1"
COMMUNITY_PROPOSAL_CHANGED = PREFIX + "community.proposal-changed.v1"
COMMUNITY_CONTENT_POSTED = PREFIX + "community.content-posted.v1"
COMMUNITY_PARTICIPATION_RECORDED = PREFIX + "community.participation-recorded.v1"
COMMUNITY_OPINION_STATS = PREFIX + "community.opinion-stats.v1"
COMMUNITY_DISPATCH = PREFIX + "community.dispatch-requested.v1"
COMMUNITY_SNS_DIRECTORY = PREFIX + "community.sns-directory-changed.v1"

# Kinds of topic the publishing engine reads by catalog entry rather than by name: every service that sends
# messages declares its own dispatch-request topic (its one writer), so a new requester is a catalog entry.
DISPATCH_REQUEST = "dispatch-request"
DIRECTORY_FEED = "directory-feed"
EMERGENCY = "emergency"
ROUTINE = "routine"

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Topic:
    name: str
    owner: str
    description: str
    partitions: int
    retention_ms: int
    cleanup_policy: str
    dlq: bool = False
    # "dispatch-request" (with `lane`) or "directory-feed": topics the publishing engine consumes by kind.
    kind: str = ""
    lane: str = ""

    def configs(self, min_insync_replicas: int | None = None) -> dict[str, str]:
        """Topic-level configs as Kafka expects them."""
        configs = {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}
        if min_insync_replicas:
            configs["min.insync.replicas"] = str(min_insync_replicas)
        return configs


def dlq_name(topic: str) -> str:
    return topic + DLQ_SUFFIX


def event_type(topic: str) -> str:
    """The event type a topic carries: its catalog name, without the environment prefix."""
    return topic[len(PREFIX) :] if PREFIX and topic.startswith(PREFIX) else topic


@cache
def catalog(prefix: str | None = None) -> tuple[Topic, ...]:
    """Every topic (names with `prefix`, by default SOTONG_TOPIC_PREFIX), including the dead-letter topics."""
    prefix = PREFIX if prefix is None else prefix
    raw: dict[str, Any] = yaml.safe_load(resources.files("sotong_common").joinpath("topics.yaml").read_text("utf-8"))
    defaults = raw.get("defaults", {})
    topics: list[Topic] = []
    for entry in raw["topics"]:
        merged = {**defaults, **entry}
        topic = Topic(
            name=prefix + merged["name"],
            owner=merged["owner"],
            description=merged.get("description", ""),
            partitions=int(merged["partitions"]),
            retention_ms=int(merged["retention_ms"]),
            cleanup_policy=merged["cleanup_policy"],
            dlq=bool(merged.get("dlq", False)),
            kind=str(merged.get("kind", "")),
            lane=str(merged.get("lane", "")),
        )
        if topic.kind not in ("", DISPATCH_REQUEST, DIRECTORY_FEED):
            raise ValueError(f"topic {topic.name}: unknown kind {topic.kind!r}")
        if topic.kind == DISPATCH_REQUEST and topic.lane not in (EMERGENCY, ROUTINE):
            raise ValueError(f"dispatch-request topic {topic.name} needs lane: emergency or routine")
        topics.append(topic)
        if topic.dlq:
            topics.append(
                Topic(
                    name=dlq_name(topic.name),
                    owner=f"consumers of {topic.name}",
                    description=f"messages of {topic.name} that could not be processed, with the error in headers",
                    partitions=1,
                    retention_ms=2592000000,
                    cleanup_policy="delete",
                )
            )
    return tuple(topics)


def get(name: str) -> Topic:
    for topic in catalog():
        if topic.name == name:
            return topic
    raise KeyError(f"topic {name!r} is not in the catalog (services/common/src/sotong_common/topics.yaml)")


def of_kind(kind: str, lane: str = "") -> tuple[Topic, ...]:
    """The catalog's topics of `kind` (and `lane`), e.g. every routine dispatch-request topic."""
    return tuple(t for t in catalog() if t.kind == kind and (not lane or t.lane == lane))
