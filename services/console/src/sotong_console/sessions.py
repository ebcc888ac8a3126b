"""Who is signed in: a session sealed into an HttpOnly cookie, and the CSRF checks every change goes through.

The session holds the person's bearer token for the gateway. It travels only inside a cookie sealed with
AES-256-GCM (the console's `CONSOLE_SESSION_KEYS`), HttpOnly, SameSite=Lax and, over HTTPS, `Secure` with the
`__Host-` prefix: no script on the page can read the token, so a script that slipped in could still not carry
it elsewhere, and any console replica opens any session without a shared store. The session ends when the token
expires (a shift for local sign-ins; the identity provider's lifetime in production); signing out clears the
cookie. What a sealed cookie cannot do is be revoked before it expires: a stolen laptop is handled at the
identity provider (revoking the person's tokens), which the gateway's verification follows.

CSRF: every POST carries the session's own random token (a hidden field, or the `X-CSRF-Token` header htmx
sends) and, when the browser says where it comes from (`Origin`, else `Referer`), that must be the console
itself. SameSite=Lax already keeps the cookie off cross-site POSTs; the token and the origin check make that a
rule rather than a browser default.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SESSION = "sotong-console"
SIGN_IN = "sotong-console-signin"
"""A short-lived cookie for the sign-in itself: the sign-in form's CSRF token, and OIDC's state and verifier."""
SIGN_IN_TTL_S = 600


@dataclass(frozen=True)
class Session:
    """A signed-in person: who (the token's subject and roles), the token itself, until when, and the CSRF token."""

    subject: str
    roles: frozenset[str]
    token: str
    expires_at: float
    csrf: str

    def may(self, *roles: str) -> bool:
        """Whether the person holds one of `roles` (admin holds every role, as at the gateway)."""
        return "admin" in self.roles or bool(self.roles & set(roles))

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


class Sealer:
    """Seals and opens cookie values with the newest key; opens with any listed key (rotation)."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self._newest = keys[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}

    def seal(self, name: str, value: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._newest].encrypt(nonce, json.dumps(value).encode(), name.encode())
        return f"{self._newest}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def open(self, name: str, raw: str | None) -> dict[str, Any] | None:
        """The value, or None for anything not sealed by us for this cookie name (tampered, old key, garbage)."""
        if not raw or "." not in raw or len(raw) > 8192:
            return None
        key_id, _, body = raw.partition(".")
        key = self._keys.get(key_id)
        if key is None:
            return None
        try:
            data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            opened = json.loads(key.decrypt(data[:12], data[12:], name.encode()))
        except (InvalidTag, ValueError):
            return None
        return opened if isinstance(opened, dict) else None


class Sessions:
    """Session cookies: `__Host-` prefixed and Secure over HTTPS, HttpOnly and SameSite=Lax always."""

    def __init__(self, sealer: Sealer, *, secure: bool) -> None:
        self._sealer = sealer
        self.secure = secure
        prefix = "__Host-" if secure else ""
        self.session_cookie = prefix + SESSION
        self.sign_in_cookie = prefix + SIGN_IN

    def new(self, subject: str, roles: frozenset[str], token: str, expires_at: float) -> Session:
        return Session(subject, roles, token, expires_at, secrets.token_urlsafe(24))

    def seal(self, session: Session) -> str:
        value = asdict(session)
        value["roles"] = sorted(session.roles)
        return self._sealer.seal(self.session_cookie, value)

    def open(self, raw: str | None) -> Session | None:
        value = self._sealer.open(self.session_cookie, raw)
        if value is None:
            return None
        try:
            session = Session(
                subject=str(value["subject"]),
                roles=frozenset(str(r) for r in value["roles"]),
                token=str(value["token"]),
                expires_at=float(value["expires_at"]),
                csrf=str(value["csrf"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return None if session.expired else session

    def seal_sign_in(self, value: dict[str, Any]) -> str:
        return self._sealer.seal(self.sign_in_cookie, {**value, "exp": time.time() + SIGN_IN_TTL_S})

    def open_sign_in(self, raw: str | None) -> dict[str, Any] | None:
        value = self._sealer.open(self.sign_in_cookie, raw)
        if value is None or float(value.get("exp", 0)) < time.time():
            return None
        return value

    def cookie_options(self, max_age: int | None) -> dict[str, Any]:
        options: dict[str, Any] = {"httponly": True, "samesite": "Lax", "path": "/", "secure": self.secure}
        if max_age is not None:
            options["max_age"] = max_age
        return options


def same_token(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def same_origin(origin: str | None, referer: str | None, own: str) -> bool:
    """Whether a POST comes from the console's own pages: Origin when the browser sends it, else Referer.

    A request with neither is refused: every browser this console supports sends Origin on POST.
    """
    if origin:
        return origin.rstrip("/") == own
    if referer:
        return referer == own or referer.startswith(own + "/")
    return False
