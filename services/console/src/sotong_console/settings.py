"""The console's configuration: where the gateway is, how people sign in, and the keys of their sessions.

The console holds no data of its own and no service's credentials: every call goes to the gateway with the
signed-in person's own token, so the gateway and the services judge each call as they would judge that person.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import urlsplit

from sotong_common import auth, config

ROLES_SHOWN = ("operator", "approver", "moderator", "dept_admin", "admin")
"""The staff roles that may sign in to the console (citizens, partners and services have their own doors)."""


@dataclass(frozen=True)
class DevUser:
    """A local sign-in: a subject and the roles its token carries (development and tests only)."""

    subject: str
    roles: frozenset[str]


def parse_target(raw: str) -> str:
    """A gRPC target `host:port` (a Kubernetes Service name resolves through DNS)."""
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port")
    return raw.strip()


def parse_session_keys(raw: str) -> tuple[tuple[str, bytes], ...]:
    """`id:base64[,id:base64]`, newest first: 32-byte AES-256-GCM keys; the first seals, all open (rotation)."""
    keys = []
    for item in raw.split(","):
        key_id, sep, encoded = item.strip().partition(":")
        if not sep or not key_id or len(key_id) > 16 or not key_id.isalnum():
            raise ValueError("must be id:base64key[,id:base64key] with short alphanumeric ids")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"key {key_id} is not base64") from None
        if len(key) != 32:
            raise ValueError(f"key {key_id} must be 32 bytes (AES-256), not {len(key)}")
        keys.append((key_id, key))
    if not keys:
        raise ValueError("at least one key is needed")
    return tuple(keys)


def parse_dev_users(raw: str) -> tuple[DevUser, ...]:
    """`subject=role+role,subject=role`: who may sign in locally and with which roles."""
    users = []
    for item in raw.split(","):
        if not item.strip():
            continue
        subject, sep, roles_text = item.strip().partition("=")
        roles = frozenset(r for r in roles_text.split("+") if r)
        if not sep or not roles:
            raise ValueError(f"{item.strip()!r} is not subject=role[+role]")
        problem = auth.subject_problem(subject)
        if problem is not None:
            raise ValueError(f"{subject!r}: {problem}")
        unknown = sorted(roles - set(ROLES_SHOWN))
        if unknown:
            raise ValueError(
                f"{subject}: roles {unknown} cannot sign in to the console (one of {', '.join(ROLES_SHOWN)})"
            )
        users.append(DevUser(subject, roles))
    return tuple(users)


def parse_public_url(raw: str) -> str:
    """The console's own origin as browsers see it, `scheme://host[:port]` (CSRF origin check, OIDC redirect)."""
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query:
        raise ValueError("must be scheme://host[:port]")
    return url


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


HTTP_PORT: config.Setting[int] = config.Setting("HTTP_PORT", config.parse_port, default=8080, help="console HTTP port")
GATEWAY: config.Setting[str] = config.Setting(
    "CONSOLE_GATEWAY_TARGET", parse_target, required=True, help="the gateway's native gRPC address, host:port"
)
SESSION_KEYS: config.Setting[tuple[tuple[str, bytes], ...]] = config.Setting(
    "CONSOLE_SESSION_KEYS",
    parse_session_keys,
    required=True,
    secret=True,
    help="AES-256-GCM keys sealing the session cookies, id:base64[,id:base64] newest first",
)
PUBLIC_URL: config.Setting[str] = config.Setting(
    "CONSOLE_PUBLIC_URL",
    parse_public_url,
    default="",
    help="the console's origin as browsers reach it (empty: the request's own Host; set it behind a proxy)",
)
SECURE_COOKIES: config.Setting[bool] = config.Setting(
    "CONSOLE_SECURE_COOKIES",
    config.parse_bool,
    default=True,
    help="mark cookies Secure with the __Host- prefix (HTTPS); false only for plain-HTTP local development",
)
DEV_USERS: config.Setting[tuple[DevUser, ...]] = config.Setting(
    "CONSOLE_DEV_USERS",
    parse_dev_users,
    default=(),
    help="local sign-ins, subject=role[+role],...; needs JWT_SECRET and is refused with JWT_JWKS (production)",
)
DEV_PASSWORD: config.Setting[str] = config.Setting(
    "CONSOLE_DEV_PASSWORD", str, default="", secret=True, help="the password of every local sign-in"
)
OIDC_ISSUER: config.Setting[str] = config.Setting(
    "CONSOLE_OIDC_ISSUER",
    str,
    default="",
    help="OpenID Connect issuer URL (production sign-in; its discovery document is read at start)",
)
OIDC_CLIENT_ID: config.Setting[str] = config.Setting(
    "CONSOLE_OIDC_CLIENT_ID", str, default="", help="the console's client id at the identity provider"
)
OIDC_CLIENT_SECRET: config.Setting[str] = config.Setting(
    "CONSOLE_OIDC_CLIENT_SECRET", str, default="", secret=True, help="the console's client secret (confidential)"
)
OIDC_SCOPES: config.Setting[str] = config.Setting(
    "CONSOLE_OIDC_SCOPES", str, default="openid profile", help="scopes asked for at sign-in"
)
REFRESH_S: config.Setting[float] = config.Setting(
    "CONSOLE_REFRESH_S",
    _positive_float,
    default=2.0,
    help="how often an open page's live counts (deliveries, what is waiting, open incidents) are read again",
)
CALL_TIMEOUT_S: config.Setting[float] = config.Setting(
    "CONSOLE_CALL_TIMEOUT_S", _positive_float, default=10.0, help="deadline of each call to the gateway"
)


