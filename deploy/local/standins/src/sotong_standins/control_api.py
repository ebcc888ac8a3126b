"""The run-time control API under ``/_control``: stats, fault plans, resets and recent deliveries.

Tests and the demo steer the stand-ins here instead of restarting them: a reliability test injects an outage,
waits for the publishing engine to retry, and reads the counts that prove nothing was lost or sent twice. The
API is unauthenticated on purpose; it only listens on loopback and is not part of any real provider.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from .desk import ProviderDesk
from .faults import FaultPlanError

MAX_DELIVERIES_LIMIT = 10_000


class Resettable(Protocol):
    desk: ProviderDesk

    def reset(self) -> None: ...


class ControlApi:
    """Routes over every provider's desk, addressed by provider name (``all`` for every provider)."""

    def __init__(self, providers: Mapping[str, Resettable]) -> None:
        self._providers = providers

    def routes(self) -> list[web.RouteDef]:
        # fixed paths first: aiohttp matches resources in registration order, before /_control/{provider}
        return [
            web.get("/_control/health", self.health),
            web.get("/_control/stats", self.stats),
            web.post("/_control/reset", self.reset),
            web.get("/_control/deliveries/{provider}", self.deliveries),
            web.get("/_control/{provider}", self.provider_stats),
            web.post("/_control/{provider}", self.inject),
        ]

    def _lookup(self, name: str) -> Resettable:
        provider = self._providers.get(name)
        if provider is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"unknown provider {name!r}", "providers": sorted(self._providers)}),
                content_type="application/json",
            )
        return provider

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "providers": sorted(self._providers)})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({name: provider.desk.stats() for name, provider in self._providers.items()})

    async def provider_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self._lookup(request.match_info["provider"]).desk.stats())

    async def reset(self, request: web.Request) -> web.Response:
        """Reset one provider (``?provider=`` or ``{"provider": ...}``) or, by default, all of them."""
        name = request.query.get("provider")
        if name is None and request.can_read_body:
            body = await _json_object(request)
            value = body.get("provider")
            name = value if isinstance(value, str) else None
        targets = [self._lookup(name)] if name else list(self._providers.values())
        for provider in targets:
            provider.reset()
        return web.json_response({"reset": [p.desk.name for p in targets]})

    async def inject(self, request: web.Request) -> web.Response:
        name = request.match_info["provider"]
        targets = list(self._providers.values()) if name == "all" else [self._lookup(name)]
        changes = await _json_object(request)
        applied: dict[str, Any] = {}
        try:
            for provider in targets:
                plan = provider.desk.faults.apply(changes)
                applied[provider.desk.name] = plan.as_json() | {"seconds_left": provider.desk.faults.seconds_left()}
        except FaultPlanError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(applied)

    async def deliveries(self, request: web.Request) -> web.Response:
        provider = self._lookup(request.match_info["provider"])
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return web.json_response({"error": "limit must be an integer"}, status=400)
        limit = max(1, min(limit, MAX_DELIVERIES_LIMIT))
        rows = provider.desk.ledger.recent(
            limit, target=request.query.get("target"), key_prefix=request.query.get("key_prefix")
        )
        return web.json_response(rows)


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body is not JSON: {exc}"}), content_type="application/json"
        ) from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body must be a JSON object"}), content_type="application/json"
        )
    return body
