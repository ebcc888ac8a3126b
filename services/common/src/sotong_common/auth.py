"""Bearer JWT with roles, checked per method by a gRPC interceptor, and the verifier every API (and the gateway) uses.

Roles are the ones DESIGN.md names: citizen, operator, moderator, approver, dept_admin, partner, admin. Each
service declares which roles may call which method; a method not declared is refused, so forgetting to declare a
new method fails closed. `admin` may call everything. Health is open; reflection needs a token unless a server is
told otherwise (local development).

Tokens are verified by a `TokenVerifier`:
- in production with **verification-only keys** (RS256 or EdDSA public keys from a JWKS file or URL): a service
  that holds only public keys cannot mint a token, so one compromised service cannot make itself an approver. A
  JWKS that carries a private or a symmetric key is refused at start;
- in local development with one shared HS256 secret (`TokenVerifier.shared_secret`, `issue`).
Either way `iss` must be the configured issuer, `aud` the configured audience when one is set, `exp` in the
future, and `sub` a **canonical subject id**: the two-person rule and every audit entry compare subjects as
strings, so "Alice", "alice ", "ALICE" or "alice" + U+200B must never stand for a person other than "alice".
A token whose subject is not in canonical form (NFKC-normalized, case-folded, without whitespace, control,
format or other invisible characters) is refused rather than silently canonicalized: an identity provider that
issues such subjects is misconfigured, and guessing which person was meant is how the rule breaks.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import unicodedata
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt

ROLES = frozenset({"citizen", "operator", "moderator", "approver", "dept_admin", "partner", "admin", "service"})
HEALTH_PREFIXES = ("/grpc.health.v1.Health/",)
REFLECTION_PREFIXES = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.")
OPEN_PREFIXES = HEALTH_PREFIXES
ALGORITHM = "HS256"
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "EdDSA"})
DEFAULT_ISSUER = "sotong"
MAX_SUBJECT_CHARS = 256
NO_VERIFICATION = "none"
MAX_VERIFICATION_CHARS = 32
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


class VerifierSettings(Protocol):
    """The settings a verifier is built from (`config.GrpcSettings` has them)."""

    @property
    def jwt_secret(self) -> str: ...

    @property
    def jwt_jwks(self) -> str: ...

    @property
    def jwt_issuer(self) -> str: ...

    @property
    def jwt_audience(self) -> str: ...


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    # How far the identity provider verified the person (the token's `verification` claim, e.g. "phone",
    # "identity", "resident"); "none" when the token says nothing. Services decide which level they need
    # (community: supports and poll responses), so the level is carried as the IdP states it.
    verification: str = "none"


class AuthError(Exception):
    def __init__(self, message: str, *, permission: bool = False) -> None:
        super().__init__(message)
        self.permission = permission


# --- subjects -----------------------------------------------------------------------------------------------------


def canonical_subject(subject: str) -> str:
    """The canonical form of a subject id: NFKC, case-folded, without whitespace or invisible characters.

    Used to compare ids that were stored before tokens were checked for canonical subjects; new tokens must
    already carry the canonical form (`subject_problem`).
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", subject).casefold())
    return "".join(ch for ch in folded if unicodedata.category(ch) not in _INVISIBLE and not ch.isspace())


def subject_problem(subject: str) -> str | None:
    """Why `subject` is not a canonical subject id, or None when it is one."""
    if not subject:
        return "subject is empty"
    if len(subject) > MAX_SUBJECT_CHARS:
        return f"subject is longer than {MAX_SUBJECT_CHARS} characters"
    for ch in subject:
        if ch.isspace() or unicodedata.category(ch) in _INVISIBLE:
            return f"subject contains U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')}), whitespace or invisible"
    if unicodedata.normalize("NFKC", subject) != subject:
        return "subject is not in Unicode NFKC form"
    if subject.casefold() != subject:
        return "subject is not case-folded (lower case)"
    return None


def same_subject(a: str, b: str) -> bool:
    """Whether two subject ids name the same identity (compared in canonical form)."""
    return canonical_subject(a) == canonical_subject(b)


# --- keys ---------------------------------------------------------------------------------------------------------


