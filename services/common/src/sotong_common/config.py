"""Environment configuration, validated once at start.

A process that starts with a bad or missing value should stop at once with one line naming the variable,
instead of failing later in a way that points somewhere else (DESIGN.md, "Conventions").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

T = TypeVar("T")

PREFIX = "SOTONG_"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: its name without the prefix, how to parse it, and its default."""

    name: str
    parse: Callable[[str], T]
    default: T | None = None
    required: bool = False
    help: str = ""
    secret: bool = False

    @property
    def env(self) -> str:
        return PREFIX + self.name


def parse_port(raw: str) -> int:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError("must be a TCP port 0..65535")
    return port


def parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return raw

    return parse


def parse_bootstrap(raw: str) -> str:
    hosts = [h.strip() for h in raw.split(",") if h.strip()]
    if not hosts:
        raise ValueError("must list at least one host:port")
    for host in hosts:
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"{host!r} is not host:port")
    return ",".join(hosts)


def parse_database_url(raw: str) -> str:
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL")
    return raw


def load(settings: list[Setting[Any]], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read and parse every setting; raise ConfigError naming the first bad variable."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in settings:
        raw = env.get(setting.env)
        if raw is None or raw == "":
            if setting.required:
                raise ConfigError(f"{setting.env} is required: {setting.help}".rstrip(": "))
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except (ValueError, TypeError) as exc:
            shown = "<secret>" if setting.secret else repr(raw)
            raise ConfigError(f"{setting.env}={shown} is invalid: {exc}") from None
    return values


def load_or_exit(settings: list[Setting[Any]], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`load`, but a bad value prints one line to stderr and exits 2, as a process at start should."""
    try:
        return load(settings, environ)
    except ConfigError as exc:
        _exit(str(exc))


def _exit(message: str) -> NoReturn:
    print(f"configuration error: {message}", file=sys.stderr)
    raise SystemExit(2)


# Settings every service process shares. Services add their own beside these.
KAFKA_BOOTSTRAP: Setting[str] = Setting(
    "KAFKA_BOOTSTRAP", parse_bootstrap, required=True, help="Kafka bootstrap servers, host:port[,host:port]"
)
DATABASE_URL: Setting[str] = Setting(
    "DATABASE_URL", parse_database_url, required=True, help="postgresql:// URL of the service's database", secret=True
)
GRPC_PORT: Setting[int] = Setting("GRPC_PORT", parse_port, default=50051, help="gRPC listen port (0 = any free)")
METRICS_PORT: Setting[int] = Setting(
    "METRICS_PORT", parse_port, default=9464, help="Prometheus metrics port (0 = any free)"
)
LISTEN_HOST: Setting[str] = Setting(
    "LISTEN_HOST", str, default="127.0.0.1", help="address the gRPC and metrics servers bind (0.0.0.0 in a pod)"
)
LOG_LEVEL: Setting[str] = Setting(
    "LOG_LEVEL", parse_choice("debug", "info", "warning", "error"), default="info", help="log level"
)
JWT_SECRET: Setting[str] = Setting("JWT_SECRET", str, required=True, help="HS256 key for bearer tokens", secret=True)
OTEL_EXPORTER: Setting[str] = Setting(
    "OTEL_EXPORTER", parse_choice("none", "otlp", "file"), default="none", help="where spans go"
)
OTEL_FILE: Setting[str] = Setting("OTEL_FILE", str, default="", help="JSON-lines span file when OTEL_EXPORTER=file")
OTEL_ENDPOINT: Setting[str] = Setting(
    "OTEL_ENDPOINT", str, default="", help="OTLP gRPC endpoint when OTEL_EXPORTER=otlp"
)
TOPIC_REPLICATION: Setting[int] = Setting(
    "TOPIC_REPLICATION", parse_positive_int, default=1, help="replication factor for topics a process creates"
)

COMMON: list[Setting[Any]] = [LISTEN_HOST, LOG_LEVEL, OTEL_EXPORTER, OTEL_FILE, OTEL_ENDPOINT]

# Token verification (sotong_common.auth.TokenVerifier.from_settings) and reflection. Appended by the security
# work (issue 10 items 7 and 8); JWT_SECRET above stays required until the platform settings make it optional
# when JWT_JWKS is set.
JWT_JWKS: Setting[str] = Setting(
    "JWT_JWKS",
    str,
    default="",
    help="file path or https URL of a JWKS with the RS256/EdDSA public keys that verify tokens; when set, "
    "HS256 tokens (JWT_SECRET) are refused",
)
JWT_ISSUER: Setting[str] = Setting("JWT_ISSUER", str, default="sotong", help="the `iss` every token must carry")
JWT_AUDIENCE: Setting[str] = Setting(
    "JWT_AUDIENCE", str, default="", help="the `aud` tokens must carry for this service (empty: not checked)"
)
GRPC_REFLECTION_OPEN: Setting[bool] = Setting(
    "GRPC_REFLECTION_OPEN",
    parse_bool,
    default=False,
    help="answer gRPC reflection without a token (local development only; production needs a token)",
)
AUTH: list[Setting[Any]] = [JWT_JWKS, JWT_ISSUER, JWT_AUDIENCE, GRPC_REFLECTION_OPEN]
