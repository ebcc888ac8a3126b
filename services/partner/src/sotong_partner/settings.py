"""The partner service's configuration: the platform's shared settings plus its keys, URLs and partners."""

from __future__ import annotations

from sotong_common import at_rest, config
from sotong_common.webhooks import parse_secret
from sotong_partner.feeds import PLATFORMS as FEED_PLATFORMS


def _key_ring(raw: str) -> at_rest.KeyRing:
    return at_rest.KeyRing.from_config(raw)


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    for name in names:
        if not name.replace("-", "").replace("_", "").isalnum() or not name.isascii() or len(name) > 40:
            raise ValueError(f"{name[:40]!r} is not a name of letters, digits, - and _")
    return names


def _hosts(raw: str) -> tuple[str, ...]:
    hosts = tuple(dict.fromkeys(h.strip().lower() for h in raw.split(",") if h.strip()))
    for host in hosts:
        if not host.replace("-", "").replace(".", "").replace(":", "").isalnum() or not host.isascii():
            raise ValueError(f"{host[:40]!r} is not a host name or address")
    return hosts


def _url(raw: str) -> str:
    if not raw.startswith(("https://", "http://")) or " " in raw:
        raise ValueError("must be an absolute http(s) URL")
    return raw.rstrip("/")


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _gzip_level(raw: str) -> int:
    level = int(raw)
    if not 0 <= level <= 9:
        raise ValueError("must be 0 (never compress) to 9")
    return level


def _address(raw: str) -> str:
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("must be host:port")
    return raw


def parse_webhook_secrets(raw: str) -> dict[str, list[str]]:
    """`source=whsec_new whsec_old;source2=whsec_…`: each partner platform's active secrets."""
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
            parse_secret(key)
        found[source] = keys
    return found


DATA_KEYS: config.Setting[at_rest.KeyRing] = config.Setting(
    "PARTNER_DATA_KEYS",
    _key_ring,
    required=True,
    help="key ring sealing contact persons and webhook secrets at rest, id:base64key[,id:base64key], newest first",
    secret=True,
)
PUBLIC_URL: config.Setting[str] = config.Setting(
    "PARTNER_PUBLIC_URL",
    _url,
    default="http://127.0.0.1:8081",
    help="the base URL of sotong-partner-http as platforms and citizens reach it (homepages, feed URLs, QR codes)",
)
STREETS: config.Setting[str] = config.Setting(
    "PARTNER_STREETS", str, default="", help="market streets file (YAML); unset = the packaged one"
)
PLATFORMS: config.Setting[tuple[str, ...]] = config.Setting(
    "PARTNER_PLATFORMS",
    _names,
    default=(),
    help="partner platforms merchants may consent to besides the feeds' (naver_shopping, google_merchant)",
)
HTTP_PORT: config.Setting[int] = config.Setting(
    "HTTP_PORT", config.parse_port, default=8081, help="HTTP port of sotong-partner-http (0 = any free)"
)
WEBHOOK_SECRETS: config.Setting[dict[str, list[str]]] = config.Setting(
    "PARTNER_WEBHOOK_SECRETS",
    parse_webhook_secrets,
    default={},
    help="Standard Webhooks secrets of partner platforms pushing catalogues: platform=whsec_…[ whsec_old];…",
    secret=True,
)
WEBHOOK_TOLERANCE_S: config.Setting[int] = config.Setting(
    "PARTNER_WEBHOOK_TOLERANCE_S", config.parse_positive_int, default=300, help="webhook timestamp tolerance (s)"
)
EP_GZIP_LEVEL: config.Setting[int] = config.Setting(
    "PARTNER_EP_GZIP_LEVEL", _gzip_level, default=1, help="gzip level of feeds for platforms that accept gzip (0 = off)"
)
MODERATION_ADDR: config.Setting[str] = config.Setting(
    "PARTNER_MODERATION_ADDR",
    _address,
    default="moderation-api:50051",
    help="host:port of sotong-moderation-api (CheckText for campaign texts)",
)
CAMPAIGN_SNS_ACCOUNTS: config.Setting[tuple[str, ...]] = config.Setting(
    "PARTNER_CAMPAIGN_SNS_ACCOUNTS",
    _names,
    default=("seoul", "seoul_x"),
    help="the city's SNS accounts every street campaign is posted to (the street's own come from the streets file)",
)
OUTBOUND_SCALE: config.Setting[float] = config.Setting(
    "PARTNER_WEBHOOK_SCHEDULE_SCALE",
    _positive_float,
    default=1.0,
    help="multiplies the Standard Webhooks retry schedule (tests shrink it; 1 in production)",
)
INSECURE_HOSTS: config.Setting[tuple[str, ...]] = config.Setting(
    "PARTNER_WEBHOOK_INSECURE_HOSTS",
    _hosts,
    default=(),
    help="hosts outbound webhooks may reach over plain http (the local stack's loopback); https everywhere else",
)
OUTBOUND_TIMEOUT_S: config.Setting[float] = config.Setting(
    "PARTNER_WEBHOOK_TIMEOUT_S", _positive_float, default=15.0, help="outbound webhook request timeout (s)"
)


