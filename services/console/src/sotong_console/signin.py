"""How staff sign in: local users in development, OpenID Connect in production; either way a bearer token.

Whatever the door, the outcome is a token the gateway accepts, verified here exactly as the gateway verifies it
(`auth.TokenVerifier.from_settings`), and a staff role in it; the console keeps it in the sealed session cookie.

- **Local users** (`CONSOLE_DEV_USERS`, one `CONSOLE_DEV_PASSWORD`): the console mints an HS256 token with the
  stack's `JWT_SECRET`, as `make up` and the tests do. Refused at start when `JWT_JWKS` is set: in production the
  services hold only public keys and nobody can mint a token but the identity provider.
- **OpenID Connect** (`CONSOLE_OIDC_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET`): authorization code flow with PKCE
  (S256), `state` and the verifier kept in a sealed, short-lived cookie; the access token the identity provider
  issues for the gateway's audience is the token the console uses, verified as the gateway verifies it (the ID
  token is not needed for that, so no nonce is asked for). Its roles claim is the one the gateway reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt

from sotong_common import auth
from sotong_console.settings import ROLES_SHOWN, Console, DevUser

DEV_TOKEN_TTL_S = 8 * 3600
"""A local sign-in lasts a shift."""


class SignInRefused(Exception):
    """Why a sign-in did not give a session (shown to the person in their language by the page)."""


@dataclass(frozen=True)
class SignedIn:
    subject: str
    roles: frozenset[str]
    token: str
    expires_at: float


def staff(verifier: auth.TokenVerifier, token: str) -> SignedIn:
    """The person a token names, if the gateway would accept it and it carries a staff role."""
    try:
        principal = verifier.verify(token)
    except auth.AuthError as error:
        raise SignInRefused(f"the token was refused: {error}") from None
    roles = principal.roles & set(ROLES_SHOWN)
    if not roles:
        raise SignInRefused("the console is for staff roles: " + ", ".join(ROLES_SHOWN))
    claims = jwt.decode(token, options={"verify_signature": False})
    return SignedIn(principal.subject, roles, token, float(claims["exp"]))


class DevSignIn:
    """Local users with one password; tokens minted with the stack's HS256 secret."""

    def __init__(self, chosen: Console, verifier: auth.TokenVerifier) -> None:
        self.users = {user.subject: user for user in chosen.console_dev_users}
        self._password = chosen.console_dev_password
        self._secret = chosen.jwt_secret
        self._issuer = chosen.jwt_issuer or auth.DEFAULT_ISSUER
        self._audience = chosen.jwt_audience or None
        self._verifier = verifier

    def listed(self) -> list[DevUser]:
        return list(self.users.values())

    def sign_in(self, subject: str, password: str) -> SignedIn:
        user = self.users.get(subject.strip())
        # Compare the password whether or not the user exists, so timing does not tell which users exist.
        good = hmac.compare_digest(password.encode(), self._password.encode())
        if user is None or not good:
            raise SignInRefused("wrong user or password")
        token = auth.issue(
            self._secret, user.subject, user.roles, ttl_s=DEV_TOKEN_TTL_S, issuer=self._issuer, audience=self._audience
        )
        return staff(self._verifier, token)


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) of RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


class OidcSignIn:
    """The authorization code flow with PKCE against the city's identity provider."""

    def __init__(self, chosen: Console, verifier: auth.TokenVerifier) -> None:
        self._issuer = chosen.console_oidc_issuer.rstrip("/")
        self._client_id = chosen.console_oidc_client_id
        self._client_secret = chosen.console_oidc_client_secret
        self._scopes = chosen.console_oidc_scopes
        self.redirect_uri = chosen.console_public_url + "/signin/callback"
        self._verifier = verifier
        self._authorize = ""
        self._token_endpoint = ""
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Read the provider's discovery document (fails the start: a console nobody can sign in to is down)."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self._http.get(self._issuer + "/.well-known/openid-configuration") as reply:
            reply.raise_for_status()
            document: dict[str, Any] = await reply.json()
        if document.get("issuer", "").rstrip("/") != self._issuer:
            raise RuntimeError(f"the discovery document names issuer {document.get('issuer')!r}, not {self._issuer!r}")
        self._authorize = str(document["authorization_endpoint"])
        self._token_endpoint = str(document["token_endpoint"])

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    def begin(self) -> tuple[str, dict[str, str]]:
        """The provider's URL to send the browser to, and what to keep in the sign-in cookie until it returns."""
        state = secrets.token_urlsafe(24)
        verifier, challenge = pkce_pair()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self._scopes,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self._authorize}?{query}", {"state": state, "verifier": verifier}

    async def finish(self, kept: dict[str, Any], state: str, code: str) -> SignedIn:
        """Exchange the code (state checked, PKCE verifier sent) for the access token, and verify it."""
        if not state or not hmac.compare_digest(str(kept.get("state", "")), state):
            raise SignInRefused("the sign-in answer does not match the request (state)")
        if not code:
            raise SignInRefused("the identity provider sent no code")
        assert self._http is not None
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": str(kept.get("verifier", "")),
            "client_id": self._client_id,
        }
        basic = aiohttp.BasicAuth(self._client_id, self._client_secret) if self._client_secret else None
        async with self._http.post(self._token_endpoint, data=form, auth=basic) as reply:
            if reply.status != 200:
                raise SignInRefused(f"the identity provider refused the code ({reply.status})")
            answer: dict[str, Any] = await reply.json()
        token = answer.get("access_token")
        if not isinstance(token, str):
            raise SignInRefused("the identity provider sent no access token")
        signed = staff(self._verifier, token)
        if signed.expires_at <= time.time():
            raise SignInRefused("the access token has already expired")
        return signed