@config.settings
class Console(config.ProcessSettings):
    """`sotong-console-web`: pages and live streams on HTTP_PORT, metrics on METRICS_PORT."""

    http_port: int = config.env(HTTP_PORT)
    console_gateway_target: str = config.env(GATEWAY)
    console_session_keys: tuple[tuple[str, bytes], ...] = config.env(SESSION_KEYS)
    console_public_url: str = config.env(PUBLIC_URL)
    console_secure_cookies: bool = config.env(SECURE_COOKIES)
    console_dev_users: tuple[DevUser, ...] = config.env(DEV_USERS)
    console_dev_password: str = config.env(DEV_PASSWORD)
    console_oidc_issuer: str = config.env(OIDC_ISSUER)
    console_oidc_client_id: str = config.env(OIDC_CLIENT_ID)
    console_oidc_client_secret: str = config.env(OIDC_CLIENT_SECRET)
    console_oidc_scopes: str = config.env(OIDC_SCOPES)
    console_refresh_s: float = config.env(REFRESH_S)
    console_call_timeout_s: float = config.env(CALL_TIMEOUT_S)
    # Tokens are verified as the gateway verifies them (a token the console accepts is one the gateway accepts).
    jwt_secret: str = config.env(config.JWT_SECRET)
    jwt_jwks: str = config.env(config.JWT_JWKS)
    jwt_issuer: str = config.env(config.JWT_ISSUER)
    jwt_audience: str = config.env(config.JWT_AUDIENCE)

    def __post_init__(self) -> None:
        if not self.jwt_secret and not self.jwt_jwks:
            raise config.ConfigError(f"{config.JWT_SECRET.env} or {config.JWT_JWKS.env} is required")
        if self.console_dev_users:
            if self.jwt_jwks:
                raise config.ConfigError(
                    f"{DEV_USERS.env} is for local development: with {config.JWT_JWKS.env} (production keys) people "
                    "sign in through OIDC"
                )
            if len(self.console_dev_password) < 8:
                raise config.ConfigError(f"{DEV_PASSWORD.env} must be at least 8 characters with {DEV_USERS.env}")
        oidc = (self.console_oidc_issuer, self.console_oidc_client_id)
        if any(oidc) and not all(oidc):
            raise config.ConfigError(f"{OIDC_ISSUER.env} and {OIDC_CLIENT_ID.env} go together")
        if self.console_oidc_issuer and not self.console_public_url:
            raise config.ConfigError(f"{PUBLIC_URL.env} is required with OIDC (the redirect URL is built from it)")
        if not self.console_dev_users and not self.console_oidc_issuer:
            raise config.ConfigError(f"nobody can sign in: set {OIDC_ISSUER.env} (production) or {DEV_USERS.env}")
