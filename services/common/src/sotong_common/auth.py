"""Bearer JWT with roles, checked per method by a gRPC interceptor.

Roles are the ones DESIGN.md names: citizen, operator, moderator, approver, dept_admin, partner, admin. Each
service declares which roles may call which method; a method not declared is refused, so forgetting to declare a
new method fails closed. `admin` may call everything. Health and reflection are open.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import jwt

ROLES = frozenset({"citizen", "operator", "moderator", "approver", "dept_admin", "partner", "admin", "service"})
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.")
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]


class AuthError(Exception):
    def __init__(self, message: str, *, permission: bool = False) -> None:
        super().__init__(message)
        self.permission = permission


def issue(secret: str, subject: str, roles: Iterable[str], ttl_s: int = 3600, issuer: str = "sotong") -> str:
    """Mint a token (for local runs, tests and service-to-service calls)."""
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    now = int(time.time())
    claims = {"sub": subject, "roles": sorted(set(roles)), "iat": now, "exp": now + ttl_s, "iss": issuer}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str) -> Principal:
    return _verify(secret, token)[0]


def _verify(secret: str, token: str) -> tuple[Principal, float]:
    """The token's principal and its `exp` claim (seconds since the epoch)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    roles = claims.get("roles", [])
    if not isinstance(roles, list):
        raise AuthError("invalid token: roles must be a list")
    return Principal(subject=str(claims["sub"]), roles=frozenset(str(r) for r in roles)), float(claims["exp"])


class VerifiedTokens:
    """`verify` for one secret, remembering tokens it already verified until they expire.

    A client sends the same bearer token on every call, and checking its HMAC and claims costs a large share of a
    small RPC. Only tokens that verified under this cache's secret are remembered (a failure is never cached, so
    a token signed with another key is checked, and refused, every time), and a remembered token is answered from
    the cache only while its `exp` lies in the future; after that it goes through `verify` again, which refuses
    it exactly as before. The size bound keeps a flood of distinct tokens from growing memory.
    """

    def __init__(self, secret: str, max_size: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._max = max_size
        self._clock = clock
        self._known: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def verify(self, token: str) -> Principal:
        known = self._known.get(token)
        if known is not None:
            if self._clock() < known[1]:
                self._known.move_to_end(token)
                return known[0]
            del self._known[token]
        found = _verify(self._secret, token)
        self._known[token] = found
        if len(self._known) > self._max:
            self._known.popitem(last=False)
        return found[0]

    def __len__(self) -> int:
        return len(self._known)


class Policy:
    """Which roles may call which full method name (`/pkg.Service/Method`)."""

    def __init__(self, rules: Mapping[str, Iterable[str]]) -> None:
        self._rules = {method: frozenset(roles) for method, roles in rules.items()}

    def check(self, method: str, principal: Principal | None) -> None:
        if method.startswith(OPEN_PREFIXES):
            return
        if principal is None:
            raise AuthError("missing bearer token")
        if "admin" in principal.roles:
            return
        allowed = self._rules.get(method)
        if allowed is None:
            raise AuthError(f"{method} is not open to any role", permission=True)
        if not principal.roles & allowed:
            raise AuthError(f"{method} needs one of the roles {sorted(allowed)}", permission=True)

    def requires_auth(self, method: str) -> bool:
        return not method.startswith(OPEN_PREFIXES)


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or []:
        if key == "authorization":
            text = value if isinstance(value, str) else value.decode()
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    return None
