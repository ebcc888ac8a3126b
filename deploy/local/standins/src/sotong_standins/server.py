"""Assembles every stand-in into one process: one HTTP port for all HTTP providers plus one SMTP port.

One process keeps ``make up`` simple and lets one control API see every provider's ledger; the path prefix
(``/push/...``, ``/sms/...``) tells providers apart, the way separate hostnames would in production.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .control_api import ControlApi, Resettable
from .desk import ProviderDesk
from .faults import FaultPlan
from .providers import HTTP_STAND_INS, KakaoStandIn, StandIn
from .providers.stand_in import DropConnection
from .shopping import ShoppingPlatform
from .smtp import MailStandIn, render_mail_error

access_log = logging.getLogger("sotong_standins.access")

# Where each provider lives under the HTTP base URL, for the ports line the lead's scripts read.
HTTP_PREFIXES = {
    "chat": "/chat/v1",
    "pager": "/pager/v2",
    "notice": "/eungdapso/api/v1",
    "sns": "/sns/v19.0",
    "push": "/push/v1",
    "kakao": "/kakao",
    "sms": "/sms/v2",
    "kakao_bot": "/kakao-bot",
}

PROVIDER_NAMES = frozenset(HTTP_PREFIXES) | {"mail"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run can vary; the CLI fills it from flags and ``SOTONG_STANDINS_*`` variables."""

    host: str = "127.0.0.1"
    http_port: int = 0
    smtp_port: int = 0
    token: str | None = "standin-token"
    seed: int | None = None
    keep_recent: int = 10_000
    allow_unkeyed: bool = False
    realistic_limits: bool = False
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    smtp: bool = True
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Alimtalk templates registered from the start (code -> text with #{variables}).
    kakao_templates: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ports:
    http: int
    smtp: int | None
    host: str
    token: str | None

    def as_json(self) -> dict[str, Any]:
        base = f"http://{self.host}:{self.http}"
        providers = {name: base + prefix for name, prefix in HTTP_PREFIXES.items()}
        if self.smtp is not None:
            providers["mail"] = f"smtp://{self.host}:{self.smtp}"
        return {
            "http_port": self.http,
            "smtp_port": self.smtp,
            "base_url": base,
            "control_url": base + "/_control",
            "token": self.token,
            "providers": providers,
            # The shopping platform is not a channel the publishing engine delivers to: it pulls feeds.
            "shopping_url": base + "/shopping/v1",
        }


def _base_plan(settings: Settings, realistic_rate: float | None) -> FaultPlan:
    return FaultPlan(
        latency_ms=settings.latency_ms,
        jitter_ms=settings.jitter_ms,
        rate_limit_per_s=realistic_rate if settings.realistic_limits else None,
    )


def _access_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        status = 0
        try:
            response = await handler(request)
            status = response.status
            return response
        except DropConnection:
            # the delivery is recorded; now lose the connection as a crashed provider or proxy would
            status = -1
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable() from None
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if access_log.isEnabledFor(logging.DEBUG):
                access_log.debug(
                    json.dumps(
                        {
                            "ts": round(time.time(), 3),
                            "event": "request",
                            "provider": request.path.split("/", 2)[1],
                            "method": request.method,
                            "path": request.path,
                            "status": status if status >= 0 else None,
                            "dropped": status < 0,
                            "ms": round((time.perf_counter() - started) * 1000, 2),
                            "idempotency_key": request.headers.get("Idempotency-Key"),
                        },
                        ensure_ascii=False,
                    )
                )

    return middleware


class StandinServer:
    """Owns the providers, the aiohttp app and the SMTP server; ``start`` binds, ``stop`` releases."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stand_ins: dict[str, StandIn] = {}
        for cls in HTTP_STAND_INS:
            self.stand_ins[cls.name] = cls(self._desk(cls.name, cls.render_error, cls.realistic_rate_per_s))
        kakao = self.stand_ins["kakao"]
        if isinstance(kakao, KakaoStandIn):
            kakao.register(settings.kakao_templates)
        self.mail = MailStandIn(self._desk("mail", render_mail_error, 20.0))
        self.shopping = ShoppingPlatform()
        providers: dict[str, Resettable] = dict(self.stand_ins)
        if settings.smtp:
            providers["mail"] = self.mail
        self.app = self._build_app(providers)
        self._runner: web.AppRunner | None = None
        self._smtp_server: asyncio.Server | None = None
        self.ports: Ports | None = None

    def _desk(self, name: str, render_error: Any, realistic_rate: float | None) -> ProviderDesk:
        plan = _base_plan(self.settings, realistic_rate)
        override = self.settings.overrides.get(name)
        if override:
            plan = plan.merged(override)
        return ProviderDesk(
            name,
            render_error,
            token=self.settings.token,
            base_plan=plan,
            seed=self.settings.seed,
            keep_recent=self.settings.keep_recent,
            allow_unkeyed=self.settings.allow_unkeyed,
        )

    def _build_app(self, providers: dict[str, Resettable]) -> web.Application:
        app = web.Application(middlewares=[_access_middleware()], client_max_size=32 * 1024 * 1024)
        routes: list[web.RouteDef] = []
        for stand_in in self.stand_ins.values():
            routes.extend(stand_in.control_routes())
        routes.extend(ControlApi(providers).routes())
        routes.extend(self.shopping.routes())
        for stand_in in self.stand_ins.values():
            routes.extend(stand_in.routes())
        app.add_routes(routes)
        return app

    async def start(self) -> Ports:
        settings = self.settings
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.host, settings.http_port, backlog=1024)
        await site.start()
        http_port = _bound_port(self._runner.addresses)
        smtp_port: int | None = None
        if settings.smtp:
            loop = asyncio.get_running_loop()
            self._smtp_server = await loop.create_server(self.mail.protocol, settings.host, settings.smtp_port)
            smtp_port = self._smtp_server.sockets[0].getsockname()[1]
        self.ports = Ports(http_port, smtp_port, settings.host, settings.token)
        await self.shopping.start()
        return self.ports

    async def stop(self) -> None:
        await self.shopping.stop()
        if self._smtp_server is not None:
            self._smtp_server.close()
            await self._smtp_server.wait_closed()
            self._smtp_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _bound_port(addresses: list[Any]) -> int:
    for address in addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the HTTP server did not bind a TCP port")
