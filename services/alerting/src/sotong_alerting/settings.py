"""Alerting's configuration: the platform's shared settings plus the stage-0 response plan and CAP identity."""

from __future__ import annotations

from sotong_alerting.response import ResponsePlan, load_plan
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


@config.settings
class Planning(config.ProcessSettings):
    """The stage-0 response plan every alerting process works from, checked when the settings are read."""

    alerting_response_map: str = config.env(RESPONSE_MAP)
    alerting_escalation_seconds: tuple[float, ...] | None = config.env(ESCALATION_SECONDS)

    def __post_init__(self) -> None:
        # A plan that cannot be used stops the process at start with one line naming the variable.
        try:
            plan = load_plan(self.alerting_response_map or None)
        except (ValueError, OSError) as error:  # PlanError, a missing or unreadable file
            raise config.ConfigError(f"{RESPONSE_MAP.env}: {error}") from None
        if self.alerting_escalation_seconds:
            try:
                plan = plan.with_delays(self.alerting_escalation_seconds)
            except ValueError as error:
                raise config.ConfigError(f"{ESCALATION_SECONDS.env}: {error}") from None
        object.__setattr__(self, "_plan", plan)

    @property
    def plan(self) -> ResponsePlan:
        found: ResponsePlan = object.__getattribute__(self, "_plan")
        return found


@config.settings
class Api(Planning, config.GrpcSettings, config.KafkaSettings, config.DatabaseSettings):
    """`sotong-alerting-api`."""

    alerting_cap_sender: str = config.env(CAP_SENDER)
    alerting_feed_url: str = config.env(FEED_URL)
    alerting_cap_senders: SenderBindings = config.env(CAP_SENDERS)
    alerting_solo_drill_approvers: frozenset[str] = config.env(SOLO_DRILL_APPROVERS)


@config.settings
class Worker(Planning, config.WorkerSettings):
    """`sotong-alerting-worker`."""

    alerting_grouping_window_seconds: float = config.env(GROUPING_WINDOW)


SCHEMA = "alerting"
MIGRATIONS = "sotong_alerting.migrations"
