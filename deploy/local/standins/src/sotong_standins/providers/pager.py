"""Paging duty officers, shaped like the PagerDuty Events API v2 (``POST /v2/enqueue``).

The ``dedup_key`` is PagerDuty's own idempotency: a second trigger with an open key does not open a second
incident, and acknowledge/resolve refer to it. The stand-in keeps the incidents so an escalation test can see
which pages were never acknowledged. The HTTP ``Idempotency-Key`` still records the delivery itself, so a
retried trigger is a duplicate in the ledger and not a second page. Errors use PagerDuty's
``{"status", "message", "errors"}`` body.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..desk import ProviderDesk
from ..ledger import Outcome
from .stand_in import StandIn

ROUTING_KEY_LENGTH = 32
MAX_SUMMARY_CHARS = 1024
SEVERITIES = frozenset({"critical", "error", "warning", "info"})
ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})


class PagerStandIn(StandIn):
    name = "pager"
    # PagerDuty allows about 120 events a minute per routing key before throttling.
    realistic_rate_per_s: ClassVar[float | None] = 2.0

    def __init__(self, desk: ProviderDesk) -> None:
        super().__init__(desk)
        self.incidents: dict[str, dict[str, Any]] = {}

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        if status == 400:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": [message]},
                status=400,
            )
        return web.json_response({"status": code, "message": message}, status=status)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/pager/v2/enqueue", self.enqueue)]

    def control_routes(self) -> list[web.RouteDef]:
        return [web.get("/_control/pager/incidents", self.list_incidents)]

    def extra_stats(self) -> Mapping[str, Any]:
        states = Counter(incident["status"] for incident in self.incidents.values())
        return {"incidents": dict(states)}

    def reset(self) -> None:
        super().reset()
        self.incidents.clear()

    async def list_incidents(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.incidents.values()))

    def _problems(self, body: Mapping[str, Any]) -> list[str]:
        problems: list[str] = []
        routing_key = body.get("routing_key")
        if not isinstance(routing_key, str) or len(routing_key) != ROUTING_KEY_LENGTH:
            problems.append(f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)")
        action = body.get("event_action")
        if action not in ACTIONS:
            problems.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
        dedup_key = body.get("dedup_key")
        if dedup_key is not None and (not isinstance(dedup_key, str) or not 0 < len(dedup_key) <= 255):
            problems.append("'dedup_key' must be a string of 1 to 255 characters")
        if action in ("acknowledge", "resolve") and dedup_key is None:
            problems.append(f"'dedup_key' is required for {action} events")
        if action == "trigger":
            payload = body.get("payload")
            if not isinstance(payload, dict):
                problems.append("'payload' is missing or not an object")
            else:
                summary = payload.get("summary")
                if not isinstance(summary, str) or not summary:
                    problems.append("'payload.summary' is missing or blank")
                elif len(summary) > MAX_SUMMARY_CHARS:
                    problems.append(f"'payload.summary' is longer than {MAX_SUMMARY_CHARS} characters")
                if not isinstance(payload.get("source"), str) or not payload.get("source"):
                    problems.append("'payload.source' is missing or blank")
                if payload.get("severity") not in SEVERITIES:
                    problems.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
        return problems

    async def enqueue(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        problems = self._problems(body)
        if problems:
            self.desk.rejected[400] += 1
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": problems},
                status=400,
            )
        key = self.desk.idempotency_key(request)
        if key is None:
            return self.desk.missing_key()
        action: str = body["event_action"]
        dedup_key: str = body.get("dedup_key") or uuid.uuid4().hex
        summary = body["payload"]["summary"] if action == "trigger" else ""
        outcome, _ = self.desk.ledger.record(
            key, action, dedup_key, f"{action}:{summary}", {"routing_key": body["routing_key"][:6] + "…"}
        )
        if outcome is Outcome.CONFLICT:
            return self.desk.key_conflict(key)
        if outcome is Outcome.NEW:
            self._apply(action, dedup_key, body)
        return self.finish(
            web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202)
        )

    def _apply(self, action: str, dedup_key: str, body: Mapping[str, Any]) -> None:
        incident = self.incidents.get(dedup_key)
        if action == "trigger":
            if incident is None or incident["status"] == "resolved":
                payload = body["payload"]
                self.incidents[dedup_key] = {
                    "dedup_key": dedup_key,
                    "status": "triggered",
                    "summary": payload["summary"],
                    "severity": payload["severity"],
                    "source": payload["source"],
                    "triggers": 1,
                }
            else:
                incident["triggers"] += 1  # PagerDuty appends the event to the open incident
        elif incident is not None and incident["status"] != "resolved":
            # acknowledging or resolving an unknown key is accepted by PagerDuty and does nothing
            incident["status"] = "acknowledged" if action == "acknowledge" else "resolved"
