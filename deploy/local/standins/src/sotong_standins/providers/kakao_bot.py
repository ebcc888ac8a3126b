"""Messages to KakaoTalk chatbot users, shaped like Kakao i Open Builder's event API.

``POST /kakao-bot/v2/bots/{botId}/talk`` with ``{"event": {"name", "data"}, "user": [{"type", "id"}], "params"}``
makes the bot start a conversation with each listed user: the block that listens to the event shows the message
(`data.text`). It is how a city answers a citizen who reported through its chatbot ("your report was received",
"it was resolved"), since the bot cannot speak first otherwise. Users are named by their key for this bot
(``botUserKey``, what a skill request carries as ``userRequest.user.id``), or ``appUserId`` /
``plusfriendUserKey``; at most 100 per request. The bot and the event must be registered (more through
``POST /_control/kakao_bot/events``). It answers ``{"taskId", "status": "SUCCESS", ...}``; a request-level problem
fails the whole request with 400 and Kakao's ``{"code", "message"}`` body. Each user is one delivery keyed
``<Idempotency-Key>:<user id>``.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..desk import ProviderDesk
from ..ledger import Outcome
from .stand_in import StandIn

MAX_USERS = 100
MAX_TEXT_CHARS = 1000  # what a simpleText bubble shows
USER_TYPES = frozenset({"botUserKey", "appUserId", "plusfriendUserKey"})
DEFAULT_BOTS = ("sotong-seoul-bot",)
DEFAULT_EVENTS = ("sotong_message",)


class KakaoBotStandIn(StandIn):
    name = "kakao_bot"
    realistic_rate_per_s: ClassVar[float | None] = 20.0

    def __init__(self, desk: ProviderDesk) -> None:
        super().__init__(desk)
        self.bots: set[str] = set(DEFAULT_BOTS)
        self.events: set[str] = set(DEFAULT_EVENTS)
        self.by_event: Counter[str] = Counter()

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"code": -status, "message": f"{code}: {message}"}, status=status)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/kakao-bot/v2/bots/{bot_id}/talk", self.talk)]

    def control_routes(self) -> list[web.RouteDef]:
        return [web.post("/_control/kakao_bot/events", self.register_events)]

    def extra_stats(self) -> Mapping[str, Any]:
        return {"by_event": dict(self.by_event), "events": sorted(self.events)}

    def reset(self) -> None:
        super().reset()
        self.by_event.clear()

    async def register_events(self, request: web.Request) -> web.Response:
        body = await request.json()
        names = body.get("events") if isinstance(body, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            return web.json_response({"error": "events must be a list of event names"}, status=400)
        self.events.update(names)
        return web.json_response({"events": sorted(self.events)})

    async def talk(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        if request.match_info["bot_id"] not in self.bots:
            return self.desk.reject(404, "bot_not_found", f"bot {request.match_info['bot_id']!r} does not exist")
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("name"), str):
            return self.invalid("event.name is required")
        if event["name"] not in self.events:
            return self.invalid(f"event {event['name']!r} is not registered for this bot", "unknown_event")
        data = event.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return self.invalid("event.data must map names to strings")
        text = data.get("text", "")
        if not text:
            return self.invalid("event.data.text is required by the event's block")
        if len(text) > MAX_TEXT_CHARS:
            return self.invalid(f"event.data.text is {len(text)} characters, over {MAX_TEXT_CHARS}")
        users = body.get("user")
        if not isinstance(users, list) or not users:
            return self.invalid("user must be a non-empty list")
        if len(users) > MAX_USERS:
            return self.invalid(f"user holds at most {MAX_USERS} entries")
        ids: list[str] = []
        for index, user in enumerate(users):
            if not isinstance(user, dict) or user.get("type") not in USER_TYPES:
                return self.invalid(f"user[{index}].type must be one of {', '.join(sorted(USER_TYPES))}")
            user_id = user.get("id")
            if not isinstance(user_id, str) or not user_id or not user_id.isprintable():
                return self.invalid(f"user[{index}].id must be a non-empty printable string")
            ids.append(user_id)
        base_key = self.desk.idempotency_key(request)
        if base_key is None:
            return self.desk.missing_key()
        deliveries = [(f"{base_key}:{user_id}", user_id) for user_id in ids]
        for key, user_id in deliveries:
            if self.desk.ledger.would_conflict(key, user_id, text):
                return self.desk.key_conflict(key)
        for key, user_id in deliveries:
            outcome, _ = self.desk.ledger.record(key, event["name"], user_id, text, {"event": event["name"]})
            if outcome is Outcome.NEW:
                self.by_event[event["name"]] += 1
        answer = {"taskId": str(uuid.uuid4()), "status": "SUCCESS", "message": "", "timestamp": int(time.time() * 1000)}
        return self.finish(web.json_response(answer))
