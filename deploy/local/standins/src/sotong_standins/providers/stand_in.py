"""The base every provider stand-in extends, and the request-body parsing they all need."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..desk import ProviderDesk


class DropConnection(Exception):
    """Raised after a delivery is recorded to make the server hang up instead of answering."""


class StandIn:
    """A provider stand-in: its routes under ``/<name>/``, its error body and its extra stats."""

    name: ClassVar[str]
    # The provider's documented (or typical) limit, applied only with ``--realistic-limits`` so that tests and
    # benchmarks are not throttled unless they ask to be.
    realistic_rate_per_s: ClassVar[float | None] = None

    def __init__(self, desk: ProviderDesk) -> None:
        self.desk = desk
        desk.extra_stats = self.extra_stats

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def control_routes(self) -> list[web.RouteDef]:
        """Extra ``/_control/<name>/...`` routes, for registries (templates, accounts, sender numbers)."""
        return []

    def extra_stats(self) -> Mapping[str, Any]:
        return {}

    def reset(self) -> None:
        self.desk.reset()

    async def json_object(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The body as a JSON object, or the provider's 400 when it is not one."""
        raw = await request.read()
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self.desk.reject(400, "invalid_json", f"request body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return self.desk.reject(400, "invalid_json", "request body must be a JSON object")
        return body

    def invalid(self, message: str, code: str = "invalid_parameter") -> web.Response:
        return self.desk.reject(400, code, message)

    def finish(self, response: web.Response) -> web.Response:
        """Answer, unless the drop fault says to lose the connection after the work was done."""
        if self.desk.should_drop():
            raise DropConnection
        return response