class UnknownKey(AuthError):
    """The token names a key the verifier does not hold (or an algorithm it does not accept)."""


class SharedSecret:
    """One HS256 secret for every service: local development and tests only (any holder can mint tokens)."""

    algorithms = frozenset({ALGORITHM})

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the HS256 secret is empty")
        self._secret = secret

    def key(self, header: Mapping[str, Any]) -> tuple[Any, str]:
        if header.get("alg") != ALGORITHM:
            raise UnknownKey(f"invalid token: algorithm {header.get('alg')!r} is not accepted here (HS256)")
        return self._secret, ALGORITHM

    def refresh_if_stale(self) -> bool:
        return False


def _public_keys(document: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """kid -> (public key, algorithm) of a JWKS; ValueError for anything but RS256/EdDSA public keys."""
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ValueError("a JWKS needs a non-empty 'keys' list")
    found: dict[str, tuple[Any, str]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"keys[{index}] is not an object")
        if entry.get("use", "sig") != "sig":
            continue  # encryption keys are not ours to use
        if entry.get("kty") == "oct":
            raise ValueError(f"keys[{index}] is a symmetric key; a service verifies with public keys only")
        if any(name in entry for name in ("d", "p", "q", "dp", "dq", "qi")):
            raise ValueError(f"keys[{index}] carries private key material; give services the public keys only")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError(f"keys[{index}] has no 'kid'; tokens name their key by it")
        try:
            parsed = jwt.PyJWK(entry)
        except jwt.PyJWTError as error:
            raise ValueError(f"keys[{index}] ({kid}): {error}") from None
        algorithm = parsed.algorithm_name
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise ValueError(f"keys[{index}] ({kid}): algorithm {algorithm} is not one of RS256, EdDSA")
        found[kid] = (parsed.key, algorithm)
    if not found:
        raise ValueError("the JWKS has no signature keys")
    return found


def _is_loopback(host: str | None) -> bool:
    if host in {"localhost"}:
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def jwks_loader(source: str, timeout_s: float = 5.0) -> Callable[[], Mapping[str, Any]]:
    """Read a JWKS from a file path or an https URL (plain http only on the loopback interface)."""
    parts = urllib.parse.urlsplit(source)
    if parts.scheme in {"http", "https"}:
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("a JWKS URL must be https (plain http only on the loopback interface)")

        def fetch() -> Mapping[str, Any]:
            with urllib.request.urlopen(source, timeout=timeout_s) as response:
                loaded: Mapping[str, Any] = json.loads(response.read(1_000_000))
            return loaded

        return fetch
    if parts.scheme not in {"", "file"}:
        raise ValueError(f"a JWKS is a file path or an https URL, not {parts.scheme}:")
    path = Path(parts.path if parts.scheme == "file" else source)

    def read() -> Mapping[str, Any]:
        loaded: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded

    return read


class Jwks:
    """Verification-only public keys (RS256, EdDSA) by key id, re-read from their source in the background.

    The first load happens at construction, so a process with an unreadable or unusable key set stops at start.
    Afterwards the set is re-read every `refresh_s` (and, at most every `min_refresh_s`, when a token names a key
    it does not know) on a background thread: verification never waits for the network. An identity provider
    publishes a new key before it signs with it, so a rotation is picked up before it matters; a token signed with
    a key not yet seen is refused until then. A failed re-read keeps the last good set.
    """

    algorithms = ASYMMETRIC_ALGORITHMS

    def __init__(
        self,
        load: Callable[[], Mapping[str, Any]],
        *,
        refresh_s: float = 300.0,
        min_refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._refresh_s = refresh_s
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._keys = _public_keys(load())
        self._loaded_at = clock()
        self._attempted_at = self._loaded_at
        self._lock = threading.Lock()
        self._refreshing = False
        self.generation = 0
        self.last_error: str | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Jwks:
        return cls(lambda: document)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def key(self, header: Mapping[str, Any]) -> tuple[Any, str]:
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise UnknownKey(f"invalid token: algorithm {algorithm!r} is not accepted here (RS256, EdDSA)")
        kid = header.get("kid")
        keys = self._keys
        if not isinstance(kid, str) and len(keys) == 1:
            kid = next(iter(keys))
        found = keys.get(kid) if isinstance(kid, str) else None
        if found is None:
            self._refresh(min_age=self._min_refresh_s)
            raise UnknownKey(f"invalid token: unknown key id {str(kid)[:64]!r}")
        if found[1] != algorithm:
            raise UnknownKey(f"invalid token: key {kid} is for {found[1]}, not {algorithm}")
        return found

    def refresh_if_stale(self) -> bool:
        """Start a background re-read when the set is older than `refresh_s`; True when one was started."""
        return self._refresh(min_age=self._refresh_s)

    def reload(self) -> None:
        """Re-read the key set now, on this thread (start-up and tests)."""
        self._keys = _public_keys(self._load())
        self._loaded_at = self._clock()
        self.generation += 1

    def _refresh(self, min_age: float) -> bool:
        now = self._clock()
        if now - self._attempted_at < min_age:  # the common case, without taking the lock on every verification
            return False
        with self._lock:
            if self._refreshing or now - self._attempted_at < min_age:
                return False
            self._refreshing = True
            self._attempted_at = now
        threading.Thread(target=self._refresh_now, name="jwks-refresh", daemon=True).start()
        return True

    def _refresh_now(self) -> None:
        try:
            self.reload()
            self.last_error = None
        except Exception as error:  # keep the last good set; the next interval tries again
            self.last_error = str(error)
        finally:
            with self._lock:
                self._refreshing = False


# --- the verifier -------------------------------------------------------------------------------------------------


class TokenVerifier:
    """Verifies bearer tokens into a `Principal`, remembering tokens it already verified until they expire.

    A client sends the same bearer token on every call, and checking its signature and claims costs a large
    share of a small RPC. Only tokens that verified are remembered (a failure is never cached, so a token signed
    with another key is checked, and refused, every time), and a remembered token is answered from the cache only
    while its `exp` lies in the future and the key set has not changed since. The size bound keeps a flood of
    distinct tokens from growing memory.
    """

    def __init__(
        self,
        keys: SharedSecret | Jwks,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str | None = None,
        leeway_s: float = 0.0,
        max_cached: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer:
            raise ValueError("tokens must name an issuer to check")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience or None
        self._leeway = leeway_s
        self._max = max_cached
        self._clock = clock
        self._known: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._generation = getattr(keys, "generation", 0)

    @classmethod
    def shared_secret(cls, secret: str, *, issuer: str = DEFAULT_ISSUER, audience: str | None = None) -> TokenVerifier:
        """Local development: one HS256 secret (`issue` mints tokens with it)."""
        return cls(SharedSecret(secret), issuer=issuer, audience=audience)

    @classmethod
    def jwks(cls, source: str, *, issuer: str, audience: str | None = None, refresh_s: float = 300.0) -> TokenVerifier:
        """Production: the RS256/EdDSA public keys at `source` (a JWKS file path or https URL).

        Ten seconds of leeway on `exp`, `nbf` and `iat` absorb the clock difference with the identity provider.
        """
        keys = Jwks(jwks_loader(source), refresh_s=refresh_s)
        return cls(keys, issuer=issuer, audience=audience, leeway_s=10.0)

    @classmethod
    def from_settings(cls, chosen: VerifierSettings) -> TokenVerifier:
        """The verifier a process's settings describe (`config.GrpcSettings`): JWKS when given, else the HS256
        secret."""
        issuer = chosen.jwt_issuer or DEFAULT_ISSUER
        audience = chosen.jwt_audience or None
        if chosen.jwt_jwks:
            return cls.jwks(chosen.jwt_jwks, issuer=issuer, audience=audience)
        return cls.shared_secret(chosen.jwt_secret, issuer=issuer, audience=audience)

    @property
    def algorithms(self) -> frozenset[str]:
        return self._keys.algorithms

    def verify(self, token: str) -> Principal:
        self._keys.refresh_if_stale()
        generation = getattr(self._keys, "generation", 0)
        if generation != self._generation:
            self._known.clear()  # a key may have been withdrawn: check every token again
            self._generation = generation
        known = self._known.get(token)
        if known is not None:
            if self._clock() < known[1]:
                self._known.move_to_end(token)
                return known[0]
            del self._known[token]
        found = self._decode(token)
        self._known[token] = found
        if len(self._known) > self._max:
            self._known.popitem(last=False)
        return found[0]

    def _decode(self, token: str) -> tuple[Principal, float]:
        """The token's principal and its `exp` claim (seconds since the epoch)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        key, algorithm = self._keys.key(header)
        required = ["sub", "exp", "iss", *(["aud"] if self._audience else [])]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        subject = claims["sub"]
        if not isinstance(subject, str):
            raise AuthError("invalid token: sub must be a string")
        problem = subject_problem(subject)
        if problem is not None:
            raise AuthError(f"invalid token: {problem}; subjects must be canonical ids")
        roles = claims.get("roles", [])
        if not isinstance(roles, list):
            raise AuthError("invalid token: roles must be a list")
        verification = claims.get("verification", NO_VERIFICATION)
        if not isinstance(verification, str) or not 0 < len(verification) <= MAX_VERIFICATION_CHARS:
            raise AuthError(f"invalid token: verification must be a string of 1..{MAX_VERIFICATION_CHARS} characters")
        principal = Principal(subject=subject, roles=frozenset(str(r) for r in roles), verification=verification)
        return principal, float(claims["exp"])

    def __len__(self) -> int:
        return len(self._known)


class VerifiedTokens(TokenVerifier):
    """The HS256 verifier under its first name (for callers written against it)."""

    def __init__(self, secret: str, max_size: int = 4096, clock: Callable[[], float] = time.time) -> None:
        super().__init__(SharedSecret(secret), max_cached=max_size, clock=clock, issuer=DEFAULT_ISSUER)


def issue(
    secret: str,
    subject: str,
    roles: Iterable[str],
    ttl_s: int = 3600,
    issuer: str = DEFAULT_ISSUER,
    audience: str | None = None,
    verification: str | None = None,
) -> str:
    """Mint an HS256 token (local runs, tests); production tokens come from the identity provider.

    `verification` sets the `verification` claim (how far the person was verified); None leaves it out."""
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    problem = subject_problem(subject)
    if problem is not None:
        raise ValueError(f"{subject!r}: {problem}")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "roles": sorted(set(roles)), "iat": now, "exp": now + ttl_s}
    claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    if verification is not None:
        claims["verification"] = verification
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str) -> Principal:
    """Verify an HS256 token of the default issuer (local runs and tests)."""
    return TokenVerifier.shared_secret(secret).verify(token)


# --- who may call what --------------------------------------------------------------------------------------------


class Policy:
    """Which roles may call which full method name (`/pkg.Service/Method`).

    Health is open to everyone (Kubernetes probes carry no token). Reflection describes every method and field of
    the API; it needs a valid token of any role unless `open_reflection` (a local-development setting) says so.
    """

    def __init__(self, rules: Mapping[str, Iterable[str]], *, open_reflection: bool = False) -> None:
        self._rules = {method: frozenset(roles) for method, roles in rules.items()}
        self.open_reflection = open_reflection

    def with_open_reflection(self, open_reflection: bool) -> Policy:
        """The same rules, with reflection open (True) or needing a token (False)."""
        copy = Policy({}, open_reflection=open_reflection)
        copy._rules = self._rules
        return copy

    def check(self, method: str, principal: Principal | None) -> None:
        if not self.requires_auth(method):
            return
        if principal is None:
            raise AuthError("missing bearer token")
        if method.startswith(REFLECTION_PREFIXES) or "admin" in principal.roles:
            return
        allowed = self._rules.get(method)
        if allowed is None:
            raise AuthError(f"{method} is not open to any role", permission=True)
        if not principal.roles & allowed:
            raise AuthError(f"{method} needs one of the roles {sorted(allowed)}", permission=True)

    def requires_auth(self, method: str) -> bool:
        if method.startswith(HEALTH_PREFIXES):
            return False
        return not (self.open_reflection and method.startswith(REFLECTION_PREFIXES))


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or []:
        if key == "authorization":
            text = value if isinstance(value, str) else value.decode()
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    return None
