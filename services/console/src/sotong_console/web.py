"""The console's HTTP side: the application, its middlewares (headers, session, CSRF, refusals) and sign-in routes.

Pages are server-rendered and work as plain forms (POST, then redirect); htmx (vendored from npm, no build)
adds the preview as the drafter types, and server-sent events keep the timeline, the delivery counts, the open
incidents and the waiting count current without a reload. Every change is a POST checked for CSRF.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from sotong_common import auth
from sotong_console import words
from sotong_console.gateway import Gateway, Refused
from sotong_console.pages import Pages
from sotong_console.sessions import Session, Sessions, same_origin, same_token
from sotong_console.settings import Console as Settings
from sotong_console.signin import DevSignIn, OidcSignIn, SignedIn, SignInRefused

STATIC = Path(str(resources.files("sotong_console").joinpath("static")))
VENDORED = ("htmx.min.js", "htmx-ext-sse.js")
"""Files `make console-web` copies from the npm packages into static/vendor (not committed)."""

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""Scripts and styles only from the console's own files: no inline script, no eval, nothing from elsewhere."""

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
LANGUAGE_COOKIE = "sotong-console-lang"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Live:
    """Open server-sent-event streams: they end when the process stops (a browser reconnects elsewhere)."""

    closing: asyncio.Event = field(default_factory=asyncio.Event)
    open_streams: int = 0


@dataclass
class Console:
    settings: Settings
    gateway: Gateway
    sessions: Sessions
    pages: Pages
    verifier: auth.TokenVerifier
    dev: DevSignIn | None
    oidc: OidcSignIn | None
    live: Live = field(default_factory=Live)


