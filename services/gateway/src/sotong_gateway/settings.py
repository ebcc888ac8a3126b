"""The gateway's configuration: where the services are, which browser origins may call, and the edge's limits.

Tokens are verified exactly as every service verifies them (`config.GrpcSettings`: an HS256 secret locally, a
JWKS of public keys in production), so a token the gateway accepts is one the services accept too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sotong_common import config


def parse_target(raw: str) -> str:
    """A gRPC target `host:port` (a Kubernetes Service name resolves through DNS)."""
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port")
    return raw.strip()


def parse_origins(raw: str) -> frozenset[str]:
    """Exact browser origins, `scheme://host[:port]`, comma-separated; no wildcards (a token is a credential)."""
    found: set[str] = set()
    for item in raw.split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query:
            raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
        if "*" in origin:
            raise ValueError("wildcards are not accepted: list each origin")
        found.add(origin.lower())
    return frozenset(found)


def parse_rate(raw: str) -> tuple[float, int]:
    """`R/s` or `R/s:B`: R calls per second on average, bursts of B (default: one second's worth)."""
    rate_text, _, burst_text = raw.strip().partition(":")
    rate_text = rate_text.removesuffix("/s")
    rate = float(rate_text)
    burst = int(burst_text) if burst_text else max(1, round(rate))
    if not rate > 0 or burst < 1:
        raise ValueError("must be R/s or R/s:B with R > 0 and B >= 1")
    return rate, burst


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


HTTP_PORT: config.Setting[int] = config.Setting(
    "HTTP_PORT", config.parse_port, default=8080, help="Connect and gRPC-Web (HTTP/1.1) port of the gateway"
)
INTAKE: config.Setting[str] = config.Setting(
    "GATEWAY_INTAKE_TARGET", parse_target, required=True, help="intake-api gRPC address, host:port"
)
ALERTING: config.Setting[str] = config.Setting(
    "GATEWAY_ALERTING_TARGET", parse_target, required=True, help="alerting-api gRPC address, host:port"
)
MODERATION: config.Setting[str] = config.Setting(
    "GATEWAY_MODERATION_TARGET", parse_target, required=True, help="moderation-api gRPC address, host:port"
)
ORIGINS: config.Setting[frozenset[str]] = config.Setting(
    "GATEWAY_ALLOWED_ORIGINS",
    parse_origins,
    default=frozenset(),
    help="browser origins allowed to call (CORS), comma-separated scheme://host[:port] (empty: no browser)",
)
CLIENT_RATE: config.Setting[tuple[float, int]] = config.Setting(
    "GATEWAY_CLIENT_RATE",
    parse_rate,
    default=(200.0, 400),
    help="calls per client address per gateway replica, R/s[:burst]",
)
CITIZEN_RATE: config.Setting[tuple[float, int]] = config.Setting(
    "GATEWAY_CITIZEN_RATE",
    parse_rate,
    default=(5.0, 20),
    help="calls per citizen (token subject with the citizen role) per gateway replica, R/s[:burst]",
)
MAX_STREAMS: config.Setting[int] = config.Setting(
    "GATEWAY_MAX_STREAMS_PER_CALLER",
    config.parse_positive_int,
    default=8,
    help="server streams (WatchSubmission, WatchIncident, ...) one caller may hold open per gateway replica",
)
MAX_REQUEST_BYTES: config.Setting[int] = config.Setting(
    "GATEWAY_MAX_REQUEST_BYTES",
    config.parse_positive_int,
    default=64 * 1024,
    help="largest request body or message accepted, in bytes (IngestCap's CAP documents fit)",
)
DEFAULT_TIMEOUT_S: config.Setting[float] = config.Setting(
    "GATEWAY_DEFAULT_TIMEOUT_S",
    _positive_float,
    default=10.0,
    help="deadline of a unary call whose caller set none (a caller's own deadline is passed on as it is)",
)
MAX_TIMEOUT_S: config.Setting[float] = config.Setting(
    "GATEWAY_MAX_TIMEOUT_S",
    _positive_float,
    default=30.0,
    help="longest deadline a unary call may ask for (streams: GATEWAY_MAX_STREAM_S)",
)
MAX_STREAM_S: config.Setting[float] = config.Setting(
    "GATEWAY_MAX_STREAM_S",
    _positive_float,
    default=3600.0,
    help="longest a server stream stays open; the client reconnects after it",
)
TRUSTED_PROXIES: config.Setting[int] = config.Setting(
    "GATEWAY_TRUSTED_PROXY_HOPS",
    _non_negative_int,
    default=0,
    help="proxies in front of the gateway that append to X-Forwarded-For (0: the peer address is the client)",
)


@config.settings
class Gateway(config.GrpcSettings):
    """`sotong-gateway`: native gRPC on GRPC_PORT, Connect and gRPC-Web on HTTP_PORT, metrics on METRICS_PORT."""

    http_port: int = config.env(HTTP_PORT)
    gateway_intake_target: str = config.env(INTAKE)
    gateway_alerting_target: str = config.env(ALERTING)
    gateway_moderation_target: str = config.env(MODERATION)
    gateway_allowed_origins: frozenset[str] = config.env(ORIGINS)
    gateway_client_rate: tuple[float, int] = config.env(CLIENT_RATE)
    gateway_citizen_rate: tuple[float, int] = config.env(CITIZEN_RATE)
    gateway_max_streams_per_caller: int = config.env(MAX_STREAMS)
    gateway_max_request_bytes: int = config.env(MAX_REQUEST_BYTES)
    gateway_default_timeout_s: float = config.env(DEFAULT_TIMEOUT_S)
    gateway_max_timeout_s: float = config.env(MAX_TIMEOUT_S)
    gateway_max_stream_s: float = config.env(MAX_STREAM_S)
    gateway_trusted_proxy_hops: int = config.env(TRUSTED_PROXIES)
