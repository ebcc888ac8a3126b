"""News-app push, shaped like Firebase Cloud Messaging's HTTP v1 API.

``messages:send`` is FCM's single send. FCM's own multi-message batch endpoint is a multipart envelope of
single sends; the stand-in offers the same semantics (up to 500 messages, one result per message, in order) as
plain JSON, because that is what an adapter's batch call reduces to and it lets the stand-in keep up with a
million-recipient fan-out:

- ``messages:batchSend``  ``{"requests": [{"idempotency_key": k, "message": {...}}, ...]}``
- ``messages:multicast``  ``{"tokens": [...], "message": {...}}`` with the ``Idempotency-Key`` header as the base
  of each token's key (``<key>:<token>``), like the Admin SDK's sendEachForMulticast.

Tokens beginning ``stale:`` answer UNREGISTERED (404) per item, so adapters can be tested on pruning dead
tokens; ``item_fail_rate`` in the fault plan makes single items UNAVAILABLE (503) for partial-failure retries.
The batch loop is written flat on purpose: it runs once per recipient.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..ledger import Outcome
from .stand_in import StandIn

MAX_BATCH = 500
MAX_TEXT_CHARS = 4000  # FCM caps the whole payload at 4096 bytes; title + body is what adapters control.
STALE_TOKEN_PREFIX = "stale:"

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "UNAVAILABLE",
}
_FCM_ERROR_CODES = {
    400: "INVALID_ARGUMENT",
    401: "THIRD_PARTY_AUTH_ERROR",
    404: "UNREGISTERED",
    422: "INVALID_ARGUMENT",
    429: "QUOTA_EXCEEDED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _error(status: int, message: str, reason: str | None = None) -> dict[str, Any]:
    return {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        "details": [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": reason or _FCM_ERROR_CODES.get(status, "UNSPECIFIED_ERROR"),
            }
        ],
    }


# Per-item results shared by reference across responses; json.dumps does not care and it saves allocations.
_UNREGISTERED = {"error": _error(404, "Requested entity was not found.", "UNREGISTERED")}
_UNAVAILABLE = {"error": _error(503, "The service is currently unavailable.", "UNAVAILABLE")}
_KEY_REUSED = {"error": _error(422, "Idempotency key reused for a different message.")}


def _message_problem(message: Any) -> str | None:
    """Why FCM would refuse this message object, or None; kept cheap because batches call it per item."""
    if type(message) is not dict:
        return "message must be an object"
    targets = ("token" in message) + ("topic" in message) + ("condition" in message)
    if targets != 1:
        return "message must have exactly one of token, topic or condition"
    target = message.get("token") or message.get("topic") or message.get("condition")
    if type(target) is not str or not target:
        return "message target must be a non-empty string"
    notification = message.get("notification")
    if notification is not None:
        if type(notification) is not dict:
            return "message.notification must be an object"
        title = notification.get("title", "")
        body = notification.get("body", "")
        if type(title) is not str or type(body) is not str:
            return "notification title and body must be strings"
        if len(title) + len(body) > MAX_TEXT_CHARS:
            return f"notification title and body exceed {MAX_TEXT_CHARS} characters"
    data = message.get("data")
    if data is not None:
        if type(data) is not dict:
            return "message.data must be an object"
        for value in data.values():
            if type(value) is not str:
                return "message.data values must be strings"
    if notification is None and data is None:
        return "message must carry a notification or data"
    return None


def _target_and_text(message: dict[str, Any]) -> tuple[str, str]:
    if "token" in message:
        target = message["token"]
    elif "topic" in message:
        target = "topic:" + message["topic"]
    else:
        target = "condition:" + message["condition"]
    notification = message.get("notification")
    if notification:
        title = notification.get("title")
        body = notification.get("body", "")
        return target, (title + "\n" + body) if title else body
    return target, json.dumps(message.get("data"), sort_keys=True, ensure_ascii=False)


class PushStandIn(StandIn):
    name = "push"
    # FCM's default quota is 600,000 messages a minute per project: 10,000/s, i.e. 20 full batches a second.
    realistic_rate_per_s: ClassVar[float | None] = 20.0

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": _error(status, message) | {"reason": code}}, status=status)

    def routes(self) -> list[web.RouteDef]:
        base = "/push/v1/projects/{project}/messages"
        return [
            web.post(base + ":send", self.send),
            web.post(base + ":batchSend", self.batch_send),
            web.post(base + ":multicast", self.multicast),
        ]

    async def send(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        message = body.get("message")
        problem = _message_problem(message)
        if problem is not None:
            return self.invalid(problem)
        assert isinstance(message, dict)
        token = message.get("token")
        if isinstance(token, str) and token.startswith(STALE_TOKEN_PREFIX):
            self.desk.item_failures["UNREGISTERED"] += 1
            return self.desk.reject(404, "UNREGISTERED", "Requested entity was not found.")
        if body.get("validate_only") is True:
            return web.json_response({"name": f"projects/{request.match_info['project']}/messages/fake"})
        key = self.desk.idempotency_key(request)
        if key is None:
            return self.desk.missing_key()
        target, text = _target_and_text(message)
        outcome, seq = self.desk.ledger.record(key, "push", target, text)
        if outcome is Outcome.CONFLICT:
            return self.desk.key_conflict(key)
        return self.finish(web.json_response({"name": f"projects/{request.match_info['project']}/messages/{seq}"}))

    async def batch_send(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        items = body.get("requests")
        if type(items) is not list or not items:
            return self.invalid("requests must be a non-empty list")
        if len(items) > MAX_BATCH:
            return self.invalid(f"a batch holds at most {MAX_BATCH} requests, got {len(items)}")
        pairs: list[tuple[str, dict[str, Any]]] = []
        for index, item in enumerate(items):
            if type(item) is not dict:
                return self.invalid(f"requests[{index}] must be an object")
            key = item.get("idempotency_key")
            if type(key) is not str or not key:
                if not self.desk.allow_unkeyed:
                    return self.invalid(f"requests[{index}].idempotency_key is required by the stand-in")
                key = self.desk.ledger.next_unkeyed_key() + f":{index}"
            message = item.get("message")
            problem = _message_problem(message)
            if problem is not None:
                return self.invalid(f"requests[{index}].message: {problem}")
            pairs.append((key, message))  # type: ignore[arg-type]  # checked by _message_problem
        if body.get("validate_only") is True:
            return web.json_response({"responses": [{"name": "validated"} for _ in pairs]})
        return self._deliver(request.match_info["project"], pairs)

    async def multicast(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        tokens = body.get("tokens")
        if type(tokens) is not list or not tokens:
            return self.invalid("tokens must be a non-empty list")
        if len(tokens) > MAX_BATCH:
            return self.invalid(f"a multicast holds at most {MAX_BATCH} tokens, got {len(tokens)}")
        template = body.get("message")
        if type(template) is not dict or {"token", "topic", "condition"} & template.keys():
            return self.invalid("message must be an object without token, topic or condition")
        problem = _message_problem(template | {"token": "probe"})
        if problem is not None:
            return self.invalid(f"message: {problem}")
        base_key = self.desk.idempotency_key(request)
        if base_key is None:
            return self.desk.missing_key()
        pairs: list[tuple[str, dict[str, Any]]] = []
        for index, token in enumerate(tokens):
            if type(token) is not str or not token:
                return self.invalid(f"tokens[{index}] must be a non-empty string")
            pairs.append((f"{base_key}:{token}", template | {"token": token}))
        return self._deliver(request.match_info["project"], pairs)

    def _deliver(self, project: str, pairs: list[tuple[str, dict[str, Any]]]) -> web.Response:
        """Record each (key, message) and build the per-item results; the one loop that runs per recipient."""
        record = self.desk.ledger.record
        item_fail_rate = self.desk.faults.current().item_fail_rate
        dice = self.desk.faults.item_dice()
        name_prefix = f"projects/{project}/messages/"
        responses: list[Mapping[str, Any]] = []
        append = responses.append
        failures = self.desk.item_failures
        success = duplicates = 0
        new = Outcome.NEW
        duplicate = Outcome.DUPLICATE
        for key, message in pairs:
            token = message.get("token")
            if token is not None and token.startswith(STALE_TOKEN_PREFIX):
                failures["UNREGISTERED"] += 1
                append(_UNREGISTERED)
                continue
            if item_fail_rate and dice() < item_fail_rate:
                failures["UNAVAILABLE"] += 1
                append(_UNAVAILABLE)
                continue
            target, text = _target_and_text(message)
            outcome, seq = record(key, "push", target, text)
            if outcome is new or outcome is duplicate:
                success += 1
                if outcome is duplicate:
                    duplicates += 1
                append({"name": name_prefix + str(seq)})
            else:
                failures["KEY_REUSED"] += 1
                append(_KEY_REUSED)
        return self.finish(
            web.json_response(
                {
                    "responses": responses,
                    "successCount": success,
                    "failureCount": len(responses) - success,
                    "duplicateCount": duplicates,
                }
            )
        )
