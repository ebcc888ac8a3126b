"""The HTTP side without any service: headers, sign-in, the session cookie, CSRF and the refusals before a call."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sotong_common import auth
from sotong_console.gateway import Gateway
from sotong_console.pages import Pages
from sotong_console.sessions import Sealer, Sessions
from sotong_console.settings import Console as Settings
from sotong_console.signin import DevSignIn
from sotong_console.web import STATIC, VENDORED, Console, _safe_next, build_app

PASSWORD = "local-password"
ENV = {
    "SOTONG_CONSOLE_GATEWAY_TARGET": "127.0.0.1:9",  # nothing listens: no test here may reach a service
    "SOTONG_CONSOLE_SESSION_KEYS": "k1:" + base64.b64encode(b"\x05" * 32).decode(),
    "SOTONG_JWT_SECRET": "x" * 32,
    "SOTONG_CONSOLE_DEV_USERS": "duty-kim=operator,choi=moderator",
    "SOTONG_CONSOLE_DEV_PASSWORD": PASSWORD,
    "SOTONG_CONSOLE_SECURE_COOKIES": "false",
}


@pytest.fixture()
async def client() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    if not all((STATIC / "vendor" / name).exists() for name in VENDORED):
        pytest.skip("static/vendor is filled by `make console-web`")
    chosen = Settings.load(ENV)
    verifier = auth.TokenVerifier.from_settings(chosen)
    gateway = Gateway(chosen.console_gateway_target, 1.0)
    console = Console(
        settings=chosen,
        gateway=gateway,
        sessions=Sessions(Sealer(chosen.console_session_keys), secure=False),
        pages=Pages(),
        verifier=verifier,
        dev=DevSignIn(chosen, verifier),
        oidc=None,
    )
    async with TestClient(TestServer(build_app(console))) as test_client:
        yield test_client
    await gateway.close()


def own(client: TestClient) -> dict[str, str]:  # type: ignore[type-arg]
    return {"Origin": str(client.make_url("")).rstrip("/")}


async def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> int:  # type: ignore[type-arg]
    page = await client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf is not None
    reply = await client.post(
        "/signin",
        data={"csrf": csrf.group(1), "user": user, "password": password, "next": "/"},
        headers=own(client),
        allow_redirects=False,
    )
    return reply.status


async def test_pages_carry_a_strict_content_security_policy_and_no_caching(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/signin")
    assert reply.status == 200
    policy = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Frame-Options"] == "DENY"


async def test_signed_out_people_are_sent_to_sign_in(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/incidents", allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] in {"/signin?next=%2Fincidents", "/signin?next=/incidents"}


async def test_a_local_sign_in_sets_an_httponly_lax_cookie_and_a_wrong_password_does_not(client: TestClient) -> None:  # type: ignore[type-arg]
    assert await sign_in(client, "duty-kim", "wrong-password") == 401
    assert "sotong-console" not in {c.key for c in client.session.cookie_jar}
    assert await sign_in(client, "duty-kim") == 303
    cookie = next(c for c in client.session.cookie_jar if c.key == "sotong-console")
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert "duty-kim" not in cookie.value  # sealed, not merely signed


async def test_a_moderator_is_refused_the_situation_room_before_any_call(client: TestClient) -> None:  # type: ignore[type-arg]
    assert await sign_in(client, "choi") == 303
    reply = await client.get("/incidents", allow_redirects=False)
    assert reply.status == 403
    reply = await client.post("/incidents/INC-1/draft", data={}, headers=own(client), allow_redirects=False)
    assert reply.status == 403  # the CSRF check passes nothing without the session's token


async def test_a_post_without_the_sessions_csrf_token_or_from_elsewhere_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    assert await sign_in(client, "duty-kim") == 303
    reply = await client.post("/incidents", data={"hazard": "호우"}, headers=own(client), allow_redirects=False)
    assert reply.status == 403 and "CSRF" in await reply.text()
    page = await client.get("/signin", allow_redirects=False)  # signed in: sent home, so read the token elsewhere
    assert page.status == 303
    elsewhere = {"Origin": "https://evil.example"}
    reply = await client.post("/signout", data={}, headers=elsewhere, allow_redirects=False)
    assert reply.status == 403 and "cross-origin" in await reply.text()


def test_next_after_sign_in_stays_on_the_console() -> None:
    assert _safe_next("/incidents?all=1") == "/incidents?all=1"
    for outside in ("//evil.example/", "https://evil.example/", "/\\evil.example", "incidents", ""):
        assert _safe_next(outside) == "/"