CONSOLE = web.AppKey("console", Console)
SESSION = web.RequestKey("session", Session)


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def language_of(request: web.Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    return chosen if chosen in words.LANGUAGES else "ko"


def session_of(request: web.Request) -> Session | None:
    return request.get(SESSION)


def own_origin(request: web.Request) -> str:
    configured = console_of(request).settings.console_public_url
    return configured or f"{request.scheme}://{request.host}"


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A page (or fragment) in the person's language, with who they are and their CSRF token."""
    console = console_of(request)
    session = session_of(request)
    html = console.pages.render(
        template,
        language_of(request),
        session=session,
        csrf=session.csrf if session else "",
        path=request.path_qs,
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def require(request: web.Request, *roles: str) -> Session:
    """The signed-in person, if they hold one of `roles`; else to the sign-in page, or a 403 page."""
    session = session_of(request)
    if session is None:
        raise web.HTTPSeeOther("/signin?next=" + quote(request.path_qs, safe=""))
    if roles and not session.may(*roles):
        raise web.HTTPForbidden(
            text=render(request, "error.html", status=403, message=words.say("not_allowed", language_of(request))).text,
            content_type="text/html",
        )
    return session


def refused_page(request: web.Request, refused: Refused) -> web.Response:
    status = {"PERMISSION_DENIED": 403, "NOT_FOUND": 404, "INVALID_ARGUMENT": 400}.get(refused.code.name, 502)
    return render(request, "error.html", status=status, message=refused.message, code=refused.code.name)


def text_of(form: Any, name: str, limit: int = 4000) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")  # pages carry personal data
    return response


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = console_of(request)
    session = console.sessions.open(request.cookies.get(console.sessions.session_cookie))
    if session is not None:
        request[SESSION] = session
    return await handler(request)


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every POST: from the console's own origin, with the session's (or the sign-in form's) CSRF token."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return await handler(request)
    if not same_origin(request.headers.get("Origin"), request.headers.get("Referer"), own_origin(request)):
        raise web.HTTPForbidden(text="cross-origin request refused")
    form = await request.post()
    given = request.headers.get("X-CSRF-Token") or form.get("csrf")
    console = console_of(request)
    session = session_of(request)
    if request.path == "/signin":
        kept = console.sessions.open_sign_in(request.cookies.get(console.sessions.sign_in_cookie))
        expected = str(kept.get("csrf", "")) if kept else ""
    else:
        expected = session.csrf if session else ""
    if not expected or not same_token(expected, given if isinstance(given, str) else None):
        if session is None and request.path != "/signin":
            raise web.HTTPSeeOther("/signin")
        raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the page")
    return await handler(request)


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A refusal nobody handled becomes a page; an expired or refused token ends the session."""
    try:
        return await handler(request)
    except Refused as refused:
        if refused.code.name == "UNAUTHENTICATED":
            response = web.HTTPSeeOther("/signin?expired=1")
            response.del_cookie(console_of(request).sessions.session_cookie, path="/")
            return response
        return refused_page(request, refused)


def _safe_next(raw: str) -> str:
    """Only a path on the console itself (never `//elsewhere` or a URL): open redirects are a phishing tool."""
    parts = urlsplit(raw)
    if not raw.startswith("/") or raw.startswith("//") or parts.scheme or parts.netloc or "\\" in raw:
        return "/"
    return raw


def home_of(session: Session) -> str:
    if session.may("operator", "approver", "dept_admin"):
        return "/incidents"
    if session.may("moderator"):
        return "/moderation"
    return "/signin"


async def home(request: web.Request) -> web.StreamResponse:
    session = require(request)
    raise web.HTTPSeeOther(home_of(session))


def _sign_in_page(request: web.Request, *, problem: str = "", status: int = 200) -> web.Response:
    console = console_of(request)
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        status=status,
        sign_in_csrf=token,
        dev_users=console.dev.listed() if console.dev else [],
        oidc=console.oidc is not None,
        problem=problem,
        next=_safe_next(request.query.get("next", "/")),
        expired=request.query.get("expired") == "1",
    )
    response.set_cookie(
        console.sessions.sign_in_cookie,
        console.sessions.seal_sign_in({"csrf": token}),
        **console.sessions.cookie_options(max_age=600),
    )
    return response


async def sign_in_form(request: web.Request) -> web.StreamResponse:
    if session_of(request) is not None:
        raise web.HTTPSeeOther("/")
    return _sign_in_page(request)


def _signed_in(request: web.Request, signed: SignedIn, next_path: str) -> web.StreamResponse:
    console = console_of(request)
    session = console.sessions.new(signed.subject, signed.roles, signed.token, signed.expires_at)
    target = _safe_next(next_path)
    response = web.HTTPSeeOther(home_of(session) if target == "/" else target)
    response.set_cookie(
        console.sessions.session_cookie,
        console.sessions.seal(session),
        **console.sessions.cookie_options(max_age=max(1, int(signed.expires_at - time.time()))),
    )
    response.del_cookie(console.sessions.sign_in_cookie, path="/")
    return response


async def sign_in(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    if console.dev is None:
        raise web.HTTPNotFound()
    try:
        signed = console.dev.sign_in(text_of(form, "user", 256), str(form.get("password", "")))
    except SignInRefused:
        logging.getLogger("sotong.console").info("local sign-in refused")
        return _sign_in_page(request, problem=words.say("sign_in_failed", language_of(request)), status=401)
    return _signed_in(request, signed, text_of(form, "next", 2000))


async def oidc_begin(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    if console.oidc is None:
        raise web.HTTPNotFound()
    url, kept = console.oidc.begin()
    kept["next"] = _safe_next(request.query.get("next", "/"))
    response = web.HTTPSeeOther(url)
    response.set_cookie(
        console.sessions.sign_in_cookie, console.sessions.seal_sign_in(kept), **console.sessions.cookie_options(600)
    )
    return response


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    if console.oidc is None:
        raise web.HTTPNotFound()
    kept = console.sessions.open_sign_in(request.cookies.get(console.sessions.sign_in_cookie))
    if kept is None:
        return _sign_in_page(request, problem=words.say("sign_in_expired", language_of(request)), status=400)
    try:
        signed = await console.oidc.finish(kept, request.query.get("state", ""), request.query.get("code", ""))
    except SignInRefused as refused:
        return _sign_in_page(request, problem=str(refused), status=403)
    return _signed_in(request, signed, str(kept.get("next", "/")))


async def sign_out(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(console_of(request).sessions.session_cookie, path="/")
    return response


async def choose_language(request: web.Request) -> web.StreamResponse:
    language = request.match_info["language"]
    if language not in words.LANGUAGES:
        raise web.HTTPNotFound()
    response = web.HTTPSeeOther(_safe_next(request.query.get("next", "/")))
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, path="/", samesite="Lax")
    return response


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


def build_app(console: Console) -> web.Application:
    from sotong_console import inbox, review, situation

    missing = [name for name in VENDORED if not (STATIC / "vendor" / name).exists()]
    if missing:
        raise RuntimeError(f"static/vendor lacks {', '.join(missing)}: run `make console-web` (npm ci, then copy)")
    app = web.Application(middlewares=[security_headers, refusals, sessions, csrf], client_max_size=256 * 1024)
    app[CONSOLE] = console
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/signin", sign_in_form)
    app.router.add_post("/signin", sign_in)
    app.router.add_get("/signin/oidc", oidc_begin)
    app.router.add_get("/signin/callback", oidc_callback)
    app.router.add_post("/signout", sign_out)
    app.router.add_get("/lang/{language}", choose_language)
    situation.add_routes(app)
    review.add_routes(app)
    inbox.add_routes(app)
    app.router.add_static("/static/", STATIC, append_version=False)
    return app
