"""Environment configuration, validated once at start.

A process that starts with a bad or missing value should stop at once with one line naming the variable,
instead of failing later in a way that points somewhere else (DESIGN.md, "Conventions").
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, Self, TypeVar, cast

from sotong_common.sealing import Sealer

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


class Settings:
    """A process's settings as a frozen, typed object: one field per variable, read once at start.

    Subclasses are frozen dataclasses (`@settings`) whose fields are declared with `env(SETTING)`; mypy sees each
    field's type, so a mistyped setting is a type error rather than a KeyError at run time. Shared groups
    (`ProcessSettings`, `KafkaSettings`, ...) are mixed in by inheritance.
    """

    @classmethod
    def variables(cls) -> list[Setting[Any]]:
        """The settings behind this class's fields, in declaration order (for `--help` and docs)."""
        return [f.metadata[_SETTING] for f in dataclasses.fields(cls) if _SETTING in f.metadata]  # type: ignore[arg-type]

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Read and parse every field's variable; raise ConfigError naming the first bad one.

        `overrides` replace parsed values by field name (a command-line flag that wins over its variable).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            setting: Setting[Any] | None = f.metadata.get(_SETTING)
            if setting is None or f.name in overrides:
                continue
            values[f.name] = _read(setting, env)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def load_or_exit(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """`load`, but a bad value prints one line to stderr and exits 2, as a process at start should."""
        try:
            return cls.load(environ, **overrides)
        except ConfigError as exc:
            _exit(str(exc))

    @classmethod
    def describe(cls) -> str:
        """One line per variable (name, default, help): the epilog of a process's `--help`."""
        lines = ["environment:"]
        for setting in cls.variables():
            if setting.required:
                default = "required"
            elif setting.secret or setting.default in (None, "", {}, (), frozenset()):
                default = "unset"
            else:
                default = f"default {_shown(setting.default)}"
            lines.append(f"  {setting.env:<40} {setting.help} ({default})")
        return "\n".join(lines)


_SETTING = "sotong_setting"


def env(setting: Setting[T]) -> T:
    """A settings field read from `setting`'s variable, defaulting to the setting's default.

    The return type is the field's type for mypy; at run time it is the dataclass field carrying the setting.
    """
    metadata = {_SETTING: setting}
    if setting.required:
        return cast(T, dataclasses.field(metadata=metadata))
    default = setting.default
    if isinstance(default, dict | list | set):
        return cast(T, dataclasses.field(default_factory=lambda: copy.copy(default), metadata=metadata))
    return cast(T, dataclasses.field(default=default, metadata=metadata))


settings = dataclasses.dataclass(frozen=True, kw_only=True)
"""The decorator every settings class takes: a frozen, keyword-only dataclass."""


def _read(setting: Setting[Any], env: Mapping[str, str]) -> Any:
    raw = env.get(setting.env)
    if raw is None or raw == "":
        if setting.required:
            raise ConfigError(f"{setting.env} is required: {setting.help}".rstrip(": "))
        return copy.copy(setting.default)
    try:
        return setting.parse(raw)
    except (ValueError, TypeError) as exc:
        shown = "<secret>" if setting.secret else repr(raw)
        raise ConfigError(f"{setting.env}={shown} is invalid: {exc}") from None


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list | frozenset | set):
        return ",".join(str(v) for v in value)
    return str(value)


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
JWT_SECRET: Setting[str] = Setting(
    "JWT_SECRET", str, default="", help="HS256 key for bearer tokens (local development)", secret=True
)
OTEL_EXPORTER: Setting[str] = Setting(
    "OTEL_EXPORTER", parse_choice("none", "otlp", "file"), default="none", help="where spans go"
)
OTEL_FILE: Setting[str] = Setting("OTEL_FILE", str, default="", help="JSON-lines span file when OTEL_EXPORTER=file")
OTEL_ENDPOINT: Setting[str] = Setting(
    "OTEL_ENDPOINT", str, default="", help="OTLP gRPC endpoint when OTEL_EXPORTER=otlp"
)
SEAL_PUBLIC_KEYS: Setting[Sealer | None] = Setting(
    "PUBLISHING_SEAL_PUBLIC_KEYS",
    lambda raw: Sealer.from_config(raw),
    default=None,
    help="the publishing service's public keys, id:base64[,...] newest first, to seal citizens' contacts for replies"
    " (unset: no replies to citizens)",
)
TOPIC_REPLICATION: Setting[int] = Setting(
    "TOPIC_REPLICATION", parse_positive_int, default=1, help="replication factor for topics a process creates"
)


# Token verification (sotong_common.auth.TokenVerifier) and reflection.
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


@settings
class ProcessSettings(Settings):
    """What every process reads: where it listens, how it logs, and where its spans and metrics go."""

    listen_host: str = env(LISTEN_HOST)
    log_level: str = env(LOG_LEVEL)
    metrics_port: int = env(METRICS_PORT)
    otel_exporter: str = env(OTEL_EXPORTER)
    otel_file: str = env(OTEL_FILE)
    otel_endpoint: str = env(OTEL_ENDPOINT)


@settings
class KafkaSettings(ProcessSettings):
    """A process that produces or consumes events."""

    kafka_bootstrap: str = env(KAFKA_BOOTSTRAP)


@settings
class DatabaseSettings(ProcessSettings):
    """A process that keeps state in its service's PostgreSQL schema."""

    database_url: str = env(DATABASE_URL)


@settings
class GrpcSettings(ProcessSettings):
    """A gRPC API process: its port and how it verifies callers' tokens (`auth.TokenVerifier.from_settings`).

    Production sets `jwt_jwks` (verification-only public keys); local development one HS256 secret. One of the
    two is required.
    """

    grpc_port: int = env(GRPC_PORT)
    jwt_secret: str = env(JWT_SECRET)
    jwt_jwks: str = env(JWT_JWKS)
    jwt_issuer: str = env(JWT_ISSUER)
    jwt_audience: str = env(JWT_AUDIENCE)
    grpc_reflection_open: bool = env(GRPC_REFLECTION_OPEN)

    def __post_init__(self) -> None:
        if not self.jwt_secret and not self.jwt_jwks:
            raise ConfigError(f"{JWT_SECRET.env} is required unless {JWT_JWKS.env} is set: {JWT_SECRET.help}")


@settings
class WorkerSettings(KafkaSettings, DatabaseSettings):
    """A stream worker: reads and writes Kafka, keeps state in PostgreSQL, may create topics."""

    topic_replication: int = env(TOPIC_REPLICATION)