@config.settings
class Partner(config.ProcessSettings):
    """What every partner process shares."""

    partner_public_url: str = config.env(PUBLIC_URL)
    partner_streets: str = config.env(STREETS)
    partner_platforms: tuple[str, ...] = config.env(PLATFORMS)

    @property
    def platforms(self) -> tuple[str, ...]:
        """Every platform a merchant can consent to: the feeds' and the configured partner platforms."""
        return tuple(dict.fromkeys((*FEED_PLATFORMS, *self.partner_platforms)))


@config.settings
class Api(Partner, config.GrpcSettings, config.KafkaSettings, config.DatabaseSettings):
    """`sotong-partner-api`."""

    partner_data_keys: at_rest.KeyRing = config.env(DATA_KEYS)
    partner_moderation_addr: str = config.env(MODERATION_ADDR)
    partner_campaign_sns_accounts: tuple[str, ...] = config.env(CAMPAIGN_SNS_ACCOUNTS)
    partner_webhook_insecure_hosts: tuple[str, ...] = config.env(INSECURE_HOSTS)


@config.settings
class Http(Partner, config.DatabaseSettings):
    """`sotong-partner-http`: feeds, homepages and the catalogue webhook."""

    http_port: int = config.env(HTTP_PORT)
    partner_webhook_secrets: dict[str, list[str]] = config.env(WEBHOOK_SECRETS)
    partner_webhook_tolerance_s: int = config.env(WEBHOOK_TOLERANCE_S)
    partner_ep_gzip_level: int = config.env(EP_GZIP_LEVEL)


@config.settings
class Worker(Partner, config.WorkerSettings):
    """`sotong-partner-worker`: outbound webhooks, campaign checks and receipts."""

    partner_data_keys: at_rest.KeyRing = config.env(DATA_KEYS)
    jwt_secret: str = config.env(config.JWT_SECRET)
    partner_moderation_addr: str = config.env(MODERATION_ADDR)
    partner_campaign_sns_accounts: tuple[str, ...] = config.env(CAMPAIGN_SNS_ACCOUNTS)
    partner_webhook_schedule_scale: float = config.env(OUTBOUND_SCALE)
    partner_webhook_timeout_s: float = config.env(OUTBOUND_TIMEOUT_S)


@config.settings
class Cli(config.Settings):
    """`sotong-partner webhooks replay`: a short command, no metrics port or tracing."""

    database_url: str = config.env(config.DATABASE_URL)
    log_level: str = config.env(config.LOG_LEVEL)


SCHEMA = "partner"
MIGRATIONS = "sotong_partner.migrations"
